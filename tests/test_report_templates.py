"""Issue 17: the HTML report is made from Jinja2 templates (crawler/report/templates) and static
files (crawler/report/static), with autoescape.

The page itself is checked in tests/test_report*.py and tests/test_hostile_output.py; here:
how values are escaped, that only our own files are marked safe, that the static CSS styles
what the templates write, that the page still comes in pieces, and that the files ship.
"""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from markupsafe import Markup

from crawler.core.items import OUTCOMES, CheckItem, DocumentItem, RefItem
from crawler.report import html as report_html
from crawler.report.model import build_report
from crawler.report.templating import assets, environment, escaped, template
from crawler.store.database import Store

REPO = Path(__file__).resolve().parent.parent
REPORT = REPO / "crawler" / "report"


def test_values_are_escaped_as_the_page_always_was():
    assert escaped("<a href=\"x\" title='y'>&</a>") == (
        "&lt;a href=&quot;x&quot; title=&#x27;y&#x27;&gt;&amp;&lt;/a&gt;")
    assert escaped("red \x1b[31m bell \x07 csi \x9b") == "red \ufffd[31m bell \ufffd csi \ufffd"
    assert escaped(None) == "" and escaped(404) == "404"
    assert escaped(Markup("<b>ours</b>")) == "<b>ours</b>"
    assert isinstance(escaped("text"), Markup)


def test_a_template_prints_data_as_text_and_its_own_markup_as_markup():
    env = environment()
    assert env.autoescape is True and env.finalize is escaped
    page = env.from_string(
        '{% macro bold(text) %}<b>{{ text }}</b>{% endmacro %}'
        '<p title="{{ value }}">{{ bold(value) }} {{ nothing }}</p>').render(
        value="<script>alert('x')</script>", nothing=None)
    assert page == ('<p title="&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;">'
                    "<b>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;</b> </p>")


def test_only_our_own_style_script_and_policy_are_marked_safe():
    marked = [(path.name, match.group(1))
              for path in sorted((REPORT / "templates").glob("*.j2"))
              for match in re.finditer(r"\{\{\s*([^}|]*?)\s*\|\s*safe\b", path.read_text())]
    assert marked == [("report.html.j2", "assets.csp"), ("report.html.j2", "assets.css"),
                      ("report.html.j2", "assets.js")]
    text = "".join(path.read_text() for path in (REPORT / "templates").glob("*.j2"))
    assert "autoescape false" not in text and "Markup" not in text


def test_the_policy_hashes_the_files_as_they_are():
    import base64
    import hashlib

    policy = assets().csp
    for name, directive in (("report.css", "style-src"), ("report.js", "script-src")):
        digest = hashlib.sha256((REPORT / "static" / name).read_bytes()).digest()
        assert f"{directive} 'sha256-{base64.b64encode(digest).decode()}'" in policy
    assert policy.startswith("default-src 'none';") and "unsafe-inline" not in policy


def test_the_css_styles_every_outcome_and_column_width_the_templates_use():
    css = (REPORT / "static" / "report.css").read_text()
    for outcome in (*OUTCOMES, "other"):  # charts, legends and labels: k-<outcome>, o-<outcome>
        assert f".k-{outcome}{{fill:var(--c-{outcome})" in css, outcome
        assert f".o-{outcome}{{color:var(--c-{outcome})}}" in css, outcome
        assert css.count(f"--c-{outcome}:") == 3, outcome  # light, dark and print
    tables = template("tables.html.j2").module
    for width in (*tables.COMPARISON_WIDTHS, *tables.DOCUMENT_WIDTHS):
        assert f"col.w{width}{{width:{width}%}}" in css, width


def test_the_package_ships_its_templates_and_static_files():
    """Every file under templates/ and static/ is package data (so it is in the wheel)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"].get("crawler.report", [])
    files = [path.relative_to(REPORT).as_posix()
             for folder in ("templates", "static") for path in (REPORT / folder).iterdir()]
    assert files and all(any(fnmatch(f, p) for p in patterns) for f in files), (files, patterns)
    assert any(dependency.lower().startswith("jinja2")
               for dependency in config["project"]["dependencies"])


@pytest.fixture
def many_documents(tmp_path: Path):
    urls = [f"https://h{n % 3}.example/{n}" for n in range(12)]
    with Store(tmp_path / "db.sqlite") as store:
        run_id = store.start_run("site", None, {})
        store.write_batch(run_id, documents=[
            DocumentItem(f"_posts/{d:02d}.md", "posts", f"Post {d}", None, None, None,
                         refs=[RefItem("webUrl", "link", urls[(d + i) % 12], urls[(d + i) % 12])
                               for i in range(3)])
            for d in range(9)], checks=[
            CheckItem(url, "broken" if n % 2 else "ok", status=404 if n % 2 else 200,
                      checked_at="2024-03-01T10:00:00Z") for n, url in enumerate(urls)])
        store.finish_run(run_id, "finished", {"documents": 9})
        yield build_report(store, include_all=True)


def test_the_documents_come_a_few_at_a_time(many_documents, monkeypatch):
    monkeypatch.setattr(report_html, "DOCUMENTS_PER_CHUNK", 2)
    pieces = list(report_html.html_chunks(many_documents))
    per_piece = [piece.count("<section data-group>") for piece in pieces]
    assert sum(per_piece) == 9 and max(per_piece) == 2
    assert "".join(pieces).count("<h3>_posts/") == 9
