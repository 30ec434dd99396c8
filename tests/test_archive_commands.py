"""Reading the archive back: ``scrapy snapshot``, ``scrapy export-warc``, ``scrapy prune``.

Databases are built with the Store API (no crawl); the commands run in a
subprocess exactly as a user runs them.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.archive.archive_io import (
    apply_prune,
    find_url_key,
    iter_warc_snapshots,
    latest_snapshot,
    parse_since,
    payload_digest,
    prune_plan,
    write_warc,
)
from crawler.core.items import Capture, CheckItem, DocumentItem, RefItem
from crawler.store.snapshots import compress, sha256_hex
from crawler.store.database import Store

REPO = Path(__file__).resolve().parent.parent


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


A = "https://example.com/a"
B = "https://example.com/b"
C = "https://example.com/c"
D = "https://example.com/d"
E = "https://example.com/e"
F = "https://example.com/f"
G = "https://example.com/g"
BROKEN = "https://example.com/broken"
SHARED = b"<html>the same bytes under two URLs</html>"
BINARY = bytes(range(256)) * 4  # not UTF-8, has NULs and CR/LF
GZIP_HEADERS = [("Content-Type", "application/octet-stream"), ("Content-Encoding", "gzip"),
                ("Content-Length", "321"), ("Transfer-Encoding", "chunked"), ("X-Test", "hello")]
RECENT_G1, RECENT_G2 = ago(days=2), ago(hours=1)


def capture(url: str, body: bytes, fetched_at: str, *, truncated: bool = False,
            status: int = 200, headers: list[tuple[str, str]] | None = None,
            content_encoding: str | None = None) -> Capture:
    headers = headers if headers is not None else [("Content-Type", "text/html"),
                                                   ("X-Test", url[-1])]
    return Capture(url=url, final_url=url, fetched_at=fetched_at, status=status,
                   protocol="HTTP/1.1", headers=headers, content_type=dict(headers).get(
                       "Content-Type"), content_encoding=content_encoding, body=None,
                   size=len(body), digest=sha256_hex(body), compressed=compress(body),
                   truncated=truncated)


def check(url: str, cap: Capture | None = None, **fields) -> CheckItem:
    fields.setdefault("outcome", "ok")
    fields.setdefault("status", 200)
    return CheckItem(url=url, checked_at=cap.fetched_at if cap else ago(minutes=5),
                     capture=cap, **fields)


def document(*urls: str, request_urls: dict[str, str] | None = None) -> DocumentItem:
    request_urls = request_urls or {}
    refs = [RefItem("links", "link", url, url, "example.com", "example.com",
                    request_url=request_urls.get(url, url)) for url in urls]
    return DocumentItem("_posts/p.md", "posts", "P", None, None, None, refs=refs)


def run(store: Store, checks: list[CheckItem], request_urls: dict[str, str] | None = None) -> int:
    run_id = store.start_run("site", None, {})
    store.write_batch(run_id, [document(*(c.url for c in checks), request_urls=request_urls)],
                      checks)
    store.finish_run(run_id, "finished", {}, {"ok": len(checks)})
    return run_id


def snapshot_id(store: Store, url: str, fetched_at: str) -> int:
    return store.db.execute(
        "SELECT s.id FROM snapshots s JOIN urls u ON u.id = s.url_id"
        " WHERE u.url = ? AND s.fetched_at = ?", [url, fetched_at]).fetchone()[0]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Seven URLs over five runs:

    A: three snapshots (2021-01, 2021-06, 2022-01), bodies differ
    B: one snapshot, 2020 (very old: still the newest of B)
    C: SHARED (2021-01), then its own body (2022-01); D: SHARED (2022-01)
    E: a truncated, gzip-encoded, binary capture with status 203 (2022-01)
    F: 2021-01 and 2021-06; the latest run's check points at the 2021-01 one
    G: two recent snapshots (2 days and 1 hour old)
    BROKEN: checked, never archived
    """
    path = tmp_path / "db.sqlite"
    with Store(path) as store:
        run(store, [check(B, capture(B, b"b1", "2020-01-01T00:00:00Z"))])
        run(store, [check(A, capture(A, b"a1", "2021-01-01T00:00:00Z")),
                    check(C, capture(C, SHARED, "2021-01-01T00:00:00Z")),
                    check(F, capture(F, b"f1", "2021-01-01T00:00:00Z"))],
            request_urls={A: "HTTPS://Example.COM:443/a"})
        run(store, [check(A, capture(A, b"a2", "2021-06-01T00:00:00Z")),
                    check(F, capture(F, b"f2", "2021-06-01T00:00:00Z"))])
        run(store, [check(A, capture(A, b"a3", "2022-01-01T00:00:00Z")),
                    check(C, capture(C, b"c2", "2022-01-01T00:00:00Z")),
                    check(D, capture(D, SHARED, "2022-01-01T00:00:00Z")),
                    check(E, capture(E, BINARY, "2022-01-01T00:00:00Z", truncated=True,
                                     status=203, headers=GZIP_HEADERS, content_encoding="gzip")),
                    check(G, capture(G, b"g1", RECENT_G1)),
                    check(BROKEN, outcome="broken", status=404)])
        f1 = snapshot_id(store, F, "2021-01-01T00:00:00Z")
        run(store, [check(G, capture(G, b"g2", RECENT_G2)),
                    check(F, snapshot_id=f1, not_modified=True, status=304)])
    return path


def scrapy(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "scrapy", *args], cwd=REPO,
                          capture_output=True, timeout=60)


def count(path: Path, table: str) -> int:
    with Store(path, readonly=True) as store:
        return store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], command: str) -> str:
    assert result.returncode == 1, result
    stderr = result.stderr.decode()
    assert stderr.startswith(f"scrapy {command}: error: "), stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    return stderr


# -- the store: content addressing -------------------------------------------------

def test_same_bytes_under_two_urls_are_one_blob(tmp_path: Path):
    path = tmp_path / "db.sqlite"
    with Store(path) as store:
        run(store, [check(C, capture(C, SHARED, "2026-01-01T00:00:00Z")),
                    check(D, capture(D, SHARED, "2026-01-01T00:00:00Z"))])
    assert count(path, "blobs") == 1
    assert count(path, "snapshots") == 2


def test_fixture_shape(db_path: Path):
    assert count(db_path, "snapshots") == 12
    assert count(db_path, "blobs") == 11  # SHARED once


# -- library ------------------------------------------------------------------------

def test_find_url_key_normalises_and_falls_back_to_request_url(tmp_path: Path, db_path: Path):
    with Store(db_path, readonly=True) as store:
        db = store.db.conn
        assert find_url_key(db, A) == A
        assert find_url_key(db, "HTTPS://EXAMPLE.com:443/a#section") == A
        assert find_url_key(db, "HTTPS://Example.COM:443/a") == A
        assert find_url_key(db, "https://example.com/nowhere") is None
        assert find_url_key(db, "") is None
    # A request URL whose normalised form is not its key (keys are made by the spider).
    odd = tmp_path / "odd.sqlite"
    with Store(odd) as store:
        run(store, [check("key:odd")], request_urls={"key:odd": "https://example.com/odd?x"})
        assert find_url_key(store.db.conn, "https://example.com/odd?x") == "key:odd"


def test_latest_snapshot_and_lazy_iteration(db_path: Path):
    with Store(db_path, readonly=True) as store:
        db = store.db.conn
        assert latest_snapshot(db, A)["fetched_at"] == "2022-01-01T00:00:00Z"
        assert latest_snapshot(db, BROKEN) is None
        pairs = iter_warc_snapshots(db, "2022-01-01")
        row, body = next(pairs)
        assert row["fetched_at"] >= "2022-01-01" and sha256_hex(body) == row["digest"]
        assert len(list(pairs)) == 5


def test_parse_since():
    assert parse_since("2024-03-01") == "2024-03-01T00:00:00Z"
    assert parse_since("2024-03-01T10:00:00Z") == "2024-03-01T10:00:00Z"
    assert parse_since("2024-03-01T12:00:00+02:00") == "2024-03-01T10:00:00Z"
    assert parse_since("2024-03-01 10:00") == "2024-03-01T10:00:00Z"
    with pytest.raises(ValueError, match="not a date"):
        parse_since("last tuesday")


# -- scrapy snapshot ----------------------------------------------------------------

@pytest.mark.e2e
def test_snapshot_writes_the_newest_body_to_a_file(db_path: Path, tmp_path: Path):
    out = tmp_path / "out" / "a.html"
    result = scrapy("snapshot", "HTTPS://Example.com/a#top", "--db", str(db_path), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == b"a3"
    assert result.stdout == b""


@pytest.mark.e2e
def test_snapshot_to_stdout_is_binary_safe(db_path: Path):
    result = scrapy("snapshot", E, "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == BINARY


@pytest.mark.e2e
def test_snapshot_by_id(db_path: Path):
    with Store(db_path, readonly=True) as store:
        a1 = snapshot_id(store, A, "2021-01-01T00:00:00Z")
        d = snapshot_id(store, D, "2022-01-01T00:00:00Z")
    result = scrapy("snapshot", A, "--id", str(a1), "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"a1"
    result = scrapy("snapshot", "--id", str(d), "--db", str(db_path))
    assert result.stdout == SHARED
    assert "is not a snapshot of" in assert_one_line_error(
        scrapy("snapshot", A, "--id", str(d), "--db", str(db_path)), "snapshot")
    assert "no snapshot with id" in assert_one_line_error(
        scrapy("snapshot", A, "--id", "9999", "--db", str(db_path)), "snapshot")


@pytest.mark.e2e
def test_snapshot_list(db_path: Path):
    result = scrapy("snapshot", A, "--list", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["id", "fetched_at", "status"]
    assert [line.split()[1] for line in lines[1:]] == [
        "2022-01-01T00:00:00Z", "2021-06-01T00:00:00Z", "2021-01-01T00:00:00Z"]
    assert sha256_hex(b"a3")[:12] in lines[1]
    assert "text/html" in lines[1] and " no " in lines[1]
    e_list = scrapy("snapshot", E, "--list", "--db", str(db_path)).stdout.decode()
    row = e_list.splitlines()[1]
    assert " 203 " in row and " yes " in row and f" {len(BINARY)} " in row


@pytest.mark.e2e
def test_snapshot_errors(db_path: Path, tmp_path: Path):
    message = assert_one_line_error(
        scrapy("snapshot", "https://nowhere.example/", "--db", str(db_path)), "snapshot")
    assert "https://nowhere.example/ is not in the database" in message
    message = assert_one_line_error(scrapy("snapshot", BROKEN, "--db", str(db_path)), "snapshot")
    assert f"no snapshot of {BROKEN}" in message
    assert_one_line_error(scrapy("snapshot", BROKEN, "--list", "--db", str(db_path)), "snapshot")
    message = assert_one_line_error(
        scrapy("snapshot", A, "--db", str(tmp_path / "missing.sqlite")), "snapshot")
    assert "no database" in message
    assert_one_line_error(scrapy("snapshot", "--db", str(db_path)), "snapshot")


# -- scrapy export-warc -------------------------------------------------------------

def read_warc(path: Path) -> list[dict]:
    records = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream, check_digests="raise"):
            records.append({
                "type": record.rec_type,
                "headers": dict(record.rec_headers.headers),
                "http": record.http_headers,
                "payload": record.content_stream().read(),
            })
    return records


def snapshot_rows(path: Path, since: str = "") -> list[dict]:
    with Store(path, readonly=True) as store:
        return list(store.db.query(
            "SELECT * FROM snapshots WHERE fetched_at >= ? ORDER BY fetched_at, id", [since]))


@pytest.mark.e2e
def test_export_warc_round_trip(db_path: Path, tmp_path: Path):
    out = tmp_path / "warc" / "all.warc.gz"
    result = scrapy("export-warc", "-o", str(out), "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode() == f"wrote 12 records to {out}\n"
    assert result.stdout == b""
    with gzip.open(out) as raw:  # a gzip member per record: readable as plain gzip too
        assert raw.read().startswith(b"WARC/1.")
    records = read_warc(out)
    assert records[0]["type"] == "warcinfo"
    assert b"software: linkhealth" in records[0]["payload"]
    responses = records[1:]
    rows = snapshot_rows(db_path)
    assert [r["type"] for r in responses] == ["response"] * len(rows) == ["response"] * 12
    for record, row in zip(responses, rows):
        headers, payload = record["headers"], record["payload"]
        assert sha256_hex(payload) == row["digest"]
        digest = "sha256:" + base64.b32encode(hashlib.sha256(payload).digest()).decode()
        assert headers["WARC-Payload-Digest"] == digest == payload_digest(row["digest"])
        assert headers["WARC-Target-URI"] == row["url"]
        assert headers["WARC-Date"] == row["fetched_at"]
        assert ("WARC-Truncated" in headers) == bool(row["truncated"])
        assert record["http"].get_statuscode() == str(row["status"])
        assert record["http"].get_header("Content-Length") == str(len(payload))
    by_url = {row["url"]: record for record, row in zip(responses, rows)}
    e = by_url[E]
    assert e["payload"] == BINARY
    assert e["headers"]["WARC-Truncated"] == "length"
    http = e["http"]
    assert http.protocol == "HTTP/1.1"
    assert http.statusline == "203 Non-Authoritative Information"
    assert http.get_header("X-Test") == "hello"
    assert http.get_header("Content-Type") == "application/octet-stream"
    assert http.get_header("Content-Encoding") is None
    assert http.get_header("Transfer-Encoding") is None
    assert http.get_header("X-Linkhealth-Original-Content-Encoding") == "gzip"
    assert http.get_header("X-Linkhealth-Original-Content-Length") == "321"
    a = by_url[A]
    assert a["payload"] == b"a3" and a["http"].statusline == "200 OK"
    assert a["http"].get_header("X-Test") == "a"
    assert a["http"].get_header("X-Linkhealth-Original-Content-Encoding") is None


@pytest.mark.e2e
def test_export_warc_since(db_path: Path, tmp_path: Path):
    out = tmp_path / "since.warc.gz"
    result = scrapy("export-warc", "-o", str(out), "--since", "2022-01-01", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode() == f"wrote 6 records to {out}\n"
    responses = [r for r in read_warc(out) if r["type"] == "response"]
    rows = snapshot_rows(db_path, "2022-01-01")
    assert len(rows) == 6
    assert [r["headers"]["WARC-Target-URI"] for r in responses] == [row["url"] for row in rows]
    assert all(r["headers"]["WARC-Date"] >= "2022-01-01" for r in responses)
    # A date after everything: a valid WARC with the warcinfo record only.
    result = scrapy("export-warc", "-o", str(out), "--since", "2999-01-01", "--db", str(db_path))
    assert result.returncode == 0 and b"wrote 0 records" in result.stderr
    assert [r["type"] for r in read_warc(out)] == ["warcinfo"]


def test_write_warc_in_process(db_path: Path, tmp_path: Path):
    out = tmp_path / "lib.warc.gz"
    with Store(db_path, readonly=True) as store, out.open("wb") as fileobj:
        assert write_warc(store.db.conn, fileobj, since="2021-06-01") == 8
    assert len(read_warc(out)) == 9


@pytest.mark.e2e
def test_export_warc_errors(db_path: Path, tmp_path: Path):
    assert "-o FILE" in assert_one_line_error(
        scrapy("export-warc", "--db", str(db_path)), "export-warc")
    out = tmp_path / "x.warc.gz"
    message = assert_one_line_error(
        scrapy("export-warc", "-o", str(out), "--since", "yesterday", "--db", str(db_path)),
        "export-warc")
    assert "--since" in message and not out.exists()
    assert "no database" in assert_one_line_error(
        scrapy("export-warc", "-o", str(out), "--db", str(tmp_path / "none.sqlite")), "export-warc")
    assert not out.exists() and list(tmp_path.glob(".x.warc.gz*")) == []


@pytest.mark.e2e
def test_a_damaged_archive_is_an_error_not_a_bad_warc(db_path: Path, tmp_path: Path):
    with Store(db_path) as store, store.db.conn:
        store.db.execute("UPDATE blobs SET data = ? WHERE digest = ?",
                         [compress(b"not a3"), sha256_hex(b"a3")])
    out = tmp_path / "bad.warc.gz"
    message = assert_one_line_error(
        scrapy("export-warc", "-o", str(out), "--db", str(db_path)), "export-warc")
    assert "does not match its digest" in message
    assert not out.exists() and list(tmp_path.glob(".bad.warc.gz*")) == []
    assert "does not match its digest" in assert_one_line_error(
        scrapy("snapshot", A, "--db", str(db_path)), "snapshot")


@pytest.mark.e2e
def test_export_warc_is_the_registered_name():
    result = scrapy("-h")
    listing = result.stdout.decode()
    assert "export-warc" in listing and "export_warc" not in listing
    assert "  snapshot " in listing and "  prune " in listing


# -- scrapy prune -------------------------------------------------------------------

def snapshots_left(path: Path) -> dict[str, list[str]]:
    left: dict[str, list[str]] = {}
    with Store(path, readonly=True) as store:
        for url, fetched_at in store.db.execute(
                "SELECT u.url, s.fetched_at FROM snapshots s JOIN urls u ON u.id = s.url_id"
                " ORDER BY u.url, s.fetched_at"):
            left.setdefault(url, []).append(fetched_at)
    return left


@pytest.mark.e2e
def test_prune_dry_run_deletes_nothing(db_path: Path):
    before = snapshots_left(db_path)
    result = scrapy("prune", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert out.startswith("would delete 3 snapshots of 2 URLs and 2 blobs ("), out
    assert "--apply" in out
    assert snapshots_left(db_path) == before
    assert count(db_path, "blobs") == 11


@pytest.mark.e2e
def test_prune_apply(db_path: Path):
    with Store(db_path, readonly=True) as store:
        a1 = snapshot_id(store, A, "2021-01-01T00:00:00Z")
        a2 = snapshot_id(store, A, "2021-06-01T00:00:00Z")
        c1 = snapshot_id(store, C, "2021-01-01T00:00:00Z")
        checks_before = store.db.execute("SELECT count(*) FROM checks").fetchone()[0]
        held = [row[0] for row in store.db.execute(
            "SELECT id FROM checks WHERE snapshot_id IN (?, ?, ?)", [a1, a2, c1])]
        assert len(held) == 3
    result = scrapy("prune", "--apply", "--vacuum", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("deleted 3 snapshots of 2 URLs and 2 blobs ("), result
    left = snapshots_left(db_path)
    assert left[A] == ["2022-01-01T00:00:00Z"]
    assert left[B] == ["2020-01-01T00:00:00Z"]  # the only (newest) one, however old
    assert left[C] == ["2022-01-01T00:00:00Z"]
    assert left[D] == ["2022-01-01T00:00:00Z"]
    assert left[E] == ["2022-01-01T00:00:00Z"]
    # F's older snapshot is what the latest run's check points at: kept.
    assert left[F] == ["2021-01-01T00:00:00Z", "2021-06-01T00:00:00Z"]
    assert left[G] == [RECENT_G1, RECENT_G2]  # not older than 30 days
    with Store(db_path, readonly=True) as store:
        db = store.db
        digests = {row[0] for row in db.execute("SELECT digest FROM blobs")}
        assert sha256_hex(SHARED) in digests  # D still uses it
        assert sha256_hex(b"a1") not in digests and sha256_hex(b"a2") not in digests
        assert len(digests) == 9
        # Every snapshot still has its blob; no check points at a deleted snapshot.
        assert db.execute("SELECT count(*) FROM snapshots WHERE digest NOT IN"
                          " (SELECT digest FROM blobs)").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM checks WHERE snapshot_id IS NOT NULL AND"
                          " snapshot_id NOT IN (SELECT id FROM snapshots)").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM checks").fetchone()[0] == checks_before
        # The checks that held the deleted snapshots keep their history, with no snapshot.
        assert [row[0] for row in db.execute(
            f"SELECT snapshot_id FROM checks WHERE id IN ({', '.join(map(str, held))})")] == [
            None, None, None]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    # Nothing more to do the second time.
    again = scrapy("prune", "--apply", "--db", str(db_path))
    assert again.stdout.decode().startswith("deleted 0 snapshots"), again


@pytest.mark.e2e
def test_prune_keep_and_older_than(db_path: Path):
    result = scrapy("prune", "--keep", "2", "--older-than", "1d", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    # A loses a1; C keeps both (2 = keep); G's 2-day-old one is the second newest.
    assert result.stdout.decode().startswith("would delete 1 snapshot of 1 URL and 1 blob ("), result
    result = scrapy("prune", "--keep", "1", "--older-than", "1d", "--apply", "--db", str(db_path))
    assert result.stdout.decode().startswith("deleted 4 snapshots of 3 URLs and 3 blobs"), result
    assert snapshots_left(db_path)[G] == [RECENT_G2]
    result = scrapy("prune", "--keep", "1", "--older-than", "100000d", "--db", str(db_path))
    assert result.stdout.decode().startswith("would delete 0 snapshots"), result


def test_prune_plan_never_deletes_the_newest(db_path: Path):
    with Store(db_path) as store:
        db = store.db.conn
        plan = prune_plan(db, keep=1, older_than_seconds=0, now=datetime(2100, 1, 1, tzinfo=UTC))
        apply_prune(db, plan)
        left = snapshots_left(db_path)
        assert {url: len(times) for url, times in left.items()} == {
            A: 1, B: 1, C: 1, D: 1, E: 1, F: 2, G: 1}
        with pytest.raises(ValueError):
            prune_plan(db, keep=0, older_than_seconds=0)


@pytest.mark.e2e
def test_prune_errors(db_path: Path, tmp_path: Path):
    assert "--older-than" in assert_one_line_error(
        scrapy("prune", "--older-than", "soon", "--db", str(db_path)), "prune")
    assert "--keep" in assert_one_line_error(
        scrapy("prune", "--keep", "0", "--db", str(db_path)), "prune")
    missing = tmp_path / "missing.sqlite"
    assert "no database" in assert_one_line_error(
        scrapy("prune", "--apply", "--db", str(missing)), "prune")
    assert not missing.exists()


@pytest.mark.e2e
def test_prune_refuses_while_a_run_is_marked_running(tmp_path):
    """A crawl may be about to reference a blob that prune would delete."""
    from crawler.store.database import Store
    from tests.crawl import scrapy_command

    db = tmp_path / "db.sqlite"
    with Store(db) as store:
        store.start_run("site", None, {})  # left running, as by a crawl in progress
    refused = scrapy_command("prune", "--db", str(db), "--apply")
    assert refused.returncode == 1
    assert "is marked running" in refused.stderr
    forced = scrapy_command("prune", "--db", str(db), "--apply", "--force")
    assert forced.returncode == 0, forced.stderr
