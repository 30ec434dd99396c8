"""The report: built from a database written with the Store API, no crawl."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils

from crawler.core.items import Capture, CheckItem, DocumentItem, Hop, RefItem, WaybackItem
from crawler.report.model import (
    ARCHIVED_COPY_OUTCOMES,
    ReportError,
    build_report,
    by_document,
    by_domain,
    failing_for,
    failing_urls,
    human_duration,
    redirect_updates,
)
from crawler.core.text import human_bytes
from crawler.report.csv_report import render_csv
from crawler.report.html import render_html
from crawler.report.json_report import render_json
from crawler.report.markdown import md_link, render_markdown
from crawler.store.schema import m001_initial_schema
from crawler.store.snapshots import compress, sha256_hex
from crawler.store.database import Store, StoreError

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
        started: str, finished: str, wayback: list[WaybackItem] = (), **counts: int) -> int:
    run_id = store.start_run("examples/site", "https://blog.example/", {})
    store.write_batch(run_id, documents=documents, checks=checks, wayback=wayback)
    store.finish_run(run_id, "finished",
                     {"documents": len(documents), "parse_errors": 1, **counts}, {"ok": 1})
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
            "skipped": None, "archived_bytes": None, "permanent_redirects": 0,
        },
        "summary": {"ok": 1, "broken": 1},
        "urls": [{
            "url": GONE, "outcome": "broken", "status": 404, "final_url": GONE,
            "redirects": [{"url": "https://example.com/old-gone", "status": 302}],
            "error": "HTTP 404", "checked_at": DAY1, "first_failed_at": DAY1,
            "consecutive_failures": 1, "permanent_redirect": False,
            "refs": [{"path": "_posts/a.md", "field": "links[0].url", "kind": "link"}],
            "last_snapshot": None, "wayback": None,
            "confirmed": False, "failing_streak": 1, "change": "newly_failing",
        }],
        "parse_errors": [],
        "headline": {"broken_after": 2, "broken_confirmed": 0, "newly_broken": 0,
                     "still_broken": 0, "failing_unconfirmed": 1, "newly_failing": 1,
                     "still_failing": 0, "fixed": 0},
        "comparison": {"previous_run": None, "newly_failing": [GONE], "fixed": [],
                       "still_failing": []},
        "fix": {"moved": {"references": 0, "documents": 0},
                "dead": {"references": 0, "documents": 0}},
        "hosts": [],
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
    assert "| `image` | <https://cdn.example.org/pic.png> | ok | 200 |" in render_markdown(everything)


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
    assert ("| `links[0].url` | <https://example.com/gone> | broken | 404 | HTTP 404"
            " | 3 days · 2 runs |" in text)
    assert ("| `links[2].url` | <https://slow.example.com/> | timeout |  | timed out after 30s"
            " | first failure · not yet confirmed |") in text
    assert "## Problems by domain" in text
    assert "| example.com | 3 | broken ×2, timeout ×1 |" in text
    assert "## Permanent redirects to update" in text
    assert (f"| `_posts/2024-01-01-hello.md` | `links[1].url` | <{OLD}> | <{NEW}> |") in text
    assert "## Documents that could not be parsed" in text
    assert "| `_posts/bad.md` | 3 | mapping values are not allowed here |" in text
    assert "<script>" not in text
    assert "No problems found" not in text
    assert "| field | URL | outcome | status | error | failing for | archived copy |" in text
    assert "scrapy snapshot" not in text  # no snapshot to get out: no hint
    assert "skipped" not in text and "archived" not in text.split("\n")[2]


def test_markdown_escapes_pipes():
    from crawler.report.markdown import md_cell, md_code
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
    assert "<script>alert" not in page and page.count("<script>") == 1  # ours only
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
                             "permanent_redirect", "last_snapshot_id", "wayback",
                             "failing_streak", "confirmed", "change"]
    gone = next(r for r in rows if r["url"] == GONE)
    assert gone == {
        "path": "_posts/2024-01-01-hello.md", "field": "links[0].url", "kind": "link",
        "url": GONE, "outcome": "broken", "status": "404", "final_url": GONE,
        "error": "HTTP 404", "checked_at": DAY4, "first_failed_at": DAY1,
        "consecutive_failures": "2", "permanent_redirect": "0", "last_snapshot_id": "",
        "wayback": "", "failing_streak": "2", "confirmed": "1", "change": "still_failing"}
    orphan = [r for r in rows if r["url"] == ORPHAN]
    assert len(orphan) == 1 and (orphan[0]["path"], orphan[0]["field"]) == ("", "")
    assert next(r for r in rows if r["url"] == OLD)["permanent_redirect"] == "1"
    assert len(rows) == 6


# -- archived copies of failing URLs -------------------------------------------

DAY2 = "2024-03-02T10:00:00Z"
PAGE = b"<html><body>the article as it was</body></html>"
BIG = b"<html>" + b"x" * 5000
WAYBACK_OLD = "https://web.archive.org/web/20220101000000/https://example.com/gone"
WAYBACK_NEW = "https://web.archive.org/web/20240215083000/https://example.com/gone"
WAYBACK_ORPHAN = "https://web.archive.org/web/20231111000000/https://orphan.example.com/"
TLS = "https://tls.example.com/"


def capture(url: str, body: bytes, at: str, **fields) -> Capture:
    """A capture as the archiver hands it to the store (digest and compressed bytes set)."""
    return Capture(url=url, final_url=url, fetched_at=at, status=200, protocol="HTTP/1.1",
                   headers=[("Content-Type", "text/html; charset=utf-8")],
                   content_type="text/html; charset=utf-8", content_encoding=None, body=None,
                   size=len(body), digest=sha256_hex(body), compressed=compress(body), **fields)


def archive_docs() -> list[DocumentItem]:
    return [doc("_posts/archived.md", [
        ref("links[0].url", GONE, "example.com"),
        ref("links[1].url", SLOW, "example.com"),
        ref("links[2].url", TLS, "example.com"),
        ref("image", PIC, "example.org", kind="image"),
    ], title="Archived")]


@pytest.fixture
def archive_db(tmp_path: Path) -> Path:
    """Run 1: GONE, SLOW and PIC ok and archived. Run 2: GONE broken, SLOW timed out, TLS
    and ORPHAN failing; Wayback lookups for GONE (two dates), SLOW (none), TLS and ORPHAN."""
    path = tmp_path / "archive.sqlite"
    with Store(path) as store:
        run(store, archive_docs(), [
            CheckItem(GONE, "ok", status=200, checked_at=DAY1, capture=capture(GONE, PAGE, DAY1)),
            CheckItem(SLOW, "ok", status=200, checked_at=DAY1,
                      capture=capture(SLOW, BIG[:1024], DAY1, truncated=True)),
            CheckItem(PIC, "ok", status=200, checked_at=DAY1, capture=capture(PIC, b"png", DAY1)),
            CheckItem(TLS, "ok", status=200, checked_at=DAY1, capture=capture(TLS, b"tls", DAY1)),
        ], DAY1, "2024-03-01T10:05:00Z")
        run(store, archive_docs(), [
            CheckItem(GONE, "broken", status=404, error="HTTP 404", checked_at=DAY4),
            CheckItem(SLOW, "timeout", error="timed out", checked_at=DAY4),
            CheckItem(TLS, "tls_error", error="certificate expired", checked_at=DAY4),
            CheckItem(PIC, "ok", status=200, checked_at=DAY4,
                      capture=capture(PIC, b"png2", DAY4)),
            CheckItem(ORPHAN, "dns_error", error="no such host", checked_at=DAY4),
        ], DAY4, "2024-03-04T10:05:00Z", wayback=[
            WaybackItem(GONE, "2022-01-01", "found", timestamp="20220101000000",
                        capture_url=WAYBACK_OLD, looked_up_at=DAY2),
            WaybackItem(GONE, "2024-01-01", "found", timestamp="20240215083000",
                        capture_url=WAYBACK_NEW, looked_up_at=DAY4),
            WaybackItem(GONE, "2023-01-01", "error", error="HTTP 503",
                        looked_up_at="2024-03-05T00:00:00Z"),
            WaybackItem(SLOW, "2024-01-01", "none", looked_up_at=DAY4),
            WaybackItem(TLS, "2024-01-01", "found", timestamp="20240101000000",
                        capture_url="https://web.archive.org/web/20240101000000/" + TLS,
                        looked_up_at=DAY4),
            WaybackItem(ORPHAN, "2024-01-01", "found", timestamp="20231111000000",
                        capture_url=WAYBACK_ORPHAN, looked_up_at=DAY4),
        ], skipped=4, archived_bytes=1536)
    return path


@pytest.fixture
def archive_report(archive_db: Path):
    with Store(archive_db, readonly=True) as store:
        return build_report(store, include_all=True)


def test_archived_copy_outcomes():
    assert ARCHIVED_COPY_OUTCOMES == {"broken", "dns_error", "connection_error", "timeout",
                                      "soft_404"}


def test_failing_urls_carry_their_last_snapshot_and_wayback_capture(archive_report):
    entries = {u.url: u for u in archive_report.urls}
    gone = entries[GONE]
    assert gone.last_snapshot == {"id": 1, "fetched_at": DAY1,
                                  "content_type": "text/html; charset=utf-8",
                                  "size": len(PAGE), "truncated": False}
    # the latest *found* lookup wins, whatever date it was made around
    assert (gone.wayback, gone.wayback_timestamp) == (WAYBACK_NEW, "20240215083000")
    slow = entries[SLOW]
    assert slow.last_snapshot == {"id": 2, "fetched_at": DAY1,
                                  "content_type": "text/html; charset=utf-8", "size": 1024,
                                  "truncated": True}
    assert slow.wayback is None  # looked up, nothing found
    orphan = entries[ORPHAN]
    assert (orphan.last_snapshot, orphan.wayback) == (None, WAYBACK_ORPHAN)
    # neither an ok URL (archived in this run) nor a failure outside the list gets one
    assert (entries[PIC].last_snapshot, entries[PIC].wayback) == (None, None)
    assert (entries[TLS].last_snapshot, entries[TLS].wayback) == (None, None)


def test_json_has_the_archive_keys(archive_report):
    data = json.loads(render_json(archive_report))
    urls = {u["url"]: u for u in data["urls"]}
    assert urls[GONE]["last_snapshot"] == {
        "id": 1, "fetched_at": DAY1, "content_type": "text/html; charset=utf-8",
        "size": len(PAGE), "truncated": False}
    assert urls[GONE]["wayback"] == WAYBACK_NEW
    assert urls[SLOW]["last_snapshot"]["truncated"] is True
    assert urls[SLOW]["wayback"] is None
    assert (urls[ORPHAN]["last_snapshot"], urls[ORPHAN]["wayback"]) == (None, WAYBACK_ORPHAN)
    assert (urls[PIC]["last_snapshot"], urls[PIC]["wayback"]) == (None, None)
    # the existing contract is untouched: the archive keys come on top of it
    assert list(urls[GONE]) == ["url", "outcome", "status", "final_url", "redirects", "error",
                                "checked_at", "first_failed_at", "consecutive_failures",
                                "permanent_redirect", "refs", "last_snapshot", "wayback",
                                "confirmed", "failing_streak", "change"]
    assert (data["run"]["skipped"], data["run"]["archived_bytes"]) == (4, 1536)


def test_markdown_archived_copy_column_and_hint(archive_report):
    text = render_markdown(archive_report)
    assert "| field | URL | outcome | status | error | failing for | archived copy |" in text
    pending = "first failure · not yet confirmed"
    assert (f"| `links[0].url` | <{GONE}> | broken | 404 | HTTP 404 | {pending} |"
            f" snapshot 1 (2024-03-01) · [Wayback (2024-02-15)]({WAYBACK_NEW}) |") in text
    assert (f"| `links[1].url` | <{SLOW}> | timeout |  | timed out | {pending} |"
            " snapshot 2 (2024-03-01) |") in text
    assert f"| `links[2].url` | <{TLS}> | tls_error |  | certificate expired | {pending} |  |" \
        in text
    assert f"| `image` | <{PIC}> | ok | 200 |  |  |  |" in text
    assert text.count("`scrapy snapshot URL -o FILE`") == 1
    hint = text.index("`scrapy snapshot URL -o FILE`")
    assert text.index("## Links by document") < hint < text.index("### `_posts/archived.md`")
    # the comparison lists them too, with where they are referenced
    assert (f"| <{GONE}> | broken | 404 | HTTP 404 | {pending} |"
            " `_posts/archived.md` (`links[0].url`) |") in text


def test_html_archived_copy_column_and_hint(archive_report):
    page = render_html(archive_report)
    assert "<th>archived copy</th>" in page
    # our snapshot: a relative link to the file export_report_snapshots writes (as text)
    assert (f'<a href="snapshots/1.html.txt" title="text/html; charset=utf-8, {len(PAGE)} bytes">'
            f'snapshot 1 (2024-03-01)</a> · <a href="{WAYBACK_NEW}" rel="noopener noreferrer">'
            "Wayback (2024-02-15)</a>") in page
    assert ('<a href="snapshots/2.html.txt" title="text/html; charset=utf-8, 1.0 KiB, truncated">'
            "snapshot 2 (2024-03-01)</a>") in page
    assert page.count("<code>scrapy snapshot URL -o FILE</code>") == 1


def test_csv_archive_columns(archive_report):
    rows = list(csv.DictReader(io.StringIO(render_csv(archive_report))))
    assert list(rows[0])[-5:-3] == ["last_snapshot_id", "wayback"]
    by_url = {r["url"]: r for r in rows}
    assert (by_url[GONE]["last_snapshot_id"], by_url[GONE]["wayback"]) == ("1", WAYBACK_NEW)
    assert (by_url[SLOW]["last_snapshot_id"], by_url[SLOW]["wayback"]) == ("2", "")
    assert (by_url[ORPHAN]["last_snapshot_id"], by_url[ORPHAN]["wayback"]) == ("", WAYBACK_ORPHAN)
    assert (by_url[PIC]["last_snapshot_id"], by_url[PIC]["wayback"]) == ("", "")


def test_run_header_shows_skipped_and_archived_bytes(archive_db: Path):
    with Store(archive_db, readonly=True) as store:
        latest, first = build_report(store), build_report(store, run_id=1)
    text = render_markdown(latest)
    header = text.splitlines()[2]
    assert header.endswith("base URL https://blog.example/ · 4 skipped (checked ok recently)"
                           " · 1.5 KiB archived")
    assert "4 skipped (checked ok recently) · 1.5 KiB archived" in render_html(latest)
    # run 1 did not record them: nothing shown
    assert "skipped" not in render_markdown(first).splitlines()[2]
    assert "archived" not in render_markdown(first).splitlines()[2]


def test_snapshot_is_the_newest_at_or_before_the_run(archive_db: Path):
    with Store(archive_db) as store:
        # run 3: GONE is back (and archived again); run 4: gone again
        run(store, archive_docs(), [
            CheckItem(GONE, "ok", status=200, checked_at="2024-03-10T10:00:00Z",
                      capture=capture(GONE, b"<html>v2</html>", "2024-03-10T10:00:00Z"))],
            "2024-03-10T10:00:00Z", "2024-03-10T10:05:00Z")
        run(store, archive_docs(), [
            CheckItem(GONE, "soft_404", status=200, checked_at="2024-03-12T10:00:00Z")],
            "2024-03-12T10:00:00Z", "2024-03-12T10:05:00Z")
        second, third, fourth = (build_report(store, run_id=n) for n in (2, 3, 4))
    snapshots = {report.run["id"]: next((u.last_snapshot for u in report.urls
                                         if u.url == GONE), None)
                 for report in (second, third, fourth)}
    assert snapshots[2]["id"] == 1  # the later capture (run 3) is not shown for run 2
    assert snapshots[3] is None  # ok in run 3 (listed as fixed): no archived copy shown
    # snapshots 1-4 from run 1, 5 (PIC) from run 2, 6 (GONE again) from run 3
    assert snapshots[4] == {"id": 6, "fetched_at": "2024-03-10T10:00:00Z",
                            "content_type": "text/html; charset=utf-8", "size": 15,
                            "truncated": False}
    assert next(u for u in fourth.urls if u.url == GONE).wayback == WAYBACK_NEW


def test_database_without_the_archive_tables(tmp_path: Path):
    """A database from before migration m002, opened read-only (so not migrated)."""
    path = tmp_path / "old.sqlite"
    db = sqlite_utils.Database(path)
    m001_initial_schema(db)
    db["runs"].insert({"id": 1, "started_at": DAY1, "finished_at": DAY1, "status": "finished",
                       "source": "site", "summary": "{}"})
    db["urls"].insert({"id": 1, "url": GONE, "outcome": "broken", "last_run_id": 1,
                       "first_failed_at": DAY1, "consecutive_failures": 1})
    db["checks"].insert({"run_id": 1, "url_id": 1, "checked_at": DAY1, "outcome": "broken",
                         "status": 404})
    db.conn.close()
    with Store(path, readonly=True) as store:
        report = build_report(store)
    (gone,) = report.urls
    assert (gone.last_snapshot, gone.wayback) == (None, None)
    assert (report.run["skipped"], report.run["archived_bytes"]) == (None, None)
    assert json.loads(render_json(report))["urls"][0]["last_snapshot"] is None
    assert "skipped" not in render_markdown(report)


def test_markdown_links_and_sizes():
    assert md_link("Wayback", "https://web.archive.org/web/2024/https://x.org/a_(b)|c d") == (
        "[Wayback](https://web.archive.org/web/2024/https://x.org/a_%28b%29%7Cc%20d)")
    assert md_link("Wayback", "javascript:alert(1)") == "javascript:alert(1)"
    assert md_link("Wayback", None) == ""
    assert human_bytes(0) == "0 bytes"
    assert human_bytes(1) == "1 byte"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(5 * 1024 * 1024) == "5.0 MiB"
    assert human_bytes(3 * 1024 ** 4) == "3072.0 GiB"


# -- the command ---------------------------------------------------------------


def scrapy_report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrapy", "report", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.e2e
def test_command_json(db_path: Path, report):
    result = scrapy_report("--db", str(db_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(render_json(report))


@pytest.mark.e2e
def test_command_writes_a_file(db_path: Path, tmp_path: Path):
    out = tmp_path / "public" / "links" / "report.html"
    result = scrapy_report("--db", str(db_path), "--format", "html", "-o", str(out), "--all")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "Links by document" in out.read_text(encoding="utf-8")


@pytest.mark.e2e
def test_command_missing_database(tmp_path: Path):
    result = scrapy_report("--db", str(tmp_path / "nope.db"))
    assert result.returncode == 1
    assert "no database at" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_command_unknown_run(db_path: Path):
    result = scrapy_report("--db", str(db_path), "--run", "9")
    assert result.returncode == 1
    assert "no run 9" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.e2e
def test_command_fail_on(db_path: Path):
    failed = scrapy_report("--db", str(db_path), "--fail-on", "broken,timeout")
    assert failed.returncode == 2
    assert "## Problems by document" in failed.stdout
    # only GONE (failing in both runs) is confirmed; EVIL and SLOW failed once
    assert "matched in run 2: 1 broken (confirmed: failing in at least 2 consecutive runs)" \
        in failed.stderr
    assert f"broken: {GONE}" in failed.stderr and f"broken: {EVIL}" not in failed.stderr
    assert "not yet confirmed): 1 broken, 1 timeout" in failed.stderr
    pending = scrapy_report("--db", str(db_path), "--fail-on", "timeout")
    assert pending.returncode == 0, pending.stderr
    assert scrapy_report("--db", str(db_path), "--fail-on", "timeout",
                         "--broken-after", "1").returncode == 2
    passed = scrapy_report("--db", str(db_path), "--fail-on", "tls_error")
    assert passed.returncode == 0, passed.stderr


@pytest.mark.e2e
def test_command_unknown_outcome_is_an_error_not_a_match(db_path: Path):
    result = scrapy_report("--db", str(db_path), "--fail-on", "broken,borken")
    assert result.returncode == 1  # 2 is kept for "--fail-on matched"
    assert "unknown outcome(s) in --fail-on: borken" in result.stderr
    assert "Traceback" not in result.stderr


# -- run-to-run comparison and the confirmation rule (unit; real crawls: test_report_comparison)


def flip_db(path: Path, outcomes: list[str]) -> Path:
    """One run per outcome of GONE (ok or broken), a day apart."""
    with Store(path) as store:
        for day, outcome in enumerate(outcomes, start=1):
            at = f"2024-03-{day:02d}T10:00:00Z"
            run(store, [doc("a.md", [ref("links[0].url", GONE, "example.com")])],
                [CheckItem(GONE, outcome, status=200 if outcome == "ok" else 404,
                           checked_at=at)], at, at)
    return path


def test_broken_after_sets_the_threshold(tmp_path: Path):
    with Store(flip_db(tmp_path / "db.sqlite", ["broken", "broken", "broken"]),
               readonly=True) as store:
        reports = {n: build_report(store, broken_after=n) for n in (1, 2, 3, 4)}
        with pytest.raises(ValueError, match="at least 1"):
            build_report(store, broken_after=0)
    assert {n: (r.urls[0].failing_streak, r.urls[0].confirmed) for n, r in reports.items()} == {
        1: (3, True), 2: (3, True), 3: (3, True), 4: (3, False)}
    assert [len(r.newly_broken) for r in reports.values()] == [0, 0, 1, 0]
    assert [len(r.still_broken) for r in reports.values()] == [1, 1, 0, 0]
    assert "A link counts as broken as soon as it fails." in render_markdown(reports[1])
    assert "## Failing, not yet confirmed" in render_markdown(reports[4])


def test_a_fixed_url_is_listed_with_what_it_recovered_from(tmp_path: Path):
    with Store(flip_db(tmp_path / "db.sqlite", ["broken", "broken", "blocked", "ok"]),
               readonly=True) as store:
        report = build_report(store)
    (gone,) = report.urls  # ok, but listed: it is fixed
    assert (gone.outcome, gone.change, gone.previous_outcome, gone.previous_streak) == (
        "ok", "fixed", "broken", 2)
    assert report.comparison() == {"previous_run": 3, "newly_failing": [], "fixed": [GONE],
                                   "still_failing": []}
    assert report.problems == [] and by_document(report) == []
    text = render_markdown(report)
    assert f"| <{GONE}> | broken in 2 runs | 200 | `a.md` (`links[0].url`) |" in text
    assert "No problems found" in text
    assert next(csv.DictReader(io.StringIO(render_csv(report))))["change"] == "fixed"


def test_comparison_on_a_database_without_the_changes_view(tmp_path: Path):
    """Before migration m003, opened read-only: the view's definition is used as a TEMP view."""
    path = tmp_path / "old.sqlite"
    db = sqlite_utils.Database(path)
    m001_initial_schema(db)
    for run_id in (1, 2):
        db["runs"].insert({"id": run_id, "started_at": DAY1, "finished_at": DAY1,
                           "status": "finished", "source": "site", "summary": "{}"})
    db["urls"].insert({"id": 1, "url": GONE, "outcome": "broken", "last_run_id": 2,
                       "first_failed_at": DAY1, "consecutive_failures": 2})
    db["checks"].insert_all([{"run_id": r, "url_id": 1, "checked_at": DAY1, "outcome": "broken",
                              "status": 404} for r in (1, 2)])
    db.conn.close()
    with Store(path, readonly=True) as store:
        report = build_report(store)
    (gone,) = report.urls
    assert (gone.failing_streak, gone.change, gone.confirmed) == (2, "still_failing", True)
    assert report.snapshots_taken is None
    assert [(r.run_id, r.outcomes) for r in report.history] == [(1, {"broken": 1}),
                                                                (2, {"broken": 1})]


def test_snapshot_files_are_named_so_that_pages_cannot_run():
    from crawler.archive.copies import snapshot_filename
    from crawler.report.snapshot_files import snapshot_href
    names = {t: snapshot_filename({"id": 7, "content_type": t}) for t in (
        "text/html; charset=utf-8", "application/xhtml+xml", "image/svg+xml", "image/png",
        "IMAGE/JPEG", "application/pdf", None)}
    assert names == {"text/html; charset=utf-8": "7.html.txt", "application/xhtml+xml":
                     "7.xhtml.txt", "image/svg+xml": "7.svg.txt", "image/png": "7.png",
                     "IMAGE/JPEG": "7.jpg", "application/pdf": "7.bin", None: "7.bin"}
    assert snapshot_href({"id": 7, "content_type": "text/html"}) == "snapshots/7.html.txt"


def test_export_report_snapshots(archive_db: Path, tmp_path: Path):
    from crawler.report.snapshot_files import export_report_snapshots
    with Store(archive_db, readonly=True) as store:
        report = build_report(store)
        written = export_report_snapshots(store, report, tmp_path / "snapshots")
    assert [p.name for p in written] == ["1.html.txt", "2.html.txt"]
    assert written[0].read_bytes() == PAGE and written[1].read_bytes() == BIG[:1024]
    page = render_html(report)
    assert all(f'href="snapshots/{p.name}"' in page for p in written)


@pytest.mark.e2e
def test_command_with_snapshots(archive_db: Path, tmp_path: Path):
    out = tmp_path / "public" / "links.html"
    result = scrapy_report("--db", str(archive_db), "--format", "html", "-o", str(out),
                           "--with-snapshots")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out.parent / "snapshots").iterdir()) == [
        "1.html.txt", "2.html.txt"]
    alone = scrapy_report("--db", str(archive_db), "--with-snapshots")
    assert alone.returncode == 1 and "needs -o FILE" in alone.stderr


def test_html_page_allows_only_its_own_style_and_script(report):
    import base64
    import hashlib
    import re

    page = render_html(report)
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)[1]
    for tag, directive in (("style", "style-src"), ("script", "script-src")):
        text = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.S)[1]
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert ' style="' not in page  # a style attribute would be blocked


def test_charts():
    from crawler.report.model import RunOutcomes
    from crawler.report.charts import domains_chart, nice_ticks, outcomes_chart
    assert nice_ticks(0) == [0, 1] and nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(13) == [0, 5, 10, 15] and nice_ticks(1234) == [0, 500, 1000, 1500]
    history = [RunOutcomes(1, DAY1, "finished", {"ok": 900, "broken": 2}, skipped=5),
               RunOutcomes(2, DAY4, "interrupted", {"ok": 899, "timeout": 1, "<x>": 1})]
    svg = outcomes_chart(history, current=2)
    assert svg.count('<g class="bar">') == 2
    assert "<title>Run 1 (2024-03-01) · broken: 2 · 900 ok of 902 URLs · 5 skipped as" in svg
    assert '<rect class="k-other"' in svg and "&lt;x&gt;" in svg and "<x>" not in svg
    assert 'class="current"' in svg and "interrupted" in svg
    assert "No problems in these runs" in outcomes_chart(
        [RunOutcomes(1, DAY1, "finished", {"ok": 3})], current=1)
    assert "No problem URLs" in domains_chart([])
