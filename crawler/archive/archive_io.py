"""Reading the archive back out: one URL's snapshots, a WARC export, pruning old captures.

No Scrapy here: the commands ``scrapy snapshot``, ``scrapy export-warc`` and
``scrapy prune`` are thin wrappers around these functions. Every function takes
the ``sqlite3.Connection`` of an open database (``Store(...).db.conn``).
"""

from __future__ import annotations

import base64
import http
import io
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import IO, Any

from crawler.core.durations import parse_duration
from crawler.core.urls import normalise
from crawler.store.snapshots import read_body, sha256_hex, snapshots_of

__all__ = [
    "ArchiveError", "PrunePlan", "apply_prune", "find_url_key", "iter_warc_snapshots",
    "latest_snapshot", "parse_duration", "parse_since", "payload_digest", "prune_plan",
    "snapshot_body", "snapshot_by_id", "snapshots_of", "write_warc",
]

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # how times are stored (and written as WARC-Date)

# HTTP headers that describe the bytes on the wire, not the decoded payload stored.
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
_KEPT_ORIGINALS = {
    "content-encoding": "X-Linkhealth-Original-Content-Encoding",
    "content-length": "X-Linkhealth-Original-Content-Length",
}


class ArchiveError(Exception):
    """The archive is inconsistent (a snapshot's body is missing or does not match)."""


def _rows(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    columns = [c[0] for c in cursor.description]
    for row in cursor:
        yield dict(zip(columns, row, strict=True))


# -- one URL's snapshots ------------------------------------------------------

def find_url_key(db: sqlite3.Connection, url: str) -> str | None:
    """The key (``urls.url``) of a URL as the user typed it: by its normalised
    form, else as the exact URL requested; None when the database has no such URL."""
    text = url.strip()
    if not text:
        return None
    for candidate in dict.fromkeys((normalise(text), text)):
        row = db.execute("SELECT url FROM urls WHERE url = ?", [candidate]).fetchone()
        if row is not None:
            return row[0]
    row = db.execute("SELECT url FROM urls WHERE request_url = ? ORDER BY id LIMIT 1",
                     [text]).fetchone()
    return row[0] if row is not None else None


def latest_snapshot(db: sqlite3.Connection, url_key: str) -> dict[str, Any] | None:
    """The newest snapshot of a URL (by fetch time), or None."""
    cursor = db.execute(
        "SELECT s.* FROM snapshots s JOIN urls u ON u.id = s.url_id WHERE u.url = ?"
        " ORDER BY s.fetched_at DESC, s.id DESC LIMIT 1", [url_key])
    return next(_rows(cursor), None)


def snapshot_by_id(db: sqlite3.Connection, snapshot_id: int) -> dict[str, Any] | None:
    cursor = db.execute("SELECT * FROM snapshots WHERE id = ?", [snapshot_id])
    return next(_rows(cursor), None)


# -- WARC export ----------------------------------------------------------------

def parse_since(text: str) -> str:
    """``YYYY-MM-DD`` or an ISO date-time (naive means UTC) → the stored time format,
    so that it compares as a string with ``fetched_at``. Raises ValueError."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)") from None
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def iter_warc_snapshots(db: sqlite3.Connection, since: str | None = None
                        ) -> Iterator[tuple[dict[str, Any], bytes]]:
    """Snapshots fetched at or after ``since`` in fetch order, each with its body.

    Rows are fetched first (small), bodies one at a time as the caller advances.
    """
    sql = "SELECT * FROM snapshots"
    params: list[Any] = []
    if since is not None:
        sql += " WHERE fetched_at >= ?"
        params.append(parse_since(since))
    rows = list(_rows(db.execute(sql + " ORDER BY fetched_at, id", params)))
    for row in rows:
        yield row, snapshot_body(db, row)


def snapshot_body(db: sqlite3.Connection, row: dict[str, Any]) -> bytes:
    """The stored bytes of a snapshot row, checked against its digest."""
    try:
        body = read_body(db, row["digest"])
    except KeyError:
        raise ArchiveError(f"snapshot {row['id']}: its body ({row['digest']}) is missing"
                           " from the blobs table") from None
    if sha256_hex(body) != row["digest"]:
        raise ArchiveError(f"snapshot {row['id']}: the stored body does not match its"
                           f" digest {row['digest']}")
    return body


def payload_digest(hex_digest: str) -> str:
    """``WARC-Payload-Digest`` value of a SHA-256 given in hex: ``sha256:<BASE32>``."""
    return "sha256:" + base64.b32encode(bytes.fromhex(hex_digest)).decode("ascii")


def _warc_date(fetched_at: str) -> str:
    try:
        return datetime.strptime(fetched_at, TIME_FORMAT).strftime(TIME_FORMAT)
    except ValueError:
        moment = datetime.fromisoformat(fetched_at)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _status_line(status: int) -> str:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"{status} {reason}"


def _record_headers(stored: str | None, payload_length: int) -> list[tuple[str, str]]:
    """Stored response headers rewritten for the decoded payload."""
    headers: list[tuple[str, str]] = []
    originals: list[tuple[str, str]] = []
    for name, value in json.loads(stored or "[]"):
        lower = name.lower()
        if lower in _WIRE_HEADERS:
            if lower in _KEPT_ORIGINALS:
                originals.append((_KEPT_ORIGINALS[lower], value))
            continue
        headers.append((name, value))
    headers.append(("Content-Length", str(payload_length)))
    return headers + originals


def write_warc(db: sqlite3.Connection, fileobj: IO[bytes], since: str | None = None,
               filename: str | None = None) -> int:
    """Write a gzipped WARC of the snapshots (a warcinfo record, then one ``response``
    record per snapshot) to ``fileobj``; return the number of response records.

    Bodies are stored decoded, so each record's HTTP headers describe the payload
    as written: Content-Encoding, Transfer-Encoding and Content-Length are replaced
    by the payload length (the server's values kept as X-Linkhealth-Original-*).
    """
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    since_key = parse_since(since) if since is not None else None  # fail before writing
    writer = WARCWriter(fileobj, gzip=True)
    info = {"software": "linkhealth", "format": f"WARC File Format {writer.warc_version[5:]}",
            "description": "Snapshots archived by linkhealth"
                           + (f" since {since_key}" if since_key else "")}
    writer.write_record(writer.create_warcinfo_record(filename, info))
    count = 0
    for row, body in iter_warc_snapshots(db, since_key):
        http_headers = StatusAndHeaders(_status_line(row["status"]),
                                        _record_headers(row["headers"], len(body)),
                                        protocol=row["protocol"] or "HTTP/1.1")
        warc_headers = {
            "WARC-Type": "response",
            "WARC-Target-URI": row["url"],
            "WARC-Date": _warc_date(row["fetched_at"]),
            "WARC-Payload-Digest": payload_digest(row["digest"]),
        }
        if row["truncated"]:
            warc_headers["WARC-Truncated"] = "length"
        record = writer.create_warc_record(row["url"], "response", payload=io.BytesIO(body),
                                           length=len(body), warc_headers_dict=warc_headers,
                                           http_headers=http_headers)
        writer.write_record(record)
        count += 1
    return count


# -- pruning ----------------------------------------------------------------------

@dataclass
class PrunePlan:
    """What ``apply_prune`` removes."""

    snapshot_ids: list[int] = field(default_factory=list)
    blob_digests: list[str] = field(default_factory=list)  # blobs no remaining snapshot uses
    blob_bytes: int = 0  # compressed bytes of those blobs (what the database shrinks by)
    blob_size: int = 0  # their uncompressed size
    urls: int = 0  # URLs losing at least one snapshot

    @property
    def count(self) -> int:
        return len(self.snapshot_ids)


def prune_plan(db: sqlite3.Connection, keep: int, older_than_seconds: float,
               now: datetime | float | None = None) -> PrunePlan:
    """Snapshots to delete: per URL, the newest ``keep`` (at least 1) stay, and of the
    rest only those fetched more than ``older_than_seconds`` before ``now`` go.
    Snapshots the latest run's checks point at always stay."""
    if keep < 1:
        raise ValueError("--keep must be at least 1 (the newest snapshot of a URL always stays)")
    if older_than_seconds < 0:
        raise ValueError("--older-than must not be negative")
    if now is None:
        now_ts = datetime.now(UTC).timestamp()
    elif isinstance(now, datetime):
        now_ts = (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()
    else:
        now_ts = float(now)
    cutoff = datetime.fromtimestamp(now_ts - older_than_seconds, UTC).strftime(TIME_FORMAT)
    cursor = db.execute(
        "WITH ranked AS (SELECT id, url_id, fetched_at, row_number() OVER ("
        "   PARTITION BY url_id ORDER BY fetched_at DESC, id DESC) AS rank FROM snapshots)"
        " SELECT id, url_id FROM ranked WHERE rank > ? AND fetched_at < ?"
        # the crawl's idea of a URL's last snapshot is its highest id: keep that one too
        " AND id NOT IN (SELECT max(id) FROM snapshots GROUP BY url_id)"
        " AND id NOT IN (SELECT snapshot_id FROM checks WHERE snapshot_id IS NOT NULL"
        "   AND run_id = (SELECT max(id) FROM runs))"
        " ORDER BY id", [keep, cutoff])
    plan = PrunePlan()
    urls = set()
    for snapshot_id, url_id in cursor:
        plan.snapshot_ids.append(snapshot_id)
        urls.add(url_id)
    plan.urls = len(urls)
    if not plan.snapshot_ids:
        return plan
    doomed_per_digest: dict[str, int] = {}
    for start in range(0, len(plan.snapshot_ids), 500):
        chunk = plan.snapshot_ids[start:start + 500]
        for digest, n in db.execute(
                f"SELECT digest, count(*) FROM snapshots WHERE id IN ({', '.join('?' * len(chunk))})"
                " GROUP BY digest", chunk):
            doomed_per_digest[digest] = doomed_per_digest.get(digest, 0) + n
    for digest, doomed in sorted(doomed_per_digest.items()):
        total = db.execute("SELECT count(*) FROM snapshots WHERE digest = ?", [digest]).fetchone()[0]
        if total > doomed:
            continue  # a snapshot that stays still uses these bytes
        plan.blob_digests.append(digest)
        row = db.execute("SELECT compressed_size, size FROM blobs WHERE digest = ?",
                         [digest]).fetchone()
        if row is not None:
            plan.blob_bytes += row[0] or 0
            plan.blob_size += row[1] or 0
    return plan


def apply_prune(db: sqlite3.Connection, plan: PrunePlan, *, vacuum: bool = False) -> None:
    """Delete the plan's snapshots (their checks keep their history, with
    ``snapshot_id`` cleared) and the blobs no snapshot references any more, in one
    transaction; then VACUUM when asked."""
    if plan.snapshot_ids:
        if db.in_transaction:
            db.commit()
        db.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(plan.snapshot_ids), 500):
                chunk = plan.snapshot_ids[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                db.execute(f"UPDATE checks SET snapshot_id = NULL WHERE snapshot_id IN ({marks})",
                           chunk)
                db.execute(f"DELETE FROM snapshots WHERE id IN ({marks})", chunk)
            for start in range(0, len(plan.blob_digests), 500):
                digests = plan.blob_digests[start:start + 500]
                marks = ", ".join("?" * len(digests))
                # re-checked here: a snapshot stored since the plan keeps its blob
                db.execute(f"DELETE FROM blobs WHERE digest IN ({marks}) AND NOT EXISTS"
                           " (SELECT 1 FROM snapshots s WHERE s.digest = blobs.digest)", digests)
        except BaseException:
            db.rollback()
            raise
        db.commit()
    if vacuum:
        db.execute("VACUUM")
