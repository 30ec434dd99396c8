"""Unresponsive hosts are recognised (issue 15): a host that only times out costs about one
wave of timeouts; a partly slow host is never cut off; a host that recovers is reopened."""

from __future__ import annotations

import re

import pytest

from tests.crawl import crawl, crawl_watching, write_site
from tests.webserver import Web

pytestmark = pytest.mark.e2e

SETTINGS = {  # a wave of 4 requests, declared after 3 timeouts of 1 s
    "CONCURRENT_REQUESTS_PER_DOMAIN": "4", "LINKHEALTH_UNRESPONSIVE_AFTER": "3",
    "DOWNLOAD_TIMEOUT": "1",
}


def site_of(tmp_path, troubled: list[str], healthy: list[str]):
    documents = {f"_news/doc-{i}.md": {"title": f"Doc {i}", "webUrl": url}
                 for i, url in enumerate(troubled)}
    documents.update({f"_news/ok-{i}.md": {"title": f"Ok {i}", "webUrl": url}
                      for i, url in enumerate(healthy)})
    return write_site(tmp_path / "site", documents)


def checks(result, web: Web) -> list[dict]:
    return list(result.db.query(
        "SELECT c.* FROM checks c JOIN urls u ON u.id = c.url_id WHERE u.host = ?", [web.host]))


def test_a_hanging_host_is_settled_after_one_wave_and_a_probe(tmp_path, two_hosts):
    troubled, healthy = two_hosts
    site = site_of(tmp_path, [troubled.url(f"/hang?i={i}") for i in range(40)],
                   [healthy.url(f"/ok?i={i}") for i in range(20)])
    result = crawl(site, tmp_path / "db.sqlite", settings=SETTINGS)
    rows = checks(result, troubled)
    assert {row["outcome"] for row in rows} == {"timeout"} and len(rows) == 40
    not_requested = [row for row in rows if row["attempts"] == 0]
    requested = [row for row in rows if row["attempts"] > 0]
    # a wave, the few sent before the third timeout came back, and a probe; the rest waited
    assert len(requested) == len(troubled.requests) - sum(row["attempts"] - 1 for row in requested)
    assert len(troubled.requests) <= 10 and len(not_requested) >= 30
    for row in not_requested:
        assert row["host_state"] == "unresponsive"
        assert re.fullmatch(r"host unresponsive: \d+ consecutive timeouts; not requested", row["error"])
    assert all(row["host_state"] in (None, "unresponsive") for row in requested)
    assert {row["outcome"] for row in checks(result, healthy)} == {"ok"}
    [host] = list(result.db.query("SELECT * FROM host_runs"))
    assert (host["host"], host["state"], host["reopened"]) == (
        troubled.host, "unresponsive: 3 consecutive timeouts", 0)
    assert host["settled"] >= len(not_requested) and host["probes"] >= 1


def test_a_host_where_only_some_paths_hang_is_never_cut_off(tmp_path, two_hosts):
    troubled, _ = two_hosts
    urls = [troubled.url(f"/hang?i={i}") if i % 3 == 2 else troubled.url(f"/ok?i={i}")
            for i in range(30)]
    result = crawl(site_of(tmp_path, urls, []), tmp_path / "db.sqlite", settings=SETTINGS)
    by_url = {row["url_id"]: row for row in checks(result, troubled)}
    outcomes = sorted(row["outcome"] for row in by_url.values())
    assert outcomes == ["ok"] * 20 + ["timeout"] * 10
    assert all(row["attempts"] >= 1 and row["host_state"] is None for row in by_url.values())
    assert list(result.db.query("SELECT * FROM host_runs")) == []


def test_a_host_that_answers_again_is_reopened_and_its_urls_checked(tmp_path, two_hosts):
    """Every request hangs until the host is declared unresponsive (the crawl's own log line
    says so); then the host answers: the probe gets its answer and reopens the host."""
    troubled, _ = two_hosts
    urls = [troubled.url(f"/gate/recovery?i={i}") for i in range(24)]
    result = crawl_watching(site_of(tmp_path, urls, []), tmp_path / "db.sqlite",
                            when=r"is unresponsive", then=lambda: troubled.open_gate("recovery"),
                            settings={**SETTINGS, "DOWNLOAD_TIMEOUT": "3"})
    rows = checks(result, troubled)
    assert all(row["attempts"] >= 1 for row in rows)  # none settled without a request
    assert len([row for row in rows if row["outcome"] == "ok"]) >= 24 - 4
    for row in rows:  # the first wave's timeouts after the third are not retried
        if row["outcome"] != "ok":
            assert row["host_state"] == "unresponsive" and "not retried: host unresponsive" in row["error"]
    [host] = list(result.db.query("SELECT * FROM host_runs"))
    assert host["state"] == "unresponsive: 3 consecutive timeouts"
    assert (host["reopened"], host["settled"]) == (1, 0)
    assert "answered again (HTTP 200): its URLs are checked normally" in result.log


def test_the_next_run_probes_the_host_afresh(tmp_path, two_hosts):
    troubled, _ = two_hosts
    site = site_of(tmp_path, [troubled.url(f"/hang?i={i}") for i in range(12)], [])
    db = tmp_path / "db.sqlite"
    crawl(site, db, settings=SETTINGS)
    before = len(troubled.requests)
    second = crawl(site, db, settings=SETTINGS)
    assert len(troubled.requests) - before >= 3  # a whole wave again, not one probe
    assert next(second.db.query("SELECT count(*) AS n FROM host_runs"))["n"] == 2
