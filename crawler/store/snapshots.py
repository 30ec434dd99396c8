"""Archived snapshots in SQLite: zstd-compressed blobs addressed by SHA-256, one row per capture.

The same bytes are stored once however many URLs or runs produce them
(``blobs``); ``snapshots`` records each capture (URL, final URL, time, status,
headers without credentials, size, digest, truncated flag, validators).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import zstandard

from crawler.core.items import Capture

# Response headers that carry credentials or session state: never stored.
NEVER_STORED = frozenset({
    "set-cookie", "set-cookie2", "cookie", "authorization", "proxy-authorization",
    "proxy-authenticate", "x-csrf-token", "x-xsrf-token",
})
_SECRET_NAME = re.compile(r"token|secret|session|password|api[-_]?key", re.I)


def storable_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Response headers minus cookies and anything that looks like a credential."""
    return [(name, value) for name, value in pairs
            if name.lower() not in NEVER_STORED and not _SECRET_NAME.search(name)]


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def compress(body: bytes, level: int = 3) -> bytes:
    return zstandard.ZstdCompressor(level=level).compress(body)


def decompress(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompress(data)


def insert_snapshot(db: sqlite3.Connection, run_id: int, url_id: int, capture: Capture) -> int:
    """Store the capture (and its blob when new); return the snapshot id."""
    if capture.compressed is not None:
        db.execute(
            "INSERT INTO blobs (digest, size, compressed_size, compression, data, created_at)"
            " VALUES (?, ?, ?, 'zstd', ?, ?) ON CONFLICT(digest) DO NOTHING",
            [capture.digest, capture.size, len(capture.compressed), capture.compressed,
             capture.fetched_at])
    compressed_size = db.execute(
        "SELECT compressed_size FROM blobs WHERE digest = ?", [capture.digest]).fetchone()[0]
    cursor = db.execute(
        "INSERT INTO snapshots (url_id, run_id, fetched_at, url, final_url, status, protocol,"
        " headers, content_type, content_encoding, size, compressed_size, digest, truncated,"
        " etag, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [url_id, run_id, capture.fetched_at, capture.url, capture.final_url, capture.status,
         capture.protocol, json.dumps(capture.headers), capture.content_type,
         capture.content_encoding, capture.size, compressed_size, capture.digest,
         int(capture.truncated), capture.etag, capture.last_modified])
    assert cursor.lastrowid is not None  # sqlite3 sets it on every INSERT
    return cursor.lastrowid


def latest_per_url(db: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    """The newest snapshot of every URL (for the snapshot policy and conditional requests)."""
    cursor = db.execute(
        "SELECT u.url AS key, s.id, s.digest, s.fetched_at, s.etag, s.last_modified, s.final_url"
        " FROM snapshots s JOIN urls u ON u.id = s.url_id"
        " WHERE s.id = (SELECT max(id) FROM snapshots WHERE url_id = s.url_id)")
    columns = [c[0] for c in cursor.description]
    for row in cursor:
        yield dict(zip(columns, row, strict=True))


def snapshots_of(db: sqlite3.Connection, url_key: str) -> list[dict[str, Any]]:
    """Every snapshot of one URL, newest first."""
    cursor = db.execute(
        "SELECT s.* FROM snapshots s JOIN urls u ON u.id = s.url_id WHERE u.url = ?"
        " ORDER BY s.fetched_at DESC, s.id DESC", [url_key])
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor]


def read_body(db: sqlite3.Connection, digest: str) -> bytes:
    row = db.execute("SELECT data FROM blobs WHERE digest = ?", [digest]).fetchone()
    if row is None:
        raise KeyError(f"no blob {digest}")
    return decompress(row[0])
