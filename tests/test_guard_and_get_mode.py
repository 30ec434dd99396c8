"""The private-network guard on a real crawl, and GET-only checking (LINKHEALTH_HEAD_FIRST=0)."""

from __future__ import annotations

import re

import pytest

from tests.crawl import crawl, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e


def test_guard_refuses_loopback_and_never_connects(tmp_path):
    with Web() as web:
        site = write_site(tmp_path / "site", {"a.md": {
            "webUrl": web.url("/ok"),
            "originalUrl": "http://localhost:9/",
            "images": [{"url": "http://169.254.169.254/latest/meta-data/"}],
        }})
        result = crawl(site, tmp_path / "db.sqlite", settings={"LINKHEALTH_ALLOW_PRIVATE": "0"})
        assert web.requests == []
    loopback = result.check(web.url("/ok"))
    assert loopback["outcome"] == "forbidden_address"
    assert loopback["error"] == "127.0.0.1 is a loopback address (127.0.0.1)"
    named = result.check("http://localhost:9/")
    assert named["outcome"] == "forbidden_address"
    assert named["error"].startswith("localhost resolves to a loopback address")
    metadata = result.check("http://169.254.169.254/latest/meta-data/")
    assert (metadata["outcome"], metadata["error"]) == (
        "forbidden_address", "169.254.169.254 is a link-local address (169.254.169.254)")


def test_get_mode_reads_pages_and_finds_soft_404s(tmp_path):
    with Web() as web:
        site = write_site(tmp_path / "site", {"a.md": {
            "webUrl": web.url("/soft404"),
            "originalUrl": web.url("/ok"),
            "images": [{"url": web.url("/image.png")}, {"url": web.url("/big/4096")}],
        }})
        result = crawl(site, tmp_path / "db.sqlite",
                       settings={"LINKHEALTH_ARCHIVE": "0", "LINKHEALTH_HEAD_FIRST": "0"})
        assert {r.method for r in web.requests} == {"GET"}
        served = len(web.requests)
    soft = result.check(web.url("/soft404"))
    assert (soft["outcome"], soft["status"], soft["method"]) == ("soft_404", 200, "GET")
    assert soft["error"] == "page says it was not found"
    assert result.check(web.url("/ok"))["outcome"] == "ok"
    image = result.check(web.url("/image.png"))
    assert (image["outcome"], image["content_type"]) == ("ok", "image/png")
    big = result.check(web.url("/big/4096"))
    assert (big["outcome"], big["content_length"]) == ("ok", 4096 * 1024)
    # Only what classification needs was read: 64 KiB of the 4 MiB page, nothing of the image.
    received = int(re.search(r"'downloader/response_bytes': (\d+)", result.log).group(1))
    assert received < 256 * 1024
    # The downloader stats are counted in batches (crawler/fetch/download_stats.py): all published.
    stats = {name: int(count) for name, count in
             re.findall(r"'(downloader/[a-z_/A-Z0-9]+)': (\d+)", result.log)}
    assert stats["downloader/request_count"] == stats["downloader/response_count"] == served == 4
    assert stats["downloader/request_method_count/GET"] == 4
    assert stats["downloader/response_status_count/200"] == 4
