"""The HTML report's Jinja2 environment: its templates (``templates/``), the style and script
it inlines (``static/``) and the Content-Security-Policy that allows just those.

Every ``{{ value }}`` is escaped unless it is markup the templates made themselves (a macro's
output; the inlined style and script, marked ``|safe``). The environment's ``finalize``
(``escaped``) escapes it the way the page always has: quotes as ``&quot;`` and ``&#x27;``
(MarkupSafe would write ``&#34;`` and ``&#39;``), control characters replaced (the page may be
written to a terminal), None shown as nothing. Autoescape is on as well: should ``finalize``
let a string through, MarkupSafe escapes it.

The page's text comes from ``crawler.report.text``, shared with the other formats, through
the filters and globals below.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from crawler.core.control_chars import printable
from crawler.core.items import OUTCOMES
from crawler.core.text import human_bytes
from crawler.report.snapshot_files import SNAPSHOT_DIRECTORY, snapshot_href
from crawler.report.text import (
    COMPARISON_COLUMNS,
    DOCUMENT_COLUMNS,
    HOSTS_EXPLAIN,
    HOSTS_HEADING,
    failing_text,
    fixed_text,
    outcomes_text,
    plural,
    snapshot_text,
    status_text,
    wayback_label,
)


def escaped(value: object) -> Markup:
    """What ``{{ value }}`` prints: markup as it is, anything else as text.

    Written out for speed: a report of every URL of a large run prints millions of values.
    ``str.__new__`` makes the Markup without ``Markup.__new__``'s checks (the text is
    escaped already)."""
    if type(value) is not str:
        if isinstance(value, Markup):
            return value
        if value is None:
            return _EMPTY
        value = str(value)
    if not value.isprintable():
        value = printable(value)
    return _new_str(Markup, value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                    .replace('"', "&quot;").replace("'", "&#x27;"))


_new_str = str.__new__
_EMPTY = Markup("")


def outcome_key(outcome: str) -> str:
    """The outcome in CSS class names (``k-broken``, ``o-broken``): unknown ones are "other"."""
    return outcome if outcome in OUTCOMES else "other"


def is_web_url(url: str | None) -> bool:
    """Only http(s) URLs become links; anything else (``javascript:``...) stays inert text."""
    return url is not None and url.lower().startswith(("http://", "https://"))


def snapshot_details(snapshot: dict[str, Any]) -> str:
    """``text/html, 1.5 KiB, truncated``: a snapshot link's title."""
    details = [snapshot.get("content_type") or "unknown type",
               human_bytes(snapshot.get("size") or 0)]
    if snapshot.get("truncated"):
        details.append("truncated")
    return ", ".join(details)


def joined_set(values: Any) -> str:
    """``broken timeout``: the distinct values, sorted, as one attribute."""
    return " ".join(sorted(set(values)))


def fixed1(value: float) -> str:
    """A chart coordinate with one decimal."""
    return f"{value:.1f}"


def fixed0(value: float) -> str:
    """A chart coordinate, rounded."""
    return f"{value:.0f}"


FILTERS = {
    "outcome_key": outcome_key, "status_text": status_text, "failing_text": failing_text,
    "fixed_text": fixed_text, "snapshot_text": snapshot_text, "snapshot_href": snapshot_href,
    "snapshot_details": snapshot_details, "wayback_label": wayback_label,
    "outcomes_text": outcomes_text, "plural": plural, "joined_set": joined_set,
    "fixed1": fixed1, "fixed0": fixed0,
}


@cache
def environment() -> Environment:
    """Made once. Block tags on a line of their own leave no line behind (``trim_blocks``,
    ``lstrip_blocks``): the templates read line for line as the HTML they write."""
    env = Environment(
        loader=PackageLoader("crawler.report", "templates"), autoescape=True,
        finalize=escaped, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters.update(FILTERS)
    env.tests["web_url"] = is_web_url
    env.globals.update(
        SNAPSHOT_DIRECTORY=SNAPSHOT_DIRECTORY, COMPARISON_COLUMNS=COMPARISON_COLUMNS,
        DOCUMENT_COLUMNS=DOCUMENT_COLUMNS, HOSTS_HEADING=HOSTS_HEADING, HOSTS_EXPLAIN=HOSTS_EXPLAIN)
    return env


def template(name: str) -> Template:
    return environment().get_template(name)


# -- what the page inlines -----------------------------------------------------------


@dataclass(frozen=True)
class Assets:
    """The style and script the page inlines (``|safe`` in the page: our own files), and the
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
