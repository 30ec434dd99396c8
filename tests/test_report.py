"""The report: built from a database written with the Store API, no crawl."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.items import CheckItem, DocumentItem, Hop, RefItem
from crawler.report import (
    ReportError,
    build_report,
    by_document,
    by_domain,
    failing_for,
    failing_urls,
    human_duration,
    redirect_updates,
)
from crawler.report_render import render_csv, render_html, render_json, render_markdown
from crawler.store import Store, StoreError

REPO = Path(__file__).resolve().parent.parent
DAY1, DAY4 = "2024-03-01T10:00:00Z", "2024-03-04T10:00:00Z"

GONE = "https://example.com/gone"
PIC = "https://cdn.example.org/pic.png"
OLD = "http://old.example.net/page"
NEW = "https://new.example.net/page"
SLOW = "https://slow.example.com/"
EVIL = "https://evil.example.com/<script>alert(2)</script>"
JS = "javascript:alert(3)"
ORPHAN = "https://orphan.example.com/"


def ref(field: str, url: str, domain: str | None, kind: str = "link") -> RefItem:
    return RefItem(field=field, kind=kind, raw=url, url=url, host=None, domain=domain)


def doc(path: str, refs: list[RefItem], title: str | None = "Hello",
        error: str | None = None, line: int | None = None) -> DocumentItem:
    return DocumentItem(path=path, collection="posts", title=title, published=None,
                        error=error, error_line=line, refs=refs)


def run(store: Store, documents: list[DocumentItem], checks: list[CheckItem],
        started: str, finished: str) -> int:
    run_id = store.start_run("examples/site", "https://blog.example/", {})
    store.write_batch(run_id, documents=documents, checks=checks)
    store.finish_run(run_id, "finished", {"documents": len(documents), "parse_errors": 1},
                     {"ok": 1})
    store.db.execute("UPDATE runs SET started_at = ?, finished_at = ? WHERE id = ?",
                     [started, finished, run_id])
    store.db.conn.commit()
    return run_id


def hello(*extra: RefItem) -> DocumentItem:
    return doc("_posts/2024-01-01-hello.md", [
        ref("links[0].url", GONE, "example.com"),
        ref("image", PIC, "example.org", kind="image"),
        ref("links[1].url", OLD, "example.net"),
        *extra,
    ])


def common_checks(at: str) -> list[CheckItem]:
    return [
        CheckItem(GONE, "broken", status=404, final_url=GONE, error="HTTP 404", checked_at=at),
        CheckItem(PIC, "ok", status=200, final_url=PIC, checked_at=at),
        CheckItem(OLD, "ok", status=200, final_url=NEW, redirects=[Hop(OLD, 301)],
                  permanent_redirect=True, checked_at=at),
    ]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Two runs: GONE broken in both (3 days apart), new problems in run 2."""
    path = tmp_path / "db.sqlite"
    bad = doc("_posts/bad.md", [], title=None, error="mapping values are not allowed here",
              line=3)
    evil = doc("_posts/evil.md", [ref("url", EVIL, "example.com"), ref("alt_url", JS, None)],
               title="<script>alert(1)</script>")
    with Store(path) as store:
        run(store, [hello(), bad], common_checks(DAY1), DAY1, "2024-03-01T10:05:00Z")
        run(store, [hello(ref("links[2].url", SLOW, "example.com")), bad, evil], [
            *common_checks(DAY4),
            CheckItem(SLOW, "timeout", error="timed out after 30s", checked_at=DAY4),
            CheckItem(EVIL, "broken", status=404, error="<b>not found</b>", checked_at=DAY4),
            CheckItem(JS, "invalid_url", error="unsupported scheme", checked_at=DAY4),
            CheckItem(ORPHAN, "dns_error", error="no such host", checked_at=DAY4),
        ], DAY4, "2024-03-04T10:05:00Z")
    return path


@pytest.fixture
def report(db_path: Path):
    with Store(db_path, readonly=True) as store:
        return build_report(store)


# -- building ------------------------------------------------------------------


def test_exact_json_for_a_small_run(tmp_path: Path):
    path = tmp_path / "db.sqlite"
    with Store(path) as store:
        run(store, [doc("_posts/a.md", [ref("links[0].url", GONE, "example.com"),
                                        ref("image", PIC, "example.org", kind="image")])],
            [CheckItem(GONE, "broken", status=404, final_url=GONE, error="HTTP 404",
                       redirects=[Hop("https://example.com/old-gone", 302)], checked_at=DAY1),
             CheckItem(PIC, "ok", status=200, final_url=PIC, checked_at=DAY1)],
            DAY1, "2024-03-01T10:05:00Z")
        data = json.loads(render_json(build_report(store)))
    assert data == {
        "run": {
            "id": 1, "started_at": DAY1, "finished_at": "2024-03-01T10:05:00Z",
            "status": "finished", "source": "examples/site", "base_url": "https://blog.example/",
            "documents": 1, "parse_errors": 1, "skipped_files": None, "refs": None,
            "unique_urls": None, "requested": None, "summary": {"ok": 1}, "error": None,
            "permanent_redirects": 0,
        },
        "summary": {"ok": 1, "broken": 1},
        "urls": [{
            "url": GONE, "outcome": "broken", "status": 404, "final_url": GONE,
            "redirects": [{"url": "https://example.com/old-gone", "status": 302}],
            "error": "HTTP 404", "checked_at": DAY1, "first_failed_at": DAY1,
            "consecutive_failures": 1, "permanent_redirect": False,
            "refs": [{"path": "_posts/a.md", "field": "links[0].url", "kind": "link"}],
        }],
        "parse_errors": [],
    }


def test_latest_run_summary_and_order(report):
    assert report.run["id"] == 2
    assert report.summary == {"ok": 2, "broken": 2, "timeout": 1, "dns_error": 1,
                              "invalid_url": 1}
    assert report.run["permanent_redirects"] == 1
    assert [(u.outcome, u.url) for u in report.urls] == [
        ("ok", OLD), ("broken", EVIL), ("broken", GONE), ("timeout", SLOW),
        ("dns_error", ORPHAN), ("invalid_url", JS)]


def test_streak_and_failing_for_across_runs(report):
    gone = next(u for u in report.urls if u.url == GONE)
    assert (gone.first_failed_at, gone.consecutive_failures) == (DAY1, 2)
    assert gone.failing_for == "3 days"
    slow = next(u for u in report.urls if u.url == SLOW)
    assert (slow.first_failed_at, slow.consecutive_failures, slow.failing_for) == (
        DAY4, 1, "first failure")


def test_an_older_run_shows_the_streak_as_it_was(db_path: Path):
    with Store(db_path, readonly=True) as store:
        first = build_report(store, run_id=1)
    assert first.run["id"] == 1
    assert first.summary == {"ok": 2, "broken": 1}
    gone = next(u for u in first.urls if u.url == GONE)
    assert (gone.first_failed_at, gone.consecutive_failures, gone.failing_for) == (
        DAY1, 1, "first failure")
    assert [r.field for r in gone.refs] == ["links[0].url"]


def test_default_lists_problems_and_all_lists_everything(db_path: Path):
    with Store(db_path, readonly=True) as store:
        default, everything = build_report(store), build_report(store, include_all=True)
    assert PIC not in {u.url for u in default.urls}
    assert OLD in {u.url for u in default.urls}  # ok, but permanently redirected
    assert {u.url for u in everything.urls} == {u.url for u in default.urls} | {PIC}
    assert "Links by document" in render_markdown(everything)
    assert "| `image` | https://cdn.example.org/pic.png | ok | 200 |" in render_markdown(everything)


def test_refs_are_those_of_the_run_sorted(report):
    gone = next(u for u in report.urls if u.url == GONE)
    assert [(r.path, r.field, r.kind) for r in gone.refs] == [
        ("_posts/2024-01-01-hello.md", "links[0].url", "link")]
    orphan = next(u for u in report.urls if u.url == ORPHAN)
    assert orphan.refs == []


def test_groupings(report):
    documents = by_document(report)
    assert [g.path for g in documents] == ["_posts/2024-01-01-hello.md", "_posts/evil.md"]
    assert [(r.field, r.entry.outcome) for r in documents[0].rows] == [
        ("links[0].url", "broken"), ("links[2].url", "timeout")]
    domains = by_domain(report)
    assert [(g.domain, len(g.urls), g.outcomes) for g in domains] == [
        ("example.com", 3, {"broken": 2, "timeout": 1}),
        ("(no domain)", 2, {"dns_error": 1, "invalid_url": 1}),
    ]
    updates = redirect_updates(report)
    assert [(u.path, u.field, u.old_url, u.new_url) for u in updates] == [
        ("_posts/2024-01-01-hello.md", "links[1].url", OLD, NEW)]
    assert [u.url for u in failing_urls(report, {"broken"})] == [EVIL, GONE]


def test_parse_errors_listed(report):
    assert [(p.path, p.line, p.error) for p in report.parse_errors] == [
        ("_posts/bad.md", 3, "mapping values are not allowed here")]
    assert json.loads(render_json(report))["parse_errors"] == [
        {"path": "_posts/bad.md", "error": "mapping values are not allowed here", "line": 3}]


def test_no_run_and_unknown_run(tmp_path: Path, db_path: Path):
    with Store(tmp_path / "empty.sqlite") as store, pytest.raises(ReportError, match="no runs"):
        build_report(store)
    with Store(db_path, readonly=True) as store, pytest.raises(ReportError, match="no run 9"):
        build_report(store, run_id=9)


def test_not_a_database(tmp_path: Path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        Store(path, readonly=True)


def test_human_durations():
    assert human_duration(3 * 86400 + 5) == "3 days"
    assert human_duration(86400) == "1 day"
    assert human_duration(5 * 3600 + 59) == "5 hours"
    assert human_duration(120) == "2 minutes"
    assert human_duration(3) == "under a minute"
    assert failing_for(DAY1, "2024-03-01T15:30:00Z") == "5 hours"
    assert failing_for(DAY4, DAY4) == "first failure"
    assert failing_for(DAY1, DAY4, run_started_at="2024-03-04T09:59:00Z") == "3 days"
    # first failed after the run started (checks without their own time): a first failure
    assert failing_for(DAY1, DAY4, run_started_at="2024-02-28T00:00:00Z") == "first failure"


# -- renderers -----------------------------------------------------------------


def test_markdown_sections_and_rows(report):
    text = render_markdown(report)
    assert text.startswith("# Link health report — run 2\n")
    assert f"started {DAY4}" in text and "status finished" in text
    assert "🔍 7 URLs · ✅ 2 ok · 🚫 2 broken · ⏳ 1 timeout" in text
    assert "| broken | 2 |" in text
    assert "## Problems by document" in text
    assert "### `_posts/2024-01-01-hello.md`" in text
    assert ("| `links[0].url` | https://example.com/gone | broken | 404 | HTTP 404 | 3 days |"
            in text)
    assert ("| `links[2].url` | https://slow.example.com/ | timeout |  | timed out after 30s"
            " | first failure |") in text
    assert "## Problems by domain" in text
    assert "| example.com | 3 | broken ×2, timeout ×1 |" in text
    assert "## Permanent redirects to update" in text
    assert (f"| `_posts/2024-01-01-hello.md` | `links[1].url` | {OLD} | {NEW} |") in text
    assert "## Documents that could not be parsed" in text
    assert "| `_posts/bad.md` | 3 | mapping values are not allowed here |" in text
    assert "<script>" not in text
    assert "No problems found" not in text


def test_markdown_escapes_pipes():
    from crawler.report_render import md_cell, md_code
    assert md_cell("a|b\nc") == "a\\|b c"
    assert md_code("x|y") == "`x\\|y`"


def test_markdown_says_when_there_are_no_problems(tmp_path: Path):
    with Store(tmp_path / "db.sqlite") as store:
        run(store, [doc("a.md", [ref("image", PIC, "example.org")])],
            [CheckItem(PIC, "ok", status=200, checked_at=DAY1)], DAY1, DAY1)
        text = render_markdown(build_report(store))
    assert "No problems found" in text
    assert "## Problems by document" not in text


def test_html_is_escaped_and_self_contained(report):
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;not found&lt;/b&gt;" in page
    assert f'<a href="{GONE}" rel="noopener noreferrer">{GONE}</a>' in page
    assert 'href="javascript:' not in page and "<code>javascript:alert(3)</code>" in page
    assert "src=" not in page and "<link" not in page and "@import" not in page
    for heading in ("Problems by document", "Problems by domain",
                    "Permanent redirects to update", "Documents that could not be parsed"):
        assert f"<h2>{heading}</h2>" in page


def test_csv_rows(report):
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert list(rows[0]) == ["path", "field", "kind", "url", "outcome", "status", "final_url",
                             "error", "checked_at", "first_failed_at", "consecutive_failures",
                             "permanent_redirect"]
    gone = next(r for r in rows if r["url"] == GONE)
    assert gone == {
        "path": "_posts/2024-01-01-hello.md", "field": "links[0].url", "kind": "link",
        "url": GONE, "outcome": "broken", "status": "404", "final_url": GONE,
        "error": "HTTP 404", "checked_at": DAY4, "first_failed_at": DAY1,
        "consecutive_failures": "2", "permanent_redirect": "0"}
    orphan = [r for r in rows if r["url"] == ORPHAN]
    assert len(orphan) == 1 and (orphan[0]["path"], orphan[0]["field"]) == ("", "")
    assert next(r for r in rows if r["url"] == OLD)["permanent_redirect"] == "1"
    assert len(rows) == 6


# -- the command ---------------------------------------------------------------


def scrapy_report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrapy", "report", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_command_json(db_path: Path, report):
    result = scrapy_report("--db", str(db_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(render_json(report))


def test_command_writes_a_file(db_path: Path, tmp_path: Path):
    out = tmp_path / "public" / "links" / "report.html"
    result = scrapy_report("--db", str(db_path), "--format", "html", "-o", str(out), "--all")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "Links by document" in out.read_text(encoding="utf-8")


def test_command_missing_database(tmp_path: Path):
    result = scrapy_report("--db", str(tmp_path / "nope.db"))
    assert result.returncode == 1
    assert "no database at" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_command_unknown_run(db_path: Path):
    result = scrapy_report("--db", str(db_path), "--run", "9")
    assert result.returncode == 1
    assert "no run 9" in result.stderr and "Traceback" not in result.stderr


def test_command_fail_on(db_path: Path):
    failed = scrapy_report("--db", str(db_path), "--fail-on", "broken,timeout")
    assert failed.returncode == 2
    assert "## Problems by document" in failed.stdout
    assert "2 broken, 1 timeout" in failed.stderr
    passed = scrapy_report("--db", str(db_path), "--fail-on", "tls_error")
    assert passed.returncode == 0, passed.stderr


def test_command_unknown_outcome_is_an_error_not_a_match(db_path: Path):
    result = scrapy_report("--db", str(db_path), "--fail-on", "broken,borken")
    assert result.returncode == 1  # 2 is kept for "--fail-on matched"
    assert "unknown outcome(s) in --fail-on: borken" in result.stderr
    assert "Traceback" not in result.stderr
