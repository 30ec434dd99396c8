"""crawler.store.database on a real SQLite file: schema, run lifecycle, batched writes, URL state."""

from __future__ import annotations

import json
import sqlite3

import pytest

from crawler.core.items import (
    Capture,
    CheckItem,
    DocumentItem,
    Hop,
    RefItem,
    UnchangedDocumentItem,
    WaybackItem,
)
from crawler.store.database import Store, StoreError
from crawler.store.snapshots import compress, read_body, sha256_hex

URL = "https://example.com/a"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "state" / "linkhealth.db") as opened:
        yield opened


def rows(store: Store, sql: str, params=()) -> list[dict]:
    return list(store.db.query(sql, params))


def url_row(store: Store, url: str = URL) -> dict:
    return rows(store, "SELECT * FROM urls WHERE url = ?", [url])[0]


def check(outcome: str, at: str, url: str = URL, **fields) -> CheckItem:
    return CheckItem(url=url, outcome=outcome, checked_at=at, **fields)


def document(path: str = "_news/a.md", title: str = "A", refs=None) -> DocumentItem:
    if refs is None:
        refs = [RefItem("originalUrl", "page", URL, URL, "example.com", "example.com")]
    return DocumentItem(path, "news", title, "2020-01-02", None, None, refs)


# -- opening ------------------------------------------------------------------------------

def test_creates_parent_directory_and_schema(tmp_path):
    path = tmp_path / "deep" / "dir" / "db.sqlite"
    with Store(path) as store:
        assert set(store.db.table_names()) >= {"runs", "documents", "urls", "refs", "checks",
                                                "blobs", "snapshots", "wayback",
                                                "_sqlite_migrations"}
    assert path.is_file()


def test_wal_mode(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_foreign_keys_declared(store):
    declared = {(fk.column, fk.other_table, fk.other_column) for fk in store.db["refs"].foreign_keys}
    assert declared == {("document_id", "documents", "id"), ("url_id", "urls", "id"),
                        ("first_run_id", "runs", "id"), ("last_run_id", "runs", "id")}
    checks = {(fk.column, fk.other_table, fk.other_column)
              for fk in store.db["checks"].foreign_keys}
    assert checks == {("run_id", "runs", "id"), ("url_id", "urls", "id"),
                      ("snapshot_id", "snapshots", "id")}
    assert {(fk.column, fk.other_table) for fk in store.db["urls"].foreign_keys} == {
        ("last_run_id", "runs")}
    snapshots = {(fk.column, fk.other_table, fk.other_column)
                 for fk in store.db["snapshots"].foreign_keys}
    assert snapshots == {("url_id", "urls", "id"), ("run_id", "runs", "id"),
                         ("digest", "blobs", "digest")}
    assert {(fk.column, fk.other_table) for fk in store.db["wayback"].foreign_keys} == {
        ("url_id", "urls")}
    assert store.db["blobs"].pks == ["digest"]
    assert store.db["wayback"].pks == ["url_id", "around"]


def test_migrations_recorded_once(tmp_path):
    path = tmp_path / "db.sqlite"
    Store(path).close()
    with Store(path) as store:  # reopening applies nothing twice
        applied = rows(store, "SELECT migration_set, name FROM _sqlite_migrations")
    assert applied == [{"migration_set": "linkhealth", "name": "m001_initial_schema"},
                       {"migration_set": "linkhealth", "name": "m002_archive"},
                       {"migration_set": "linkhealth", "name": "m003_changes_and_search"},
                       {"migration_set": "linkhealth", "name": "m004_resume"},
                       {"migration_set": "linkhealth", "name": "m005_streak_of_ok_checks"},
                       {"migration_set": "linkhealth", "name": "m006_fts_only_on_change"},
                       {"migration_set": "linkhealth", "name": "m007_document_digest"},
                       {"migration_set": "linkhealth", "name": "m008_hosts_in_runs"},
                       {"migration_set": "linkhealth", "name": "m009_document_file_digest"}]


def test_garbage_file_is_not_a_database(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite\x00\xff" * 512)
    with pytest.raises(StoreError, match="cannot open database") as info:
        Store(path)
    assert str(path) in str(info.value)


def test_readonly_missing_file(tmp_path):
    path = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="no database at") as info:
        Store(path, readonly=True)
    assert str(path) in str(info.value)
    assert "run a crawl first" in str(info.value)
    assert not path.exists()


def test_readonly_store_reads_and_refuses_writes(tmp_path):
    path = tmp_path / "db.sqlite"
    with Store(path) as store:
        run_id = store.start_run("site", None, {})
    with Store(path, readonly=True) as reader:
        assert reader.latest_run()["id"] == run_id
        with pytest.raises(sqlite3.OperationalError):
            reader.db.execute("DELETE FROM runs")


# -- runs ---------------------------------------------------------------------------------

def test_start_run_interrupts_older_running_runs(store):
    first = store.start_run("site", "https://example.com", {"A": 1})
    finished = store.start_run("site", None, {})
    store.finish_run(finished, "finished", {"documents": 3}, {"ok": 2, "broken": 1})
    third = store.start_run("site", None, {})
    statuses = {row["id"]: row["status"] for row in rows(store, "SELECT id, status FROM runs")}
    assert statuses == {first: "interrupted", finished: "finished", third: "running"}
    assert store.latest_run()["id"] == third


def test_run_rows(store):
    run_id = store.start_run("site-dir", "https://example.com", {"B": [1, 2], "A": "x"})
    run = store.run(run_id)
    assert run["status"] == "running"
    assert (run["skipped"], run["archived_bytes"]) == (None, None)
    assert run["source"] == "site-dir"
    assert run["base_url"] == "https://example.com"
    assert json.loads(run["settings"]) == {"A": "x", "B": [1, 2]}
    assert run["started_at"].endswith("Z") and run["finished_at"] is None
    store.finish_run(run_id, "finished",
                     {"documents": 2, "refs": 5, "skipped": 3, "archived_bytes": 2048},
                     {"ok": 4, "broken": 1}, error=None)
    run = store.run(run_id)
    assert run["status"] == "finished"
    assert (run["documents"], run["refs"]) == (2, 5)
    assert (run["skipped"], run["archived_bytes"]) == (3, 2048)
    assert json.loads(run["summary"]) == {"broken": 1, "ok": 4}
    assert run["finished_at"] is not None
    assert store.run(run_id + 100) is None


# -- writes ---------------------------------------------------------------------------------

def test_write_batch_records_whole_rows(store):
    run_id = store.start_run("site", None, {})
    refs = [
        RefItem("originalUrl", "page", "HTTPS://Example.com/a", URL, "example.com", "example.com",
                request_url="HTTPS://Example.com/a"),
        RefItem("images[0].url", "image", "/img.png", "https://example.com/img.png",
                "example.com", "example.com", request_url="https://example.com/img.png"),
    ]
    doc = DocumentItem("_news/a.md", "news", "A", "2020-01-02", None, None, refs,
                       source_digest="0f" * 16, file_digest="ab" * 32)
    bad = DocumentItem("_news/bad.md", "news", None, None, "invalid YAML front matter: x", 3)
    checks = [
        check("ok", "2025-01-01T00:00:00Z", status=200, method="HEAD", attempts=1,
              elapsed_ms=12, content_type="text/html", content_length=10),
        check("broken", "2025-01-01T00:00:01Z", url="https://example.com/img.png", status=404,
              final_url="https://example.com/img2.png", error="HTTP 404",
              redirects=[Hop("https://example.com/img.png", 301)], permanent_redirect=True,
              method="GET", head_status=404, attempts=2),
    ]
    store.write_batch(run_id, [doc, bad], checks)

    assert rows(store, "SELECT * FROM documents ORDER BY id") == [
        {"id": 1, "path": "_news/a.md", "collection": "news", "title": "A",
         "published": "2020-01-02", "parse_error": None, "error_line": None,
         "first_run_id": run_id, "last_run_id": run_id, "source_digest": "0f" * 16,
         "file_digest": "ab" * 32},
        {"id": 2, "path": "_news/bad.md", "collection": "news", "title": None,
         "published": None, "parse_error": "invalid YAML front matter: x", "error_line": 3,
         "first_run_id": run_id, "last_run_id": run_id, "source_digest": None,
         "file_digest": None},
    ]
    assert rows(store, "SELECT * FROM refs ORDER BY id") == [
        {"id": 1, "document_id": 1, "url_id": 1, "field": "originalUrl", "kind": "page",
         "raw": "HTTPS://Example.com/a", "first_run_id": run_id, "last_run_id": run_id},
        {"id": 2, "document_id": 1, "url_id": 2, "field": "images[0].url", "kind": "image",
         "raw": "/img.png", "first_run_id": run_id, "last_run_id": run_id},
    ]
    urls = rows(store, "SELECT * FROM urls ORDER BY id")
    first_seen = [row.pop("first_seen_at") for row in urls]
    assert all(value and value.endswith("Z") for value in first_seen)
    assert urls == [
        {"id": 1, "url": URL, "request_url": "HTTPS://Example.com/a", "host": "example.com",
         "domain": "example.com", "outcome": "ok", "status": 200, "final_url": None,
         "permanent_redirect": 0, "last_checked_at": "2025-01-01T00:00:00Z",
         "last_ok_at": "2025-01-01T00:00:00Z", "first_failed_at": None,
         "consecutive_failures": 0, "last_run_id": run_id},
        {"id": 2, "url": "https://example.com/img.png", "request_url": "https://example.com/img.png",
         "host": "example.com", "domain": "example.com", "outcome": "broken", "status": 404,
         "final_url": "https://example.com/img2.png", "permanent_redirect": 1,
         "last_checked_at": "2025-01-01T00:00:01Z", "last_ok_at": None,
         "first_failed_at": "2025-01-01T00:00:01Z", "consecutive_failures": 1,
         "last_run_id": run_id},
    ]
    assert rows(store, "SELECT * FROM snapshots") == []
    assert rows(store, "SELECT * FROM blobs") == []
    assert rows(store, "SELECT * FROM checks ORDER BY id") == [
        {"id": 1, "run_id": run_id, "url_id": 1, "checked_at": "2025-01-01T00:00:00Z",
         "outcome": "ok", "status": 200, "final_url": None, "redirects": None,
         "permanent_redirect": 0, "error": None, "elapsed_ms": 12, "content_type": "text/html",
         "content_length": 10, "method": "HEAD", "head_status": None, "attempts": 1,
         "snapshot_id": None, "not_modified": 0, "host_state": None},
        {"id": 2, "run_id": run_id, "url_id": 2, "checked_at": "2025-01-01T00:00:01Z",
         "outcome": "broken", "status": 404, "final_url": "https://example.com/img2.png",
         "redirects": json.dumps([{"url": "https://example.com/img.png", "status": 301}]),
         "permanent_redirect": 1, "error": "HTTP 404", "elapsed_ms": None,
         "content_type": None, "content_length": None, "method": "GET", "head_status": 404,
         "attempts": 2, "snapshot_id": None, "not_modified": 0, "host_state": None},
    ]


def test_second_run_updates_last_run_and_keeps_first_run(tmp_path):
    path = tmp_path / "db.sqlite"
    with Store(path) as store:
        run1 = store.start_run("site", None, {})
        store.write_batch(run1, [document(title="Old")], [check("ok", "2025-01-01T00:00:00Z")])
        store.finish_run(run1, "finished", {}, {})
    with Store(path) as store:  # a new process: no id cache
        run2 = store.start_run("site", None, {})
        store.write_batch(run2, [document(title="New")], [check("ok", "2025-01-02T00:00:00Z")])
        assert rows(store, "SELECT title, first_run_id, last_run_id FROM documents") == [
            {"title": "New", "first_run_id": run1, "last_run_id": run2}]
        assert rows(store, "SELECT first_run_id, last_run_id FROM refs") == [
            {"first_run_id": run1, "last_run_id": run2}]
        assert rows(store, "SELECT count(*) AS n FROM urls") == [{"n": 1}]
        assert rows(store, "SELECT run_id FROM checks ORDER BY run_id") == [
            {"run_id": run1}, {"run_id": run2}]
        assert url_row(store)["last_run_id"] == run2


def test_checks_unique_per_run_and_url(store):
    run_id = store.start_run("site", None, {})
    store.write_batch(run_id, [document()], [check("broken", "2025-01-01T00:00:00Z", status=500)])
    store.write_batch(run_id, [], [check("ok", "2025-01-01T00:00:05Z", status=200)])
    assert rows(store, "SELECT run_id, outcome, status, checked_at FROM checks") == [
        {"run_id": run_id, "outcome": "ok", "status": 200, "checked_at": "2025-01-01T00:00:05Z"}]


def test_check_before_document_creates_url_row(store):
    run_id = store.start_run("site", None, {})
    store.write_batch(run_id, [], [check("invalid_url", "2025-01-01T00:00:00Z", url="mailto:x@y",
                                         error="unsupported scheme 'mailto:'")])
    row = url_row(store, "mailto:x@y")
    assert (row["outcome"], row["consecutive_failures"]) == ("invalid_url", 1)


def test_failed_batch_is_rolled_back_and_store_stays_usable(store):
    run_id = store.start_run("site", None, {})
    store.write_batch(run_id, [document()], [])
    with pytest.raises(StoreError, match="cannot write"):
        # run 999 does not exist: the foreign key fails inside the transaction
        store.write_batch(999, [document("b.md", refs=[
            RefItem("url", "page", "https://new.example/", "https://new.example/")])], [])
    assert rows(store, "SELECT path FROM documents") == [{"path": "_news/a.md"}]
    assert rows(store, "SELECT url FROM urls") == [{"url": URL}]
    store.write_batch(run_id, [document("c.md", refs=[
        RefItem("url", "page", "https://new.example/", "https://new.example/")])], [])
    assert {row["url"] for row in rows(store, "SELECT url FROM urls")} == {
        URL, "https://new.example/"}


# -- URL state across runs -------------------------------------------------------------------

def run_checks(store: Store, *outcomes_at: tuple[str, str]) -> None:
    for outcome, at in outcomes_at:
        run_id = store.start_run("site", None, {})
        store.write_batch(run_id, [], [check(outcome, at)])
        store.finish_run(run_id, "finished", {}, {})


def state(store: Store) -> tuple:
    row = url_row(store)
    return (row["outcome"], row["consecutive_failures"], row["first_failed_at"], row["last_ok_at"])


def test_failure_streak(store):
    run_checks(store, ("ok", "T1"))
    assert state(store) == ("ok", 0, None, "T1")
    run_checks(store, ("broken", "T2"))
    assert state(store) == ("broken", 1, "T2", "T1")
    run_checks(store, ("timeout", "T3"))
    assert state(store) == ("timeout", 2, "T2", "T1")
    run_checks(store, ("ok", "T4"))
    assert state(store) == ("ok", 0, None, "T4")
    assert url_row(store)["last_checked_at"] == "T4"


@pytest.mark.parametrize("neutral", ["blocked", "excluded"])
def test_blocked_and_excluded_leave_the_streak_alone(store, neutral):
    run_checks(store, ("ok", "T1"), ("broken", "T2"), (neutral, "T3"))
    assert state(store) == (neutral, 1, "T2", "T1")
    run_checks(store, ("broken", "T4"))
    assert state(store) == ("broken", 2, "T2", "T1")
    run_checks(store, (neutral, "T5"), ("ok", "T6"))
    assert state(store) == ("ok", 0, None, "T6")


def test_neutral_outcome_on_a_healthy_url_keeps_it_healthy(store):
    run_checks(store, ("ok", "T1"), ("blocked", "T2"))
    assert state(store) == ("blocked", 0, None, "T1")


def test_rewriting_a_check_in_the_same_run_counts_one_failure(store):
    run_id = store.start_run("site", None, {})
    store.write_batch(run_id, [], [check("broken", "T1")])
    store.write_batch(run_id, [], [check("broken", "T1")])
    assert rows(store, "SELECT count(*) AS n FROM checks") == [{"n": 1}]
    assert url_row(store)["consecutive_failures"] == 1


# -- the archive ----------------------------------------------------------------------------

BODY = b"<html><body>the same page, twice</body></html>"


def capture(url: str, body: bytes = BODY, at: str = "2025-01-01T00:00:00Z", *,
            compressed: bool = True, **fields) -> Capture:
    """A capture as the archiver hands it to the store (digest set, body dropped)."""
    return Capture(url=url, final_url=url, fetched_at=at, status=200, protocol="HTTP/1.1",
                   headers=[("Content-Type", "text/html")], content_type="text/html",
                   content_encoding=None, body=None, size=len(body), digest=sha256_hex(body),
                   compressed=compress(body) if compressed else None, **fields)


def test_identical_bodies_share_one_blob(store):
    run_id = store.start_run("site", None, {})
    other = "https://example.org/copy"
    store.write_batch(run_id, [], [
        check("ok", "2025-01-01T00:00:00Z", status=200, method="GET", capture=capture(URL)),
        check("ok", "2025-01-01T00:00:01Z", url=other, status=200, method="GET",
              capture=capture(other, at="2025-01-01T00:00:01Z", etag='"v1"')),
    ])
    blobs = rows(store, "SELECT digest, size, compressed_size, compression, created_at FROM blobs")
    assert blobs == [{"digest": sha256_hex(BODY), "size": len(BODY),
                      "compressed_size": len(compress(BODY)), "compression": "zstd",
                      "created_at": "2025-01-01T00:00:00Z"}]
    assert read_body(store.db.conn, sha256_hex(BODY)) == BODY
    snapshots = rows(store, "SELECT id, url_id, run_id, url, fetched_at, status, digest, size,"
                            " compressed_size, truncated, etag, headers FROM snapshots ORDER BY id")
    assert snapshots == [
        {"id": 1, "url_id": 1, "run_id": run_id, "url": URL, "fetched_at": "2025-01-01T00:00:00Z",
         "status": 200, "digest": sha256_hex(BODY), "size": len(BODY),
         "compressed_size": len(compress(BODY)), "truncated": 0, "etag": None,
         "headers": json.dumps([["Content-Type", "text/html"]])},
        {"id": 2, "url_id": 2, "run_id": run_id, "url": other,
         "fetched_at": "2025-01-01T00:00:01Z", "status": 200, "digest": sha256_hex(BODY),
         "size": len(BODY), "compressed_size": len(compress(BODY)), "truncated": 0,
         "etag": '"v1"', "headers": json.dumps([["Content-Type", "text/html"]])},
    ]
    assert rows(store, "SELECT url_id, snapshot_id, not_modified FROM checks ORDER BY id") == [
        {"url_id": 1, "snapshot_id": 1, "not_modified": 0},
        {"url_id": 2, "snapshot_id": 2, "not_modified": 0}]


def test_known_blob_is_not_sent_again_and_304_points_at_the_snapshot(store):
    run1 = store.start_run("site", None, {})
    assert not store.has_blob(sha256_hex(BODY))
    store.write_batch(run1, [], [check("ok", "T1", status=200, capture=capture(URL))])
    run2 = store.start_run("site", None, {})
    other = "https://example.org/copy"
    # the archiver leaves out the compressed bytes of a blob the database already has
    store.write_batch(run2, [], [
        check("ok", "T2", url=other, status=200,
              capture=capture(other, at="T2", compressed=False, truncated=True)),
        check("ok", "T2", status=304, not_modified=True, snapshot_id=1),
    ])
    assert rows(store, "SELECT count(*) AS n FROM blobs") == [{"n": 1}]
    assert rows(store, "SELECT id, run_id, url, compressed_size, truncated FROM snapshots"
                       " ORDER BY id") == [
        {"id": 1, "run_id": run1, "url": URL, "compressed_size": len(compress(BODY)),
         "truncated": 0},
        {"id": 2, "run_id": run2, "url": other, "compressed_size": len(compress(BODY)),
         "truncated": 1}]
    assert rows(store, "SELECT run_id, url_id, status, snapshot_id, not_modified FROM checks"
                       " WHERE run_id = ? ORDER BY url_id", [run2]) == [
        {"run_id": run2, "url_id": 1, "status": 304, "snapshot_id": 1, "not_modified": 1},
        {"run_id": run2, "url_id": 2, "status": 200, "snapshot_id": 2, "not_modified": 0}]


def test_has_blob(store):
    digest = sha256_hex(BODY)
    assert store.has_blob(digest) is False
    run_id = store.start_run("site", None, {})
    store.write_batch(run_id, [], [check("ok", "T1", status=200, capture=capture(URL))])
    assert store.has_blob(digest) is True
    assert store.has_blob(sha256_hex(b"other bytes")) is False
    assert store.has_blob("") is False


def test_wayback_lookup_is_upserted_per_url_and_date(store):
    run_id = store.start_run("site", None, {})
    store.write_batch(run_id, [document()], [check("broken", "T1", status=404)], wayback=[
        WaybackItem(URL, "2020-01-02", "error", error="HTTP 503", looked_up_at="T1"),
        WaybackItem(URL, "2019-06-01", "none", looked_up_at="T1"),
    ])
    capture_url = "https://web.archive.org/web/20200101120000/https://example.com/a"
    store.write_batch(run_id, [], [], wayback=[
        WaybackItem(URL, "2020-01-02", "found", timestamp="20200101120000",
                    capture_url=capture_url, looked_up_at="T2")])
    assert rows(store, "SELECT * FROM wayback ORDER BY around") == [
        {"url_id": 1, "around": "2019-06-01", "looked_up_at": "T1", "status": "none",
         "timestamp": None, "capture_url": None, "error": None},
        {"url_id": 1, "around": "2020-01-02", "looked_up_at": "T2", "status": "found",
         "timestamp": "20200101120000", "capture_url": capture_url, "error": None},
    ]
    assert rows(store, "SELECT count(*) AS n FROM urls") == [{"n": 1}]


def test_wayback_lookup_of_an_unseen_url_creates_its_row_and_defaults_the_time(store):
    run_id = store.start_run("site", None, {})
    store.write_batch(run_id, [], [], wayback=[WaybackItem("https://new.example/", "2024-01-01",
                                                           "none")])
    row = rows(store, "SELECT u.url, w.status, w.looked_up_at FROM wayback w"
                      " JOIN urls u ON u.id = w.url_id")[0]
    assert (row["url"], row["status"]) == ("https://new.example/", "none")
    assert row["looked_up_at"].endswith("Z")


def test_the_failing_outcomes_of_the_views_match_the_items():
    """Regression guard: the check_changes view spells out the failing outcomes in SQL."""
    from crawler.core.items import FAILING_OUTCOMES
    from crawler.store.schema import FAILING_SQL

    assert set(FAILING_SQL.strip("()").replace("'", "").replace(" ", "").split(",")) == FAILING_OUTCOMES


def test_check_changes_view_tells_new_continuing_and_fixed_failures(store):
    """blocked neither extends nor breaks a failing streak; ok resets it."""
    sequence = ["ok", "broken", "broken", "blocked", "broken", "ok", "timeout"]
    for n, outcome in enumerate(sequence, start=1):
        run_id = store.start_run("site", None, {})
        store.write_batch(run_id, [], [check(outcome, f"2025-01-0{n}T00:00:00Z")])
    changes = rows(store, "SELECT change, failing_streak FROM check_changes ORDER BY run_id")
    assert changes == [
        {"change": "unchanged", "failing_streak": 0}, {"change": "newly_failing", "failing_streak": 1},
        {"change": "still_failing", "failing_streak": 2}, {"change": "unchanged", "failing_streak": 2},
        {"change": "still_failing", "failing_streak": 3}, {"change": "fixed", "failing_streak": 0},
        {"change": "newly_failing", "failing_streak": 1},
    ]


def test_full_text_search_on_titles_and_urls(store):
    run_id = store.start_run("site", None, {})
    doc = DocumentItem("_news/a.md", "news", "Deepfakes fool face recognition", None, None, None,
                       [RefItem("webUrl", "page", URL, URL, "example.com", "example.com")])
    store.write_batch(run_id, [doc], [])
    assert [r["path"] for r in store.db["documents"].search("deepfakes")] == ["_news/a.md"]
    assert [r["url"] for r in store.db["urls"].search("example")] == [URL]


def test_search_is_reindexed_only_when_a_title_changes(store):
    """Every run upserts every document with its title: the search index is rewritten only
    for a title that changed (rows written, triggers' included, counted by SQLite)."""
    doc = document(title="Deepfakes fool face recognition", refs=[])
    store.write_batch(store.start_run("site", None, {}), [doc], [])
    run_id = store.start_run("site", None, {})
    before = store.conn.total_changes
    store.write_batch(run_id, [doc], [])
    assert store.conn.total_changes - before == 1  # the document's row, and nothing else

    doc.title = "Voice clones fool banks"
    run_id = store.start_run("site", None, {})
    before = store.conn.total_changes
    store.write_batch(run_id, [doc], [])
    assert store.conn.total_changes - before > 1  # the row, and its index entries out and in
    assert [r["title"] for r in store.db["documents"].search("banks")] == [doc.title]
    assert list(store.db["documents"].search("deepfakes")) == []


def test_an_unchanged_document_and_its_current_refs_are_marked_seen(store):
    """An UnchangedDocumentItem moves the document and the refs it had in its last run to
    this run; a ref it had dropped before stays where it was last seen."""
    old = RefItem("webUrl", "page", URL + "?old", URL + "?old", "example.com", "example.com")
    kept = RefItem("originalUrl", "page", URL, URL, "example.com", "example.com")
    first = store.start_run("site", None, {})
    store.write_batch(first, [document(refs=[old, kept])], [])
    second = store.start_run("site", None, {})
    store.write_batch(second, [document(refs=[kept])], [])
    [doc_id] = [r["id"] for r in rows(store, "SELECT id FROM documents")]

    third = store.start_run("site", None, {})
    store.write_batch(third, [UnchangedDocumentItem(doc_id, second)], [])
    assert rows(store, "SELECT last_run_id FROM documents") == [{"last_run_id": third}]
    assert rows(store, "SELECT raw, first_run_id, last_run_id FROM refs ORDER BY id") == [
        {"raw": URL + "?old", "first_run_id": first, "last_run_id": first},
        {"raw": URL, "first_run_id": first, "last_run_id": third}]


def test_the_faster_changes_view_gives_the_same_rows(tmp_path):
    """m005 skips counting the failing streak of ok checks: every row of check_changes is the
    same as with the counting definition (m003's), over runs of mixed outcomes."""
    from crawler.store.schema import STREAK_SQL, _check_changes_sql

    path = tmp_path / "db.sqlite"
    outcomes = ["ok", "broken", "timeout", "ok", "blocked", "broken", "excluded", "ok"]
    with Store(path) as store:
        for run in range(len(outcomes)):
            run_id = store.start_run("site", None, {})
            store.write_batch(run_id, documents=[], checks=[
                CheckItem(f"https://h.example/{n}", outcomes[(run + n) % len(outcomes)],
                          checked_at=f"2024-03-0{run + 1}T10:00:00Z")
                for n in range(12)], wayback=[])
            store.finish_run(run_id, "finished", {}, {})
        store.db.execute(f"CREATE TEMP VIEW counted AS {_check_changes_sql(STREAK_SQL)}")
        now = rows(store, "SELECT * FROM check_changes ORDER BY check_id")
        counted = rows(store, "SELECT * FROM counted ORDER BY check_id")
    assert len(now) == 8 * 12 and now == counted
    assert {r["change"] for r in now} == {"newly_failing", "still_failing", "fixed", "unchanged"}
    assert max(r["failing_streak"] for r in now) >= 2
