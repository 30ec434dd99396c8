"""Issue 16: what a site or the web puts in titles, file names, fields, URLs and errors never
becomes markup, a formula or a terminal control sequence in linkhealth's output.

- Markdown: the report of a real crawl of a hostile site, rendered by a real CommonMark
  renderer (markdown-it-py, GFM tables, autolinks), has no link but http(s), no image and no
  HTML of the data's, and its tables and headings are the report's own.
- CSV: no cell starts like a spreadsheet formula.
- Terminal: no ESC, BEL or CSI reaches stdout or stderr of `scrapy crawl` and `scrapy report`.
"""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tests.crawl import crawl, scrapy_command, wayback_settings, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e

CONTROLS = ("\x1b", "\x07", "\x9b", "\r")
ARCHIVED_PATH = "/page/ctl?\x1b[2J\x07\x9b"  # a URL key with raw controls, archived
INJECTIONS = ("[click](javascript:alert(1)) ![pixel](https://tracker.example/p.png) "
              "<img src=x onerror=alert(2)> <script>alert(3)</script> | cell | `code` *em*")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """A crawled site whose every field is hostile: its database."""
    tmp = tmp_path_factory.mktemp("hostile")
    with Web(host="127.0.0.2") as web:
        web.cdx["timestamps"] = ["20210301120000"]
        gone = web.url("/status/404?q=[a](javascript:alert(4))![i](https://tracker.example/i.png)")
        moved = web.url("/redirect/301?to=/ok%3F%5Bx%5D(javascript:alert(5))")
        documents = {
            "_posts/[doc](javascript:alert(6)) ![i](https:tracker.example) <b>`x`|y.md": {
                "title": INJECTIONS,
                "webUrl": gone,
                "originalUrl": "javascript:alert(7)",
                "[f](javascript:alert(8))Url": web.url("/status/410?`|`"),
                "images": [{"url": moved}]},
            "_posts/heading.md": {"title": "# Not a heading", "webUrl": gone},
            "_posts/list.md": {"title": "1. not a list", "webUrl": gone},
            "_posts/fence.md": {"title": "```", "webUrl": gone},
            "_posts/dash.md": {"title": "- not a list either", "webUrl": gone},
            "_posts/quote.md": {"title": "> not a quote", "webUrl": gone},
            "_posts/=cmd|' /C calc'!A0.md": {"title": "formula", "webUrl": "=HYPERLINK(\"https://evil.example\")"},
            "_posts/+plus.md": {"title": "plus", "webUrl": "+1+1", "@atUrl": "@SUM(1,1)"},
            "_posts/-minus.md": {"title": "minus", "webUrl": "-2+3"},
            "_posts/\tx.md": {"title": "tab", "webUrl": web.url("/status/404?tab")},
            "_posts/\x1b]0;pwned\x07\x1b[2Jctl\x9b31m.md": {
                "title": "\x1b[31mRed\x07 \x9b2J title", "webUrl": "\rjavascript:\x1b[2J",
                "originalUrl": web.url(ARCHIVED_PATH)},
            "_posts/bad\x1b[5m\x07.md": "---\ntitle: [unclosed\n---\nBody\n",
        }
        site = write_site(tmp / "site", documents)
        db = tmp / "hostile.db"
        result = crawl(site, db, settings=wayback_settings(web.url("/cdx/search/cdx")))
    (tmp / "crawl.out").write_text(result.process.stdout + result.process.stderr, encoding="utf-8")
    return db


def report(db: Path, fmt: str, *extra: str):
    return scrapy_command("report", "--db", str(db), "--format", fmt, "--all", *extra)


# -- Markdown ----------------------------------------------------------------------


class Tags(HTMLParser):
    """Every element of the rendered page, with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self.headings: list[tuple[str, str]] = []
        self._heading: str | None = None

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append(tag)
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading = tag
            self.headings.append((tag, ""))

    def handle_endtag(self, tag):
        if tag == self._heading:
            self._heading = None

    def handle_data(self, data):
        self.text.append(data)
        if self._heading:
            tag, text = self.headings[-1]
            self.headings[-1] = (tag, text + data)


OUR_TAGS = {"h1", "h2", "h3", "p", "strong", "table", "thead", "tbody", "tr", "th", "td", "code",
            "a", "blockquote"}


def render(markdown: str) -> Tags:
    engine = MarkdownIt("commonmark", {"linkify": True, "html": True}).enable(
        ["table", "strikethrough", "linkify"])
    tags = Tags()
    tags.feed(engine.render(markdown))
    return tags


def test_the_markdown_report_renders_no_link_image_or_html_from_the_data(hostile):
    result = report(hostile, "md")
    assert result.returncode == 0, result.stderr
    page = render(result.stdout)
    assert {tag for tag, _ in page.elements} <= OUR_TAGS
    for tag, attrs in page.elements:
        assert tag != "img" and not any(name.startswith("on") for name in attrs)
        if tag == "a":
            assert attrs["href"].startswith(("http://", "https://")), attrs
    # the report's own structure: one title, its sections, one heading per document
    assert [tag for tag, _ in page.headings].count("h1") == 1
    assert {text for tag, text in page.headings if tag == "h2"} <= {
        "Failing, not yet confirmed", "Links by document", "Problems by domain",
        "Permanent redirects to update", "Documents that could not be parsed"}
    documents = [text for tag, text in page.headings if tag == "h3"]
    assert len(documents) == 11 and all(text.startswith("_posts/") for text in documents)
    assert "_posts/[doc](javascript:alert(6)) ![i](https:tracker.example) <b>`x`|y.md" in documents
    # every row has its table's columns: no '|' of the data split a cell
    widths = {len(row) for row in page.rows}
    header_widths = {7, 4, 3, 2}  # comparison/documents, redirects, domains/parse errors, summary
    assert widths <= header_widths, widths
    # and the data is still there to read, as text
    text = "".join(page.text)
    for shown in (INJECTIONS, "# Not a heading", "1. not a list", "```", "- not a list either",
                  "> not a quote", "javascript:alert(7)"):
        assert shown in text, shown


# -- CSV ---------------------------------------------------------------------------


def test_no_csv_cell_starts_like_a_formula(hostile):
    result = report(hostile, "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    for neutralised in ("'=HYPERLINK(\"https://evil.example\")", "'+1+1", "'@SUM(1,1)", "'-2+3",
                        "'@atUrl"):
        assert neutralised in cells, neutralised
    paths = {row[0] for row in rows[1:]}
    assert "_posts/=cmd|' /C calc'!A0.md" in paths  # inside the path: no formula, left as is
    assert "_posts/\tx.md" in paths
    # quoted, every one (OWASP): a reader that splits on commas keeps the quote with the cell
    assert all(line.startswith('"') for line in result.stdout.splitlines() if line)


# -- the terminal ---------------------------------------------------------------------


def assert_no_controls(text: str, where: str) -> None:
    found = [c for c in CONTROLS if c in text]
    assert not found, f"{where}: {found}"


def test_no_control_character_reaches_the_terminal_or_the_markdown_file(hostile, tmp_path):
    crawl_output = (hostile.parent / "crawl.out").read_text(encoding="utf-8")
    assert_no_controls(crawl_output, "scrapy crawl")
    assert "_posts/bad\ufffd[5m\ufffd.md: invalid YAML" in crawl_output  # the warning, made safe
    for fmt in ("md", "html", "csv", "json"):
        result = report(hostile, fmt, "--broken-after", "1", "--fail-on", "broken,invalid_url")
        assert result.returncode == 2, result.stderr
        assert "--fail-on matched" in result.stderr
        assert_no_controls(result.stdout, f"scrapy report --format {fmt}")
        assert_no_controls(result.stderr, f"scrapy report --format {fmt} (stderr)")
        if fmt != "json":
            assert "Red\ufffd \ufffd2J title" in result.stdout or fmt == "csv"
    out = tmp_path / "report.md"
    assert report(hostile, "md", "-o", str(out)).returncode == 0
    assert_no_controls(out.read_text(encoding="utf-8"), "report.md")
    data = json.loads(report(hostile, "json").stdout)  # JSON keeps every character, escaped
    paths = {ref["path"] for url in data["urls"] for ref in url["refs"]}
    assert "_posts/\x1b]0;pwned\x07\x1b[2Jctl\x9b31m.md" in paths
