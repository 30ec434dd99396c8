"""The database schema, as registered sqlite-utils migrations (applied in order on open).

Tables: runs, documents, urls, refs, checks (the crawl); blobs, snapshots (the
archive); wayback (cached Wayback Machine lookups).
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("linkhealth")


@migrations()
def m001_initial_schema(db: sqlite_utils.Database) -> None:
    db.table("runs").create({
        "id": int, "started_at": str, "finished_at": str, "status": str,
        "source": str, "base_url": str, "settings": str,
        "documents": int, "parse_errors": int, "skipped_files": int,
        "refs": int, "unique_urls": int, "requested": int, "summary": str, "error": str,
    }, pk="id")
    db.table("documents").create({
        "id": int, "path": str, "collection": str, "title": str, "published": str,
        "parse_error": str, "error_line": int, "first_run_id": int, "last_run_id": int,
    }, pk="id", foreign_keys=[("first_run_id", "runs", "id"), ("last_run_id", "runs", "id")])
    db.table("documents").create_index(["path"], unique=True)
    db.table("urls").create({
        "id": int, "url": str, "request_url": str, "host": str, "domain": str,
        "outcome": str, "status": int, "final_url": str, "permanent_redirect": int,
        "first_seen_at": str, "last_checked_at": str, "last_ok_at": str,
        "first_failed_at": str, "consecutive_failures": int, "last_run_id": int,
    }, pk="id", foreign_keys=[("last_run_id", "runs", "id")],
        defaults={"consecutive_failures": 0, "permanent_redirect": 0})
    db.table("urls").create_index(["url"], unique=True)
    db.table("urls").create_index(["domain"])
    db.table("urls").create_index(["outcome"])
    db.table("refs").create({
        "id": int, "document_id": int, "url_id": int, "field": str, "kind": str, "raw": str,
        "first_run_id": int, "last_run_id": int,
    }, pk="id", foreign_keys=[
        ("document_id", "documents", "id"), ("url_id", "urls", "id"),
        ("first_run_id", "runs", "id"), ("last_run_id", "runs", "id"),
    ])
    db.table("refs").create_index(["document_id", "field", "url_id"], unique=True)
    db.table("refs").create_index(["url_id", "last_run_id"])
    db.table("checks").create({
        "id": int, "run_id": int, "url_id": int, "checked_at": str, "outcome": str,
        "status": int, "final_url": str, "redirects": str, "permanent_redirect": int,
        "error": str, "elapsed_ms": int, "content_type": str, "content_length": int,
        "method": str, "head_status": int, "attempts": int,
    }, pk="id", foreign_keys=[("run_id", "runs", "id"), ("url_id", "urls", "id")])
    db.table("checks").create_index(["run_id", "url_id"], unique=True)
    db.table("checks").create_index(["url_id", "run_id"])
    db.table("checks").create_index(["run_id", "outcome"])


@migrations()
def m002_archive(db: sqlite_utils.Database) -> None:
    # Content-addressed bodies: one row per distinct SHA-256, zstd-compressed.
    db.table("blobs").create({
        "digest": str, "size": int, "compressed_size": int, "compression": str,
        "data": bytes, "created_at": str,
    }, pk="digest")
    # One row per stored capture of a URL.
    db.table("snapshots").create({
        "id": int, "url_id": int, "run_id": int, "fetched_at": str, "url": str,
        "final_url": str, "status": int, "protocol": str, "headers": str,
        "content_type": str, "content_encoding": str, "size": int, "compressed_size": int,
        "digest": str, "truncated": int, "etag": str, "last_modified": str,
    }, pk="id", foreign_keys=[
        ("url_id", "urls", "id"), ("run_id", "runs", "id"), ("digest", "blobs", "digest"),
    ], defaults={"truncated": 0})
    db.table("snapshots").create_index(["url_id", "fetched_at"])
    db.table("snapshots").create_index(["digest"])
    db.table("snapshots").create_index(["fetched_at"])
    db.table("checks").add_column("snapshot_id", int, fk="snapshots", fk_col="id")
    db.table("checks").add_column("not_modified", int)
    db.table("runs").add_column("skipped", int)
    db.table("runs").add_column("archived_bytes", int)
    db.table("wayback").create({
        "url_id": int, "around": str, "looked_up_at": str, "status": str,
        "timestamp": str, "capture_url": str, "error": str,
    }, pk=("url_id", "around"), foreign_keys=[("url_id", "urls", "id")])


FAILING_SQL = ("('broken', 'timeout', 'dns_error', 'connection_error', 'tls_error',"
               " 'too_many_redirects', 'soft_404', 'invalid_url', 'forbidden_address')")


STREAK_SQL = f"""(SELECT count(*) FROM checks s
              WHERE s.url_id = c.url_id AND s.run_id <= c.run_id AND s.outcome IN {FAILING_SQL}
                AND s.run_id > coalesce((SELECT max(o.run_id) FROM checks o
                  WHERE o.url_id = c.url_id AND o.run_id <= c.run_id AND o.outcome = 'ok'), 0)
            )"""
"""Failing checks of the URL since it was last ok, up to and including check ``c``."""


def _check_changes_sql(failing_streak: str) -> str:
    """The ``check_changes`` view. Each check with the same URL's previous judged check (in
    any earlier run, so a URL skipped as recently healthy keeps its last outcome; blocked and
    excluded are not judgements and are passed over) and its failing streak: failing checks
    since the URL was last ok. A streak of 1 is a new failure, more is a continuing one."""
    return f"""
        WITH streaks AS (
          SELECT c.*,
            {failing_streak} AS failing_streak,
            (SELECT p.outcome FROM checks p
              WHERE p.url_id = c.url_id AND p.run_id < c.run_id
                AND p.outcome NOT IN ('blocked', 'excluded')
              ORDER BY p.run_id DESC LIMIT 1) AS previous_outcome
          FROM checks c)
        SELECT id AS check_id, run_id, url_id, outcome, status, checked_at, previous_outcome,
          failing_streak,
          CASE
            WHEN outcome IN {FAILING_SQL} AND failing_streak = 1 THEN 'newly_failing'
            WHEN outcome IN {FAILING_SQL} THEN 'still_failing'
            WHEN outcome = 'ok' AND previous_outcome IN {FAILING_SQL} THEN 'fixed'
            ELSE 'unchanged'
          END AS change
        FROM streaks
    """


@migrations()
def m003_changes_and_search(db: sqlite_utils.Database) -> None:
    """Run-to-run comparison as views (one definition for reports and Datasette), and
    full-text search on document titles and URLs."""
    db.create_view("check_changes", _check_changes_sql(STREAK_SQL))
    db.table("urls").create_index(["request_url"])  # URLs as the user types them (url_history, snapshot)
    _searchable(db, "documents", ["title", "path"])
    _searchable(db, "urls", ["url"])


def _searchable(db: sqlite_utils.Database, table: str, columns: list[str]) -> None:
    """FTS5 on ``columns``, kept in sync by triggers. The update trigger fires only when one
    of those columns changes: the crawl updates the latest-state columns of every URL each
    run, and a trigger on every update halved the write rate (bench: 712 -> 346 docs/s)."""
    db.table(table).enable_fts(columns, create_triggers=False)
    names = ", ".join(f'"{c}"' for c in columns)
    new = ", ".join(f'new."{c}"' for c in columns)
    old = ", ".join(f'old."{c}"' for c in columns)
    fts = f"{table}_fts"
    db.executescript(f"""
        CREATE TRIGGER "{table}_ai" AFTER INSERT ON "{table}" BEGIN
          INSERT INTO "{fts}" (rowid, {names}) VALUES (new.rowid, {new});
        END;
        CREATE TRIGGER "{table}_ad" AFTER DELETE ON "{table}" BEGIN
          INSERT INTO "{fts}" ("{fts}", rowid, {names}) VALUES ('delete', old.rowid, {old});
        END;
    """ + _fts_update_trigger(table, columns))


def _fts_update_trigger(table: str, columns: list[str]) -> str:
    """The trigger that keeps ``{table}_fts`` in step with an update of ``columns``, only
    when one of their values changed. ``UPDATE OF`` alone fires whenever the statement names
    a column, and the crawl's upsert of a document names its title on every run: re-indexing
    every unchanged title cost 0.55 s of CPU per 10,000 documents."""
    names = ", ".join(f'"{c}"' for c in columns)
    fts = f"{table}_fts"
    changed = " OR ".join(f'old."{c}" IS NOT new."{c}"' for c in columns)
    return f"""
        CREATE TRIGGER "{table}_au" AFTER UPDATE OF {names} ON "{table}" WHEN {changed} BEGIN
          INSERT INTO "{fts}" ("{fts}", rowid, {names})
            VALUES ('delete', old.rowid, {", ".join(f'old."{c}"' for c in columns)});
          INSERT INTO "{fts}" (rowid, {names})
            VALUES (new.rowid, {", ".join(f'new."{c}"' for c in columns)});
        END;
    """


@migrations()
def m004_resume(db: sqlite_utils.Database) -> None:
    db.table("runs").add_column("resumed", int)  # how many times an interrupted run was continued


@migrations()
def m005_streak_of_ok_checks(db: sqlite_utils.Database) -> None:
    """An ok check's failing streak is 0 without counting: the view no longer runs two
    subqueries for each of them (most checks are ok). The report of every URL of a
    100,000-URL run read this view in 1.3 s before."""
    db.create_view("check_changes", _check_changes_sql(
        f"CASE WHEN c.outcome = 'ok' THEN 0 ELSE {STREAK_SQL} END"), replace=True)


@migrations()
def m006_fts_only_on_change(db: sqlite_utils.Database) -> None:
    """Re-index a title or URL for search only when it changed (``_fts_update_trigger``)."""
    for table, columns in (("documents", ["title", "path"]), ("urls", ["url"])):
        db.execute(f'DROP TRIGGER IF EXISTS "{table}_au"')
        db.executescript(_fts_update_trigger(table, columns))


@migrations()
def m007_document_digest(db: sqlite_utils.Database) -> None:
    """The digest of a document's bytes as last read (``crawler.site.unchanged_documents``): a
    document whose digest is the same is not parsed again."""
    db.table("documents").add_column("source_digest", str)


@migrations()
def m008_hosts_in_runs(db: sqlite_utils.Database) -> None:
    """What a host needed in a run (crawler/policy/host_pacing.py, crawler/policy/host_health.py), and which
    checks were cut short by their host's state rather than judged on their own answer."""
    db.table("checks").add_column("host_state", str)
    db.table("host_runs").create({
        "run_id": int, "host": str, "rate_limited": int, "slowest_rate": float,
        "longest_wait": float, "state": str, "reopened": int, "settled": int, "probes": int,
    }, pk=("run_id", "host"), foreign_keys=[("run_id", "runs", "id")])


@migrations()
def m009_document_file_digest(db: sqlite_utils.Database) -> None:
    """SHA-256 of a document's bytes as last read: ``scrapy fix`` edits a file only while it
    still holds these bytes (crawler/fix/plan.py)."""
    db.table("documents").add_column("file_digest", str)
