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
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from crawler.items import FAILING_OUTCOMES, CheckItem, DocumentItem

migrations = Migrations("linkhealth")


class StoreError(Exception):
    """The database cannot be opened or written; the message says why."""


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@migrations()
def m001_initial_schema(db: sqlite_utils.Database) -> None:
    db["runs"].create({
        "id": int, "started_at": str, "finished_at": str, "status": str,
        "source": str, "base_url": str, "settings": str,
        "documents": int, "parse_errors": int, "skipped_files": int,
        "refs": int, "unique_urls": int, "requested": int, "summary": str, "error": str,
    }, pk="id")
    db["documents"].create({
        "id": int, "path": str, "collection": str, "title": str, "published": str,
        "parse_error": str, "error_line": int, "first_run_id": int, "last_run_id": int,
    }, pk="id", foreign_keys=[("first_run_id", "runs", "id"), ("last_run_id", "runs", "id")])
    db["documents"].create_index(["path"], unique=True)
    db["urls"].create({
        "id": int, "url": str, "request_url": str, "host": str, "domain": str,
        "outcome": str, "status": int, "final_url": str, "permanent_redirect": int,
        "first_seen_at": str, "last_checked_at": str, "last_ok_at": str,
        "first_failed_at": str, "consecutive_failures": int, "last_run_id": int,
    }, pk="id", foreign_keys=[("last_run_id", "runs", "id")],
        defaults={"consecutive_failures": 0, "permanent_redirect": 0})
    db["urls"].create_index(["url"], unique=True)
    db["urls"].create_index(["domain"])
    db["urls"].create_index(["outcome"])
    db["refs"].create({
        "id": int, "document_id": int, "url_id": int, "field": str, "kind": str, "raw": str,
        "first_run_id": int, "last_run_id": int,
    }, pk="id", foreign_keys=[
        ("document_id", "documents", "id"), ("url_id", "urls", "id"),
        ("first_run_id", "runs", "id"), ("last_run_id", "runs", "id"),
    ])
    db["refs"].create_index(["document_id", "field", "url_id"], unique=True)
    db["refs"].create_index(["url_id", "last_run_id"])
    db["checks"].create({
        "id": int, "run_id": int, "url_id": int, "checked_at": str, "outcome": str,
        "status": int, "final_url": str, "redirects": str, "permanent_redirect": int,
        "error": str, "elapsed_ms": int, "content_type": str, "content_length": int,
        "method": str, "head_status": int, "attempts": int,
    }, pk="id", foreign_keys=[("run_id", "runs", "id"), ("url_id", "urls", "id")])
    db["checks"].create_index(["run_id", "url_id"], unique=True)
    db["checks"].create_index(["url_id", "run_id"])
    db["checks"].create_index(["run_id", "outcome"])


class Store:
    """Open with ``Store(path)``; use ``with`` or call ``close()``."""

    def __init__(self, path: str | Path, *, readonly: bool = False):
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
            conn.execute("PRAGMA busy_timeout = 30000")
            self.db = sqlite_utils.Database(conn)
            if not readonly:
                self.db.enable_wal()
                self.db.execute("PRAGMA synchronous = NORMAL")
                self.db.execute("PRAGMA foreign_keys = ON")
                migrations.apply(self.db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self._url_ids: dict[str, int] = {}

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.conn.close()

    # -- runs ---------------------------------------------------------------

    def start_run(self, source: str, base_url: str | None, settings: Mapping[str, Any]) -> int:
        """Mark runs left 'running' by a dead process as interrupted, then open a new run."""
        with self.db.conn:
            self.db.execute(
                "UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
            cursor = self.db.execute(
                "INSERT INTO runs (started_at, status, source, base_url, settings) "
                "VALUES (?, 'running', ?, ?, ?)",
                [utc_now(), source, base_url, json.dumps(settings, sort_keys=True, default=str)])
        return cursor.lastrowid

    def finish_run(self, run_id: int, status: str, counts: Mapping[str, Any],
                   summary: Mapping[str, int], error: str | None = None) -> None:
        with self.db.conn:
            self.db["runs"].update(run_id, {
                **counts, "finished_at": utc_now(), "status": status, "error": error,
                "summary": json.dumps(dict(sorted(summary.items()))),
            })

    # -- writes -------------------------------------------------------------

    def write_batch(self, run_id: int, documents: Iterable[DocumentItem],
                    checks: Iterable[CheckItem]) -> None:
        """Record documents (with their refs) and checks in one transaction."""
        try:
            with self.db.conn:
                for document in documents:
                    self._write_document(run_id, document)
                for check in checks:
                    self._write_check(run_id, check)
        except sqlite3.DatabaseError as exc:
            self._url_ids.clear()  # ids inserted in the rolled-back transaction are gone
            raise StoreError(f"cannot write to {self.path}: {exc}") from exc

    def _write_document(self, run_id: int, doc: DocumentItem) -> None:
        self.db.execute(
            "INSERT INTO documents (path, collection, title, published, parse_error, error_line,"
            " first_run_id, last_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(path) DO UPDATE SET collection = excluded.collection,"
            " title = excluded.title, published = excluded.published,"
            " parse_error = excluded.parse_error, error_line = excluded.error_line,"
            " last_run_id = excluded.last_run_id",
            [doc.path, doc.collection, doc.title, doc.published, doc.error, doc.error_line,
             run_id, run_id])
        document_id = self.db.execute(
            "SELECT id FROM documents WHERE path = ?", [doc.path]).fetchone()[0]
        for ref in doc.refs:
            url_id = self._url_id(ref.url, ref.host, ref.domain, ref.request_url)
            self.db.execute(
                "INSERT INTO refs (document_id, url_id, field, kind, raw, first_run_id, last_run_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(document_id, field, url_id)"
                " DO UPDATE SET kind = excluded.kind, raw = excluded.raw,"
                " last_run_id = excluded.last_run_id",
                [document_id, url_id, ref.field, ref.kind, ref.raw, run_id, run_id])

    def _url_id(self, url: str, host: str | None = None, domain: str | None = None,
                request_url: str | None = None) -> int:
        cached = self._url_ids.get(url)
        if cached is not None:
            return cached
        self.db.execute(
            "INSERT INTO urls (url, request_url, host, domain, first_seen_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(url) DO NOTHING", [url, request_url, host, domain, utc_now()])
        url_id = self.db.execute("SELECT id FROM urls WHERE url = ?", [url]).fetchone()[0]
        self._url_ids[url] = url_id
        return url_id

    def _write_check(self, run_id: int, check: CheckItem) -> None:
        url_id = self._url_id(check.url)
        row = asdict(check)
        row["redirects"] = json.dumps(row["redirects"]) if check.redirects else None
        row.update(run_id=run_id, url_id=url_id, permanent_redirect=int(check.permanent_redirect))
        del row["url"]
        columns = ", ".join(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in ("run_id", "url_id"))
        self.db.execute(
            f"INSERT INTO checks ({columns}) VALUES ({', '.join('?' * len(row))})"
            f" ON CONFLICT(run_id, url_id) DO UPDATE SET {updates}", list(row.values()))
        self._update_url_state(run_id, url_id, check)

    def _update_url_state(self, run_id: int, url_id: int, check: CheckItem) -> None:
        failing = check.outcome in FAILING_OUTCOMES
        healthy = check.outcome == "ok"
        self.db.execute(
            "UPDATE urls SET outcome = :outcome, status = :status, final_url = :final_url,"
            " permanent_redirect = :permanent, last_checked_at = :at, last_run_id = :run,"
            " last_ok_at = CASE WHEN :healthy THEN :at ELSE last_ok_at END,"
            " first_failed_at = CASE WHEN :healthy THEN NULL WHEN :failing"
            "   THEN coalesce(first_failed_at, :at) ELSE first_failed_at END,"
            " consecutive_failures = CASE WHEN :healthy THEN 0"
            "   WHEN :failing AND last_run_id IS NOT :run THEN consecutive_failures + 1"
            "   WHEN :failing THEN max(consecutive_failures, 1) ELSE consecutive_failures END"
            " WHERE id = :id",
            {"outcome": check.outcome, "status": check.status, "final_url": check.final_url,
             "permanent": int(check.permanent_redirect), "at": check.checked_at or utc_now(),
             "run": run_id, "healthy": healthy, "failing": failing, "id": url_id})

    # -- reads --------------------------------------------------------------

    def latest_run(self) -> dict[str, Any] | None:
        """The most recent run (finished or not)."""
        rows = list(self.db.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1"))
        return rows[0] if rows else None

    def run(self, run_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        return rows[0] if rows else None
