"""The HTML report's style and script (``static/report.css``, ``static/report.js``), inlined
in the page, and the Content-Security-Policy that allows just those.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files


@dataclass(frozen=True)
class Assets:
    """The style and script the page inlines (our own files), and the
    policy that lets only them apply."""
    css: str
    js: str
    csp: str


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


@cache
def assets() -> Assets:
    """Read once. The hashes are of the exact text inlined, so the browser runs it."""
    static = files("crawler.report") / "static"
    css = (static / "report.css").read_text(encoding="utf-8")
    js = (static / "report.js").read_text(encoding="utf-8")
    csp = (f"default-src 'none'; style-src '{_sha256(css)}'; script-src '{_sha256(js)}';"
           " img-src data:; base-uri 'none'; form-action 'none'")
    return Assets(css, js, csp)
