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


@migrations()
def m002_archive(db: sqlite_utils.Database) -> None:
    # Content-addressed bodies: one row per distinct SHA-256, zstd-compressed.
    db["blobs"].create({
        "digest": str, "size": int, "compressed_size": int, "compression": str,
        "data": bytes, "created_at": str,
    }, pk="digest")
    # One row per stored capture of a URL.
    db["snapshots"].create({
        "id": int, "url_id": int, "run_id": int, "fetched_at": str, "url": str,
        "final_url": str, "status": int, "protocol": str, "headers": str,
        "content_type": str, "content_encoding": str, "size": int, "compressed_size": int,
        "digest": str, "truncated": int, "etag": str, "last_modified": str,
    }, pk="id", foreign_keys=[
        ("url_id", "urls", "id"), ("run_id", "runs", "id"), ("digest", "blobs", "digest"),
    ], defaults={"truncated": 0})
    db["snapshots"].create_index(["url_id", "fetched_at"])
    db["snapshots"].create_index(["digest"])
    db["snapshots"].create_index(["fetched_at"])
    db["checks"].add_column("snapshot_id", int, fk="snapshots", fk_col="id")
    db["checks"].add_column("not_modified", int)
    db["runs"].add_column("skipped", int)
    db["runs"].add_column("archived_bytes", int)
    db["wayback"].create({
        "url_id": int, "around": str, "looked_up_at": str, "status": str,
        "timestamp": str, "capture_url": str, "error": str,
    }, pk=("url_id", "around"), foreign_keys=[("url_id", "urls", "id")])
