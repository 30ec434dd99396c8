"""Archiving end to end: snapshots stored once, bounded bodies, the policy, conditional re-runs."""

from __future__ import annotations

import json

import pytest

from crawler.store.snapshots import decompress, sha256_hex
from crawler.core.urls import normalise
from tests.crawl import crawl, peak_rss, scrapy_command, write_site
from tests.webserver import Web, _bomb

pytestmark = pytest.mark.e2e

CAP = 10 * 1024 * 1024  # the default LINKHEALTH_ARCHIVE_MAX_BYTES
PATHS = {
    "a": "/page/a", "b": "/page/b", "cookie": "/page/c?cookie",
    "same1": "/ok?copy=1", "same2": "/ok?copy=2", "image": "/image.png",
    "missing": "/status/404", "pdf_like": "/image-as-html.jpg",
    "stream": "/stream/3072", "endless": "/endless", "bomb": "/gzip-bomb/1024",
}


def snapshots(result, name_or_url):
    return list(result.db.query(
        "SELECT s.* FROM snapshots s JOIN urls u ON u.id = s.url_id WHERE u.url = ? ORDER BY s.id",
        [normalise(name_or_url)]))


def blob_bytes(result) -> tuple[int, int]:
    row = next(result.db.query("SELECT count(*) AS n, coalesce(sum(compressed_size), 0) AS b FROM blobs"))
    return row["n"], row["b"]


@pytest.fixture(scope="module")
def web():
    _bomb(1024)  # built once up front, so the first request for it does not wait on it
    with Web() as server:
        yield server


@pytest.fixture(scope="module")
def runs(web, tmp_path_factory):
    """Run 1 on a fresh database, run 2 against the unchanged web."""
    tmp = tmp_path_factory.mktemp("archive")
    urls = {name: web.url(path) for name, path in PATHS.items()}
    site = write_site(tmp / "site", {
        "_news/2024-02-01-a.md": {
            "title": "A", "publishedDateTime": "2024-02-01T10:00:00Z",
            "webUrl": urls["a"], "originalUrl": urls["same1"],
            "images": [{"url": urls["image"]}],
            "related": [{"webUrl": urls[name]} for name in ("b", "cookie", "missing", "pdf_like")],
        },
        "_news/2024-02-02-b.md": {
            "title": "B", "webUrl": urls["same2"],
            "related": [{"webUrl": urls[name]} for name in ("stream", "endless", "bomb")],
        },
    })
    db = tmp / "db.sqlite"
    first = crawl(site, db)
    before_second = len(web.requests)
    second = crawl(site, db)
    return {"urls": urls, "site": site, "db": db, "first": first, "second": second,
            "second_requests": web.requests[before_second:]}


def test_pages_and_images_are_archived_with_their_capture_details(runs):
    first, urls = runs["first"], runs["urls"]
    [page] = snapshots(first, urls["a"])
    assert (page["status"], page["content_type"], page["truncated"]) == (200, "text/html; charset=utf-8", 0)
    assert page["url"] == urls["a"] and page["final_url"] == urls["a"]
    assert page["etag"] and page["last_modified"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    body = decompress(next(first.db.query(
        "SELECT data FROM blobs WHERE digest = ?", [page["digest"]]))["data"])
    assert body == b"<html><head><title>a</title></head><body>Page a</body></html>"
    assert sha256_hex(body) == page["digest"] and page["size"] == len(body)
    [image] = snapshots(first, urls["image"])
    assert image["content_type"] == "image/png"


def test_broken_links_and_unarchived_types_store_nothing(runs):
    first, urls = runs["first"], runs["urls"]
    assert snapshots(first, urls["missing"]) == []
    assert first.check(normalise(urls["missing"]))["snapshot_id"] is None


def test_same_bytes_are_stored_once_across_urls_and_runs(runs):
    first, urls = runs["first"], runs["urls"]
    one, two = snapshots(first, urls["same1"]), snapshots(first, urls["same2"])
    assert len(one) == len(two) == 1 and one[0]["digest"] == two[0]["digest"]
    assert next(first.db.query("SELECT count(*) AS n FROM blobs WHERE digest = ?",
                               [one[0]["digest"]]))["n"] == 1


def test_credentials_are_never_stored(runs):
    [snapshot] = snapshots(runs["first"], runs["urls"]["cookie"])
    names = {name.lower() for name, _ in json.loads(snapshot["headers"])}
    assert "set-cookie" not in names and "etag" in names


@pytest.mark.parametrize("name", ["stream", "endless", "bomb"])
def test_hostile_bodies_are_cut_at_the_cap_and_flagged(runs, name):
    first, urls = runs["first"], runs["urls"]
    check = first.check(normalise(urls[name]))
    assert (check["outcome"], check["status"]) == ("ok", 200)  # judged by its status
    [snapshot] = snapshots(first, urls[name])
    assert (snapshot["truncated"], snapshot["size"]) == (1, CAP)


def test_memory_stays_bounded_whatever_the_server_sends(runs):
    # a 3 GiB body, an endless one and a 1 GiB gzip bomb in the same crawl
    assert peak_rss(runs["first"].log) < 300 * 1024 * 1024


def test_second_run_sends_conditional_requests_and_stores_no_new_bytes(runs):
    first, second, urls = runs["first"], runs["second"], runs["urls"]
    conditional = [r for r in runs["second_requests"] if r.target == PATHS["a"]]
    assert conditional and conditional[0].headers["if-none-match"]
    assert conditional[0].headers["if-modified-since"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    check = second.check(normalise(urls["a"]))
    assert (check["outcome"], check["status"], check["not_modified"]) == ("ok", 304, 1)
    assert check["snapshot_id"] == snapshots(first, urls["a"])[0]["id"]
    run1, run2 = list(second.db.query("SELECT * FROM runs ORDER BY id"))
    assert run1["archived_bytes"] > 0 and run2["archived_bytes"] == 0
    assert next(second.db.query("SELECT count(DISTINCT run_id) AS n FROM snapshots"))["n"] == 1
    unchanged = second.check(normalise(urls["same1"]))  # no validators: same bytes, no new snapshot
    assert unchanged["snapshot_id"] == snapshots(first, urls["same1"])[0]["id"]


def test_changed_content_respects_the_minimum_snapshot_age(runs, web):
    site, db, urls = runs["site"], runs["db"], runs["urls"]
    web.pages["b"] = b"<html><head><title>b</title></head><body>Rewritten</body></html>"
    too_soon = crawl(site, db)
    assert len(snapshots(too_soon, urls["b"])) == 1
    stored = crawl(site, db, settings={"LINKHEALTH_SNAPSHOT_MIN_AGE": "0"})
    old, new = snapshots(stored, urls["b"])
    assert old["digest"] != new["digest"] and new["size"] == len(web.pages["b"])


def test_a_dead_link_keeps_its_last_living_copy(runs, web, tmp_path):
    site, db, urls = runs["site"], runs["db"], runs["urls"]
    web.pages["a"] = None  # the page is gone
    dead = crawl(site, db)
    assert dead.check(normalise(urls["a"]))["outcome"] == "broken"
    assert len(snapshots(dead, urls["a"])) == 1
    out = tmp_path / "a.html"
    process = scrapy_command("snapshot", urls["a"], "--db", str(db), "-o", str(out))
    assert process.returncode == 0, process.stderr
    assert out.read_bytes() == b"<html><head><title>a</title></head><body>Page a</body></html>"


def test_recheck_after_skips_recently_healthy_urls_only(web, tmp_path):
    site = write_site(tmp_path / "site", {"a.md": {
        "webUrl": web.url("/ok?recheck=1"), "originalUrl": web.url("/status/404?recheck=1")}})
    db = tmp_path / "db.sqlite"
    crawl(site, db)
    before = len(web.requests)
    again = crawl(site, db, settings={"LINKHEALTH_RECHECK_AFTER": "1h"})
    targets = [r.target for r in web.requests[before:]]
    assert targets == ["/status/404?recheck=1"]  # the failing one is always checked
    assert again.run()["skipped"] == 1
    assert "1 skipped (checked recently)" in again.log


def test_warc_export_of_a_real_crawl_round_trips(runs, tmp_path):
    from base64 import b32encode
    from hashlib import sha256

    from warcio.archiveiterator import ArchiveIterator

    out = tmp_path / "crawl.warc.gz"
    process = scrapy_command("export-warc", "-o", str(out), "--db", str(runs["db"]))
    assert process.returncode == 0, process.stderr
    expected = {row["id"]: row for row in runs["first"].db.query("SELECT * FROM snapshots")}
    seen = 0
    with out.open("rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response":
                continue
            payload = record.content_stream().read()
            digest = sha256(payload).digest()
            uri = record.rec_headers.get_header("WARC-Target-URI")
            matches = [s for s in expected.values() if s["url"] == uri and s["digest"] == digest.hex()]
            assert matches, uri
            assert record.rec_headers.get_header("WARC-Payload-Digest") == "sha256:" + b32encode(digest).decode()
            assert (record.rec_headers.get_header("WARC-Truncated") == "length") == bool(matches[0]["truncated"])
            seen += 1
    assert seen == len(expected)
