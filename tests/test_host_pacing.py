"""Rate limits pace the host, not the crawl (issue 15): real crawls against loopback hosts that
rate-limit (tests/webserver.py: /limited, /lockout, /status/429)."""

from __future__ import annotations

import json
import re

import pytest

from tests.crawl import crawl, scrapy_command, write_site
from tests.webserver import Web

HEALTHY = 200


def site_of(tmp_path, limited: list[str], healthy: list[str]):
    """One document per pair of URLs, the rate-limited host's and the healthy host's
    interleaved, so that neither is read first."""
    documents = {}
    for i in range(max(len(limited), len(healthy))):
        refs = {}
        if i < len(limited):
            refs["webUrl"] = limited[i]
        if i < len(healthy):
            refs["originalUrl"] = healthy[i]
        documents[f"_news/doc-{i}.md"] = {"title": f"Doc {i}", **refs}
    return write_site(tmp_path / "site", documents)


def host_row(result, host: str) -> dict:
    return next(result.db.query("SELECT * FROM host_runs WHERE host = ?", [host]))


def outcomes(result, web: Web) -> dict[str, int]:
    return {row["outcome"]: row["n"] for row in result.db.query(
        "SELECT c.outcome, count(*) AS n FROM checks c JOIN urls u ON u.id = c.url_id"
        " WHERE u.host = ? GROUP BY c.outcome", [web.host])}


@pytest.mark.e2e
@pytest.mark.slow
def test_a_rate_limited_host_waits_alone_and_gets_the_pace_it_asked_for(tmp_path, two_hosts):
    """The limiter allows 10 requests a second (a burst of 5) and answers 429 with
    Retry-After: 3 above that. The healthy host's requests all go out while the limited
    host waits its 3 seconds; no retry of the limited host holds a place of the crawl's
    budget (the retries used to sleep in a middleware: 20 s of delay for the other host
    when the issue was filed)."""
    limited, healthy = two_hosts
    site = site_of(tmp_path, [limited.url(f"/limited/10/5/3/{i}") for i in range(60)],
                   [healthy.url(f"/ok?i={i}") for i in range(HEALTHY)])
    result = crawl(site, tmp_path / "db.sqlite", settings={"CONCURRENT_REQUESTS": "16"})
    answers = limited.requests
    rate_limited_at = [r.at for r in answers if not _last(answers, r)]  # each refused once more
    assert rate_limited_at, "the limiter never answered 429: the test shows nothing"
    first_429 = min(rate_limited_at)
    assert max(r.at for r in healthy.requests) < first_429 + 3
    # After each 429, the limited host got nothing for its Retry-After (but what was
    # already on its way when the 429 was answered).
    for at in rate_limited_at:
        assert not [r for r in answers if at + 0.5 < r.at < at + 3], at
    assert outcomes(result, limited) == {"ok": 60}
    assert outcomes(result, healthy) == {"ok": HEALTHY}
    row = host_row(result, limited.host)
    assert row["rate_limited"] == len(rate_limited_at)
    assert 0 < row["slowest_rate"] < 10 and row["longest_wait"] == 3


def _last(answers, request) -> bool:
    """The last request of its target: the earlier ones were refused (a URL is asked again
    only after a 429)."""
    return [r for r in answers if r.target == request.target][-1] is request


@pytest.mark.e2e
@pytest.mark.slow
def test_a_host_that_keeps_rate_limiting_settles_at_its_rate_with_few_429s(tmp_path, two_hosts):
    limited, _ = two_hosts
    site = site_of(tmp_path, [limited.url(f"/limited/20/5/0/{i}") for i in range(150)], [])
    result = crawl(site, tmp_path / "db.sqlite")
    assert outcomes(result, limited) == {"ok": 150}
    refused = len(limited.requests) - 150
    assert 0 < refused <= 15  # a few where the pace crept above the limit, out of 150
    row = host_row(result, limited.host)
    assert row["rate_limited"] == refused and row["slowest_rate"] < 20
    assert row["state"] is None


@pytest.mark.e2e
@pytest.mark.slow
def test_a_host_that_locks_clients_out_ends_with_every_url_ok_not_blocked(tmp_path, two_hosts):
    """More than 10 requests in a second lock the client out for 2 s (429 to everything,
    no Retry-After). A quarter of such a host's URLs used to end blocked."""
    limited, _ = two_hosts
    site = site_of(tmp_path, [limited.url(f"/lockout/10/2/{i}") for i in range(80)], [])
    result = crawl(site, tmp_path / "db.sqlite")
    assert outcomes(result, limited) == {"ok": 80}
    assert host_row(result, limited.host)["rate_limited"] > 0


@pytest.mark.e2e
@pytest.mark.slow
def test_a_lockout_answered_to_a_whole_burst_counts_once(tmp_path, two_hosts):
    """Eight requests are on their way when a host locks the client out (more than 3 in a
    second: 3 s of 429 without Retry-After). Their eight 429s are one overload, not eight
    refusals in a row: the host's pause does not double with each of them (it waited 32 s,
    up to 64, after such a burst in bench/real_web_bench.py), and the host is not taken for
    one that refuses everything (its URLs used to end blocked)."""
    limited, _ = two_hosts
    site = site_of(tmp_path, [limited.url(f"/lockout/3/3/{i}") for i in range(40)], [])
    result = crawl(site, tmp_path / "db.sqlite")
    assert outcomes(result, limited) == {"ok": 40}
    row = host_row(result, limited.host)
    assert row["rate_limited"] >= 4 and row["state"] is None
    assert row["longest_wait"] <= 4  # the pauses of a few refused probes: 1, 2, 4 s


@pytest.mark.e2e
def test_a_host_that_refuses_everything_is_blocked_without_asking_each_url(tmp_path, two_hosts):
    limited, healthy = two_hosts
    site = site_of(tmp_path, [limited.url(f"/status/429?i={i}") for i in range(30)],
                   [healthy.url(f"/ok?i={i}") for i in range(30)])
    result = crawl(site, tmp_path / "db.sqlite", settings={"LINKHEALTH_RATE_LIMIT_RETRIES": "3"})
    assert outcomes(result, limited) == {"blocked": 30}
    assert outcomes(result, healthy) == {"ok": 30}
    assert len(limited.requests) < 15
    not_requested = list(result.db.query(
        "SELECT c.error FROM checks c JOIN urls u ON u.id = c.url_id"
        " WHERE u.host = ? AND c.attempts = 0 AND c.host_state = 'refusing'", [limited.host]))
    assert len(not_requested) + len(limited.requests) >= 30
    assert not_requested and all(re.fullmatch(
        r"host refusing: \d+ rate-limit answers in a row while paced; not requested", row["error"])
        for row in not_requested)
    row = host_row(result, limited.host)
    assert row["state"].startswith("refusing: ") and row["settled"] >= len(not_requested)


@pytest.mark.e2e
def test_the_reports_say_how_each_host_was_paced(tmp_path, two_hosts):
    limited, _ = two_hosts
    site = site_of(tmp_path, [limited.url(f"/limited/10/5/1/{i}") for i in range(30)], [])
    result = crawl(site, tmp_path / "db.sqlite")
    assert json.loads(result.run()["summary"]) == {"ok": 30}
    [row] = list(result.db.query("SELECT * FROM host_runs"))
    assert row["host"] == limited.host and row["run_id"] == result.run()["id"]
    said = (f"slowed to {row['slowest_rate']:.2g} requests/s by {row['rate_limited']} "
            f"rate-limit answer{'s' if row['rate_limited'] > 1 else ''} (longest wait 1 s)")
    markdown = scrapy_command("report", "--db", str(result.db_path)).stdout
    assert "## Hosts that slowed the crawl" in markdown
    assert f"| `{limited.host}` | {said} |" in markdown
    [host] = json.loads(scrapy_command("report", "--db", str(result.db_path), "--format", "json")
                        .stdout)["hosts"]
    assert (host["host"], host["summary"], host["state"]) == (limited.host, said, None)
    page = scrapy_command("report", "--db", str(result.db_path), "--format", "html").stdout
    assert '<section id="hosts">' in page and said in page


def test_time_spent_paused_is_not_healthy_time_for_the_rate_to_grow_on():
    """A host that locked the client out for 8 s: the first healthy answer after the pause
    grows the rate by what 0.1 s of health is worth, not by two seconds' worth (the rate
    doubled after every lockout, and the next lockout came within a second:
    bench/real_web_bench.py's lockout host refused 109 requests for 91 URLs)."""
    from crawler.policy.host_pacing import FAST_GROWTH, HostPace

    host = HostPace(default_concurrency=8, latency=0.09)
    host.set_rate(5.0)
    host.cut(now=100.0)  # paced: 3.5/s
    host.paused_until = 108.0
    host.grow(now=108.1)
    assert host.rate == pytest.approx(3.5 * (1 + FAST_GROWTH * 0.1))


def test_a_paced_host_never_grows_back_above_the_ceiling():
    """Once a paced rate drew a rate-limit answer, the rate settles at 90% of it: it used to
    creep on by 3% a second and draw another 429 (a lockout, for some hosts) every few
    seconds."""
    from crawler.policy.host_pacing import NEAR_CEILING, HostPace

    host = HostPace(default_concurrency=8, latency=0.09)
    host.set_rate(5.0)
    host.cut(now=0.0)  # ceiling 5/s, rate 3.5/s
    for tenth in range(1, 600):  # a minute of healthy answers
        host.grow(now=tenth / 10)
    assert host.rate == pytest.approx(NEAR_CEILING * 5.0)
