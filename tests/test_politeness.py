"""Politeness measured, not assumed: the test server counts requests in flight per host."""

from __future__ import annotations

import pytest

from tests.crawl import crawl, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e

PER_HOST = 4
URLS_PER_HOST = 40


def test_per_host_concurrency_limit_holds_across_hosts(tmp_path):
    with Web(host="127.0.0.1") as first, Web(host="127.0.0.2") as second:
        urls = [web.url(f"/slow/100?id={i}") for web in (first, second) for i in range(URLS_PER_HOST)]
        site = write_site(tmp_path / "site", {
            f"_news/doc-{i}.md": {"title": f"Doc {i}", "webUrl": url} for i, url in enumerate(urls)
        })
        result = crawl(site, tmp_path / "db.sqlite", settings={
            "CONCURRENT_REQUESTS_PER_DOMAIN": str(PER_HOST), "CONCURRENT_REQUESTS": "64"})
        for web in (first, second):
            assert len(web.requests) == URLS_PER_HOST
            # the limit held, and was reached (the crawl really ran requests in parallel)
            assert web.max_concurrent() == PER_HOST
    assert result.run()["summary"] == '{"ok": 80}'


def test_user_agent_names_linkhealth_and_a_contact_url(tmp_path):
    with Web() as web:
        site = write_site(tmp_path / "site", {"a.md": {"webUrl": web.url("/ok")}})
        crawl(site, tmp_path / "db.sqlite", settings={"LINKHEALTH_CONTACT_URL": "https://example.org/bot"})
        agent = web.requests[0].headers["user-agent"]
    assert agent.startswith("linkhealth/")
    assert "+https://example.org/bot" in agent
