"""Run-to-run comparison and the confirmation rule, on three real crawls of a web that changes.

Each page answers 200 or 404 run by run (``web.pages[name] = None`` is a 404). After
each crawl the report is read the way the nightly job reads it: ``scrapy report`` in a
subprocess, as JSON (with ``--fail-on broken``), Markdown and HTML (with its snapshots).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from crawler.report.model import build_report
from crawler.archive.copies import snapshot_filename
from crawler.report.snapshot_files import export_report_snapshots
from crawler.store.database import Store
from tests.crawl import crawl, scrapy_command, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e

# page -> answers in runs 1, 2, 3 (True: 200, False: 404)
PLAN = {
    "a": (True, False, False),
    "b": (False, True, True),
    "c": (True, True, False),
    "d": (False, False, False),
    "flaky": (True, False, True),
}
HOSTILE = '<script>alert("pwned")</script>'
CDX_TIMESTAMP = "20210301120000"


def body(name: str) -> bytes:
    """A page with a script in it: its archived copy must never run from the report."""
    return (f"<html><head><title>{name}</title></head><body><p>Page {name}</p>"
            f"<script>document.title = 'ran {name}'</script></body></html>").encode()


def documents(web: Web) -> dict[str, Any]:
    docs = {f"_news/2021-03-05-{name}.md": {
        "title": f"Article {name}", "publishedDateTime": "2021-03-05T14:51:00Z",
        "webUrl": web.url(f"/page/{name}")} for name in PLAN}
    docs["_news/2021-03-05-d.md"]["title"] = HOSTILE  # titles end up in the page
    return docs


def report(db: Path, *args: str) -> Any:
    return scrapy_command("report", "--db", str(db), *args)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Any]:
    """Three crawls; after each, the reports of that (the latest) run."""
    tmp = tmp_path_factory.mktemp("comparison")
    db = tmp / "db.sqlite"
    results: list[dict[str, Any]] = []
    with Web() as web:
        web.cdx["timestamps"] = [CDX_TIMESTAMP]
        site = write_site(tmp / "site", documents(web))
        settings = {"LINKHEALTH_WAYBACK": "1", "LINKHEALTH_WAYBACK_DELAY": "0",
                    "LINKHEALTH_WAYBACK_CDX_URL": web.url("/cdx/search/cdx")}
        for run in range(3):
            for name, answers in PLAN.items():
                web.pages[name] = body(name) if answers[run] else None
            crawl(site, db, settings=settings)
            out = tmp / f"run{run + 1}" / "report.html"
            as_json = report(db, "--format", "json", "--fail-on", "broken")
            as_md = report(db)
            as_html = report(db, "--format", "html", "-o", str(out), "--with-snapshots")
            for process in (as_md, as_html):
                assert process.returncode == 0, process.stderr
            assert as_json.returncode in (0, 2), as_json.stderr
            results.append({
                "json": json.loads(as_json.stdout), "exit": as_json.returncode,
                "stderr": as_json.stderr, "md": as_md.stdout, "html_path": out,
                "html": out.read_text(encoding="utf-8"),
            })
        # The threshold, from the command line and from the setting.
        overrides = {n: report(db, "--format", "json", "--fail-on", "broken", "--broken-after",
                               str(n)) for n in (1, 3, 4)}
        setting = report(db, "--format", "json", "--fail-on", "broken",
                         "-s", "LINKHEALTH_BROKEN_AFTER=4")
        urls = {name: web.url(f"/page/{name}") for name in PLAN}
    return {"db": db, "runs": results, "urls": urls, "overrides": overrides,
            "setting": setting}


def url_states(data: dict[str, Any], urls: dict[str, str]) -> dict[str, tuple]:
    """page name -> (outcome, failing_streak, confirmed, change) of the URLs in the report."""
    names = {url: name for name, url in urls.items()}
    return {names[u["url"]]: (u["outcome"], u["failing_streak"], u["confirmed"], u["change"])
            for u in data["urls"]}


def comparison(data: dict[str, Any], urls: dict[str, str]) -> dict[str, Any]:
    names = {url: name for name, url in urls.items()}
    return {key: [names[u] for u in value] if isinstance(value, list) else value
            for key, value in data["comparison"].items()}


def headline(broken: int, newly_broken: int, still_broken: int, unconfirmed: int,
             newly_failing: int, still_failing: int, fixed: int) -> dict[str, int]:
    return {"broken_after": 2, "broken_confirmed": broken, "newly_broken": newly_broken,
            "still_broken": still_broken, "failing_unconfirmed": unconfirmed,
            "newly_failing": newly_failing, "still_failing": still_failing, "fixed": fixed}


# (comparison, url states, headline, --fail-on broken exit status) after each run
EXPECTED = [
    ({"previous_run": None, "newly_failing": ["b", "d"], "fixed": [], "still_failing": []},
     {"b": ("broken", 1, False, "newly_failing"), "d": ("broken", 1, False, "newly_failing")},
     headline(0, 0, 0, 2, 2, 0, 0), 0),
    ({"previous_run": 1, "newly_failing": ["a", "flaky"], "fixed": ["b"], "still_failing": ["d"]},
     {"a": ("broken", 1, False, "newly_failing"), "flaky": ("broken", 1, False, "newly_failing"),
      "b": ("ok", 0, False, "fixed"), "d": ("broken", 2, True, "still_failing")},
     headline(1, 1, 0, 2, 2, 1, 1), 2),
    ({"previous_run": 2, "newly_failing": ["c"], "fixed": ["flaky"], "still_failing": ["a", "d"]},
     {"a": ("broken", 2, True, "still_failing"), "c": ("broken", 1, False, "newly_failing"),
      "d": ("broken", 3, True, "still_failing"), "flaky": ("ok", 0, False, "fixed")},
     headline(2, 1, 1, 1, 1, 2, 1), 2),
]


@pytest.mark.parametrize("run", [1, 2, 3])
def test_json_comparison_after_each_run(runs, run):
    result, urls = runs["runs"][run - 1], runs["urls"]
    expected_comparison, expected_states, expected_headline, expected_exit = EXPECTED[run - 1]
    data = result["json"]
    assert data["run"]["id"] == run
    assert comparison(data, urls) == expected_comparison
    assert url_states(data, urls) == expected_states
    assert data["headline"] == expected_headline
    # the contract keys are all still there, the outcome summary unchanged in shape
    assert list(data) == ["run", "summary", "headline", "comparison", "urls", "parse_errors", "fix",
                          "hosts"]
    assert data["summary"] == {o: n for o, n in
                               {"ok": sum(PLAN[p][run - 1] for p in PLAN),
                                "broken": sum(not PLAN[p][run - 1] for p in PLAN)}.items() if n}
    # --fail-on broken: 2 only for a confirmed broken link
    assert result["exit"] == expected_exit, result["stderr"]


def test_fail_on_messages(runs):
    first, second = runs["runs"][0], runs["runs"][1]
    assert "--fail-on matched" not in first["stderr"]
    assert "not yet confirmed): 2 broken" in first["stderr"]
    assert ("--fail-on matched in run 2: 1 broken (confirmed: failing in at least 2 consecutive"
            f" runs)\n  broken: {runs['urls']['d']}") in second["stderr"]
    assert runs["urls"]["a"] not in second["stderr"].split("matched")[1]


def test_broken_after_from_the_command_line_and_the_setting(runs):
    """Run 3: a failing for 2 runs, c for 1, d for 3."""
    overrides, urls = runs["overrides"], runs["urls"]
    confirmed = {n: sorted(name for name, state in
                           url_states(json.loads(p.stdout), urls).items() if state[2])
                 for n, p in overrides.items()}
    assert confirmed == {1: ["a", "c", "d"], 3: ["d"], 4: []}
    assert {n: p.returncode for n, p in overrides.items()} == {1: 2, 3: 2, 4: 0}
    assert json.loads(overrides[3].stdout)["headline"]["broken_after"] == 3
    assert runs["setting"].returncode == 0, runs["setting"].stderr
    assert json.loads(runs["setting"].stdout)["headline"]["broken_after"] == 4
    # the view's changes do not depend on the threshold
    assert json.loads(overrides[4].stdout)["comparison"] == runs["runs"][2]["json"]["comparison"]


def test_broken_after_must_be_positive(runs):
    result = report(runs["db"], "--broken-after", "0")
    assert result.returncode == 1
    assert "must be at least 1" in result.stderr and "Traceback" not in result.stderr


def md_sections(text: str) -> dict[str, list[str]]:
    """``## heading`` -> the first cell of each table row under it."""
    sections: dict[str, list[str]] = {}
    for chunk in text.split("\n## ")[1:]:
        heading, _, rest = chunk.partition("\n")
        rows = [line for line in rest.splitlines() if line.startswith("| ")]
        sections[heading] = [row.split(" | ")[0][2:].removeprefix("<").removesuffix(">")
                             for row in rows[1:]]  # URLs are autolinks: <URL>
    return sections


@pytest.mark.parametrize("run, expected", [
    (1, {"Failing, not yet confirmed": ["b", "d"]}),
    (2, {"Newly broken": ["d"], "Failing, not yet confirmed": ["a", "flaky"], "Fixed": ["b"]}),
    (3, {"Newly broken": ["a"], "Still broken": ["d"], "Failing, not yet confirmed": ["c"],
         "Fixed": ["flaky"]}),
])
def test_markdown_sections(runs, run, expected):
    text, urls = runs["runs"][run - 1]["md"], runs["urls"]
    names = {url: name for name, url in urls.items()}
    sections = md_sections(text)
    comparison_sections = {heading: [names[u] for u in rows] for heading, rows in sections.items()
                           if heading in ("Newly broken", "Still broken",
                                          "Failing, not yet confirmed", "Fixed")}
    assert comparison_sections == expected
    assert list(comparison_sections) == [h for h in ("Newly broken", "Still broken",
                                                     "Failing, not yet confirmed", "Fixed")
                                         if h in expected]  # in that order
    assert "## Problems by document" in text


def test_markdown_headline_and_how_long(runs):
    first, second, third = (r["md"] for r in runs["runs"])
    assert ("🚨 0 broken · 🆕 0 newly broken · 🔁 0 still broken · ⏳ 2 failing, not yet"
            " confirmed · ✅ 0 fixed — first run: nothing to compare with") in first
    assert "✅ 1 fixed — since run 1 (" in second
    assert "🚨 2 broken · 🆕 1 newly broken · 🔁 1 still broken · ⏳ 1 failing" in third
    assert "A link counts as broken once it has failed in 2 consecutive runs." in third
    d, c = runs["urls"]["d"], runs["urls"]["c"]
    assert re.search(rf"\| <{re.escape(d)}> \| broken \| 404 \| HTTP 404 \| [^|]*3 runs \|", third)
    assert re.search(rf"\| <{re.escape(c)}> \| broken \| 404 \| HTTP 404 \| first failure"
                     r" · not yet confirmed \|", third)
    # fixed (304: the conditional request found the archived page unchanged)
    assert re.search(rf"\| <{re.escape(runs['urls']['flaky'])}> \| broken in 1 run \| (200|304) \|",
                     third)


def test_html_is_self_contained_and_escaped(runs):
    page = runs["runs"][2]["html"]
    assert page.startswith("<!DOCTYPE html>")
    assert 'src="http' not in page and "src=" not in page
    assert not re.search(r"<link\b", page) and "@import" not in page
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", page)
    assert page.count("<script>") == 1 and page.count("<style>") == 1
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    # the charts are inline SVG, with accessible titles
    assert page.count("<svg") == 2
    assert '<title id="history-title">' in page and '<title id="domains-title">' in page
    # the sortable, filterable tables and their script
    assert '<table class="sortable">' in page and '<table class="sortable fixed">' in page
    assert 'querySelectorAll("table.sortable")' in page and "aria-sort" in page
    assert '<form id="filters"' in page and " hidden>" in page  # shown by the script only
    # hostile content is escaped
    assert HOSTILE not in page and "alert(\"pwned\")" not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    # complete without the script: every section and row is in the markup
    for heading in ("Newly broken", "Still broken", "Failing, not yet confirmed", "Fixed",
                    "Problems by document", "Problems by domain"):
        assert f"<h2>{heading}</h2>" in page
    for name in ("a", "c", "d", "flaky"):
        assert f'<a href="{runs["urls"][name]}" rel="noopener noreferrer">' in page


def test_html_figures_and_wayback_links(runs):
    page = runs["runs"][2]["html"]
    figures = {label: num for num, label in re.findall(
        r'<span class="num">([^<]*)</span> <span class="label">([^<]*)<', page)}
    archived = figures.pop("archived")
    assert figures == {"broken": "2", "not yet confirmed": "1", "newly broken": "1",
                       "fixed": "1", "URLs checked": "5", "documents": "5"}
    assert archived.isdigit()
    wayback = f"https://web.archive.org/web/{CDX_TIMESTAMP}/{runs['urls']['d']}"
    assert f'<a href="{wayback}" rel="noopener noreferrer">Wayback (2021-03-01)</a>' in page


def test_snapshot_links_point_at_the_exported_files(runs, tmp_path):
    urls = runs["urls"]
    for result in runs["runs"]:
        links = set(re.findall(r'href="(snapshots/[^"]+)"', result["html"]))
        folder = result["html_path"].parent / "snapshots"
        written = {f"snapshots/{p.name}" for p in folder.glob("*")} if folder.exists() else set()
        assert links == written  # --with-snapshots wrote exactly what the page links to
    # run 3: a and c fail, both were archived while they answered
    third = runs["runs"][2]["json"]
    copies = {u["url"]: u["last_snapshot"] for u in third["urls"] if u["last_snapshot"]}
    assert set(copies) == {urls["a"], urls["c"]}
    # export_report_snapshots itself, on the report of run 2
    with Store(runs["db"], readonly=True) as store:
        second = build_report(store, run_id=2)
        written = export_report_snapshots(store, second, tmp_path / "out")
    linked = {e.url: e.last_snapshot for e in second.urls if e.last_snapshot}
    assert set(linked) == {urls["a"], urls["flaky"]}
    assert sorted(p.name for p in written) == sorted(snapshot_filename(s) for s in linked.values())
    for url, snapshot in linked.items():
        name = next(n for n, u in urls.items() if u == url)
        path = tmp_path / "out" / snapshot_filename(snapshot)
        assert path.name.endswith(".html.txt")  # a page is saved as text: it cannot run
        assert path.read_bytes() == body(name)
        assert f'href="snapshots/{path.name}"' in runs["runs"][1]["html"]
