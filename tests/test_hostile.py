"""Hostile servers, all in one crawl: each bounded in time and memory, each with a clear outcome."""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest

from crawler.core.urls import normalise
from tests import hostile_scenario as scenario
from tests.crawl import crawl, write_site

pytestmark = pytest.mark.e2e

RSS_LIMIT = 300 * 1024 * 1024


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    with ExitStack() as stack:
        plain, tls, bundle = scenario.start_servers(stack, tmp)
        expected = scenario.urls(plain, tls)
        site = write_site(tmp / "site", scenario.site_documents(expected))
        result = crawl(site, tmp / "db.sqlite", settings=scenario.settings(plain, tls, bundle))
        yield result, expected, plain


def test_every_hostile_server_gets_its_outcome(hostile):
    result, expected, _ = hostile
    recorded = {url: result.check(normalise(url))["outcome"] for url in expected}
    assert recorded == expected


def test_peak_memory_through_all_of_them_stays_bounded(hostile):
    result, _, _ = hostile
    peak = int(re.search(r"'linkhealth/peak_rss_bytes': (\d+)", result.log).group(1))
    assert peak < RSS_LIMIT


@pytest.mark.parametrize("path", ["/stream/3072", "/endless", "/gzip-bomb/1024", "/length-lie/long"])
def test_oversized_and_short_bodies_are_archived_truncated(hostile, path):
    result, _, plain = hostile
    [snapshot] = result.db.query(
        "SELECT s.truncated FROM snapshots s JOIN urls u ON u.id = s.url_id WHERE u.url = ?",
        [normalise(plain.url(path))])
    assert snapshot["truncated"] == 1


def test_forbidden_redirect_targets_are_never_contacted(hostile):
    result, _, plain = hostile
    row = result.check(normalise(plain.url("/redirect/302?to=http://169.254.169.254/latest/meta-data/")))
    assert row["error"] == "169.254.169.254 is a link-local address (169.254.169.254)"
    assert [hop["status"] for hop in row["redirects"]] == [302]
    other_loopback = result.check(normalise(plain.url(f"/redirect/302?to=http://127.0.0.2:{plain.port}/ok")))
    assert other_loopback["error"].startswith("127.0.0.2 is a loopback address")


def test_a_long_header_line_is_reported_not_fatal(hostile):
    result, _, plain = hostile
    assert result.check(normalise(plain.url("/long-header/1024")))["error"]
    assert result.run()["status"] == "finished"


def test_the_peak_is_the_crawls_own_not_its_parents(tmp_path):
    """Linux keeps ru_maxrss across exec: a crawl started by a process holding 400 MB (as the
    test runner can, late in the suite) must still report only its own peak."""
    ballast = b"\1" * (400 * 1024 * 1024)  # every page written, so resident
    site = write_site(tmp_path / "site", {"_news/2024-05-01-a.md": {
        "title": "A", "webUrl": "javascript:alert(1)"}})
    result = crawl(site, tmp_path / "db.sqlite")
    peak = int(re.search(r"'linkhealth/peak_rss_bytes': (\d+)", result.log).group(1))
    assert 20 * 1024 * 1024 < peak < len(ballast) // 2
