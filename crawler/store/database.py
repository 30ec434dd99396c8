"""The SQLite store: schema, batched writes, run lifecycle.

One writer (the crawl's pipeline) writes through ``write_batch``, one
transaction per batch. History accumulates: ``checks`` has one row per URL per
run, ``refs`` and ``documents`` remember the runs they were first and last seen
in; only the latest-state columns of ``urls`` and ``documents`` are updated in
place. WAL mode lets readers (reports, Datasette) open the database while a
crawl writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

import sqlite_utils

from crawler.core.clock import utc_now
from crawler.core.items import (
    FAILING_OUTCOMES,
    CheckItem,
    DocumentItem,
    HostItem,
    UnchangedDocumentItem,
    WaybackItem,
)
from crawler.store.schema import migrations
from crawler.store.snapshots import insert_snapshot

URL_ID_CACHE = 100_000  # url key -> id entries kept between batches

# CheckItem fields stored in the checks table (the capture goes to snapshots).
CHECK_COLUMNS = (
    "outcome", "status", "final_url", "error", "elapsed_ms", "content_type", "content_length",
    "method", "head_status", "attempts", "checked_at", "snapshot_id", "host_state",
)


class StoreError(Exception):
    """The database cannot be opened or written; the message says why."""


class Store:
    """Open with ``Store(path)``; use ``with`` or call ``close()``."""

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout: float = 30.0):
        self.path = Path(path)
        try:
            if readonly:
                if not self.path.is_file():
                    raise StoreError(f"no database at {self.path} (run a crawl first)")
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # is it a database?
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path)
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self.conn = conn
            self.db = sqlite_utils.Database(conn)
            if not readonly:
                self.db.enable_wal()
                self.conn.execute("PRAGMA synchronous = NORMAL")
                self.conn.execute("PRAGMA foreign_keys = ON")
                migrations.apply(self.db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self._url_ids: dict[str, int] = {}

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One explicit transaction. (sqlite-utils commits each statement that opens an
        implicit one, so ``with conn:`` alone would commit every statement of a batch.)"""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.conn.close()

    # -- runs ---------------------------------------------------------------

    def resume_run(self) -> int | None:
        """Continue the latest run if it was interrupted (or left running by a dead process:
        the caller holds the crawl lock); None when there is nothing to resume."""
        with self._transaction():
            latest = self.conn.execute("SELECT id, status FROM runs ORDER BY id DESC LIMIT 1").fetchone()
            if latest is None or latest[1] not in ("interrupted", "running"):
                return None
            self.conn.execute(
                "UPDATE runs SET status = 'running', finished_at = NULL, error = NULL,"
                " resumed = coalesce(resumed, 0) + 1 WHERE id = ?", [latest[0]])
        return latest[0]

    def start_run(self, source: str, base_url: str | None, settings: Mapping[str, Any]) -> int:
        """Mark runs left 'running' by a dead process as interrupted, then open a new run."""
        with self._transaction():
            self.conn.execute(
                "UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
            cursor = self.conn.execute(
                "INSERT INTO runs (started_at, status, source, base_url, settings) "
                "VALUES (?, 'running', ?, ?, ?)",
                [utc_now(), source, base_url, json.dumps(settings, sort_keys=True, default=str)])
        assert cursor.lastrowid is not None  # sqlite3 sets it on every INSERT
        return cursor.lastrowid

    def finish_run(self, run_id: int, status: str, counts: Mapping[str, Any],
                   summary: Mapping[str, int] | None = None,
                   error: str | None = None) -> dict[str, int]:
        """Close the run. Without ``summary`` the outcome counts come from the run's checks
        (a resumed run's checks from before the interruption included). Returns them."""
        with self._transaction():
            if summary is None:
                summary = dict(self.conn.execute(
                    "SELECT outcome, count(*) FROM checks WHERE run_id = ? GROUP BY outcome",
                    [run_id]).fetchall())
            summary = dict(sorted(summary.items()))
            row = {**counts, "finished_at": utc_now(), "status": status, "error": error,
                   "summary": json.dumps(summary)}
            self.conn.execute(
                f"UPDATE runs SET {', '.join(f'{name} = :{name}' for name in row)} WHERE id = :id",
                {**row, "id": run_id})
        return summary

    def checked_in_run(self, run_id: int) -> set[str]:
        """Keys of the URLs that already have a check in this run (for a resumed run)."""
        return {row[0] for row in self.conn.execute(
            "SELECT u.url FROM checks c JOIN urls u ON u.id = c.url_id WHERE c.run_id = ?", [run_id])}

    # -- writes -------------------------------------------------------------

    def write_batch(self, run_id: int, documents: Iterable[DocumentItem | UnchangedDocumentItem],
                    checks: Iterable[CheckItem], wayback: Iterable[WaybackItem] = (),
                    hosts: Iterable[HostItem] = ()) -> None:
        """Record documents (with their refs; an unchanged one and its refs only marked seen),
        checks (with new snapshots), Wayback lookups and what hosts needed, in one transaction.

        Statements are prepared once (module constants) and rows go in with
        ``executemany``: per row, SQLite's work is all that is left.
        """
        now = utc_now()
        try:
            with self._transaction():
                refs: list[tuple[Any, ...]] = []
                unchanged: list[tuple[int, int, int, str | None]] = []
                for document in documents:
                    if isinstance(document, UnchangedDocumentItem):
                        unchanged.append((run_id, document.document_id, document.last_run_id,
                                          document.file_digest))
                    else:
                        self._write_document(run_id, document, now, refs)
                self.conn.executemany(_INSERT_REF, refs)
                if unchanged:
                    self.conn.executemany(_SEEN_DOCUMENT, [(run, digest, document)
                                                           for run, document, _, digest in unchanged])
                    self.conn.executemany(_SEEN_REFS, [row[:3] for row in unchanged])
                rows, states = [], []
                for check in checks:
                    url_id = self._url_id(check.url, now=now)
                    if check.capture is not None:
                        check.snapshot_id = insert_snapshot(self.conn, run_id, url_id, check.capture)
                    rows.append(_check_row(run_id, url_id, check))
                    states.append(_url_state(run_id, url_id, check, now))
                self.conn.executemany(_INSERT_CHECK, rows)
                self.conn.executemany(_UPDATE_URL_STATE, states)
                for lookup in wayback:
                    self._write_wayback(lookup, now)
                self.conn.executemany(_UPSERT_HOST, [(run_id, *_host_row(h)) for h in hosts])
        except sqlite3.DatabaseError as exc:
            self._url_ids.clear()  # ids inserted in the rolled-back transaction are gone
            raise StoreError(f"cannot write to {self.path}: {exc}") from exc

    def _write_document(self, run_id: int, doc: DocumentItem, now: str,
                        refs: list[tuple[Any, ...]]) -> None:
        document_id = self.conn.execute(
            _UPSERT_DOCUMENT, [doc.path, doc.collection, doc.title, doc.published, doc.error,
                               doc.error_line, doc.source_digest, doc.file_digest, run_id,
                               run_id]).fetchone()[0]
        for ref in doc.refs:
            url_id = self._url_id(ref.url, ref.host, ref.domain, ref.request_url, now)
            refs.append((document_id, url_id, ref.field, ref.kind, ref.raw, run_id, run_id))

    def _url_id(self, url: str, host: str | None = None, domain: str | None = None,
                request_url: str | None = None, now: str | None = None) -> int:
        cached = self._url_ids.get(url)
        if cached is not None:
            return cached
        if len(self._url_ids) >= URL_ID_CACHE:
            self._url_ids.clear()  # bounded memory on huge sites; a miss costs one SELECT
        row = self.conn.execute(_INSERT_URL, [url, request_url, host, domain,
                                              now or utc_now()]).fetchone()
        if row is None:  # already there (ON CONFLICT DO NOTHING returns no row)
            row = self.conn.execute("SELECT id FROM urls WHERE url = ?", [url]).fetchone()
        self._url_ids[url] = row[0]
        return row[0]

    def _write_wayback(self, lookup: WaybackItem, now: str) -> None:
        self.conn.execute(
            "INSERT INTO wayback (url_id, around, looked_up_at, status, timestamp, capture_url,"
            " error) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(url_id, around) DO UPDATE SET"
            " looked_up_at = excluded.looked_up_at, status = excluded.status,"
            " timestamp = excluded.timestamp, capture_url = excluded.capture_url,"
            " error = excluded.error",
            [self._url_id(lookup.url, now=now), lookup.around, lookup.looked_up_at or now,
             lookup.status, lookup.timestamp, lookup.capture_url, lookup.error])

    # -- reads --------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        return self.conn.execute("SELECT 1 FROM blobs WHERE digest = ?", [digest]).fetchone() is not None

    def latest_run(self) -> dict[str, Any] | None:
        """The most recent run (finished or not)."""
        rows = list(self.db.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1"))
        return rows[0] if rows else None

    def run(self, run_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        return rows[0] if rows else None


# -- prepared statements of write_batch -------------------------------------------------------

_UPSERT_DOCUMENT = (
    "INSERT INTO documents (path, collection, title, published, parse_error, error_line,"
    " source_digest, file_digest, first_run_id, last_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(path) DO UPDATE SET collection = excluded.collection,"
    " title = excluded.title, published = excluded.published,"
    " parse_error = excluded.parse_error, error_line = excluded.error_line,"
    " source_digest = excluded.source_digest, file_digest = excluded.file_digest,"
    " last_run_id = excluded.last_run_id RETURNING id")
_SEEN_DOCUMENT = ("UPDATE documents SET last_run_id = ?, file_digest = coalesce(file_digest, ?)"
                  " WHERE id = ?")
_SEEN_REFS = "UPDATE refs SET last_run_id = ? WHERE document_id = ? AND last_run_id = ?"
_INSERT_REF = (
    "INSERT INTO refs (document_id, url_id, field, kind, raw, first_run_id, last_run_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(document_id, field, url_id)"
    " DO UPDATE SET kind = excluded.kind, raw = excluded.raw,"
    " last_run_id = excluded.last_run_id")
_INSERT_URL = (
    "INSERT INTO urls (url, request_url, host, domain, first_seen_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT(url) DO NOTHING RETURNING id")
_CHECK_ROW = (*CHECK_COLUMNS, "redirects", "run_id", "url_id", "permanent_redirect", "not_modified")
_INSERT_CHECK = (
    f"INSERT INTO checks ({', '.join(_CHECK_ROW)}) VALUES ({', '.join('?' * len(_CHECK_ROW))})"
    " ON CONFLICT(run_id, url_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _CHECK_ROW if c not in ("run_id", "url_id")))
_UPDATE_URL_STATE = (
    "UPDATE urls SET outcome = :outcome, status = :status, final_url = :final_url,"
    " permanent_redirect = :permanent, last_checked_at = :at, last_run_id = :run,"
    " last_ok_at = CASE WHEN :healthy THEN :at ELSE last_ok_at END,"
    " first_failed_at = CASE WHEN :healthy THEN NULL WHEN :failing"
    "   THEN coalesce(first_failed_at, :at) ELSE first_failed_at END,"
    " consecutive_failures = CASE WHEN :healthy THEN 0"
    "   WHEN :failing AND last_run_id IS NOT :run THEN consecutive_failures + 1"
    "   WHEN :failing THEN max(consecutive_failures, 1) ELSE consecutive_failures END"
    " WHERE id = :id")


_HOST_COLUMNS = ("host", "rate_limited", "slowest_rate", "longest_wait", "state", "reopened",
                 "settled", "probes")
_UPSERT_HOST = (
    f"INSERT INTO host_runs (run_id, {', '.join(_HOST_COLUMNS)})"
    f" VALUES (?, {', '.join('?' * len(_HOST_COLUMNS))}) ON CONFLICT(run_id, host) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _HOST_COLUMNS[1:]))


def _host_row(host: HostItem) -> tuple[Any, ...]:
    return tuple(int(v) if isinstance(v, bool) else v
                 for v in (getattr(host, name) for name in _HOST_COLUMNS))


def _check_row(run_id: int, url_id: int, check: CheckItem) -> tuple[Any, ...]:
    redirects = json.dumps([asdict(h) for h in check.redirects]) if check.redirects else None
    return (*(getattr(check, name) for name in CHECK_COLUMNS), redirects, run_id, url_id,
            int(check.permanent_redirect), int(check.not_modified))


def _url_state(run_id: int, url_id: int, check: CheckItem, now: str) -> dict[str, Any]:
    """Parameters of _UPDATE_URL_STATE: the latest-state columns of the URL's row."""
    return {"outcome": check.outcome, "status": check.status, "final_url": check.final_url,
            "permanent": int(check.permanent_redirect), "at": check.checked_at or now,
            "run": run_id, "healthy": check.outcome == "ok",
            "failing": check.outcome in FAILING_OUTCOMES, "id": url_id}
