"""A redirect hop or a retry inherits nothing that described the URL or the answer before it
(crawler/policy/follow_up.py; issue 14 found the validators, these are the rest of the class)."""

from __future__ import annotations

import pytest

from crawler.core.urls import normalise
from tests.crawl import crawl, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e

PER_HOST = 2


def test_a_redirect_target_host_is_paced_in_its_own_slot(tmp_path):
    """Scrapy names a request's download slot after its host in ``meta``; copied into the
    redirect, the target host would be paced under each source host's limit instead of its
    own, and get that limit once per source host."""
    sources = [Web(host=f"127.0.0.{n}") for n in (2, 3, 4, 5)]
    with Web(host="127.0.0.6") as target:
        try:
            urls = [web.url(f"/redirect/302?to={target.url(f'/slow/300?from={n}-{i}')}")
                    for n, web in enumerate(sources) for i in range(4)]
            site = write_site(tmp_path / "site", {
                f"_news/doc-{i}.md": {"title": f"Doc {i}", "webUrl": url} for i, url in enumerate(urls)})
            result = crawl(site, tmp_path / "db.sqlite", settings={
                "CONCURRENT_REQUESTS_PER_DOMAIN": str(PER_HOST), "CONCURRENT_REQUESTS": "64"})
        finally:
            for web in sources:
                web.stop()
        assert len(target.requests) == len(urls)
        assert target.max_concurrent() == PER_HOST
    assert result.run()["summary"] == '{"ok": 16}'


def test_a_retry_after_a_cut_answer_reads_and_archives_the_whole_next_one(tmp_path):
    """The first answer (a 503 page longer than the archive cap) is cut; its byte count and
    truncated flag must not make the retry's complete page look, or be, cut."""
    with Web() as web:
        url = web.url("/flaky-big/1/3000")
        site = write_site(tmp_path / "site", {"_news/a.md": {"title": "A", "webUrl": url}})
        result = crawl(site, tmp_path / "db.sqlite", settings={"LINKHEALTH_ARCHIVE_MAX_BYTES": "1000"})
    check = result.check(normalise(url))
    assert (check["outcome"], check["status"], check["attempts"]) == ("ok", 200, 2)
    snapshot = next(result.db.query("SELECT * FROM snapshots WHERE id = ?", [check["snapshot_id"]]))
    expected = b"<html><head><title>OK</title></head><body>Recovered</body></html>"
    assert (snapshot["truncated"], snapshot["size"]) == (0, len(expected))
