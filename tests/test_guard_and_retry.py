"""crawler.fetch.guard (address rules, lookups) and crawler.policy.retries (Retry-After, backoff)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import CannotResolveHostError
from scrapy.http import Response
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from crawler.core.errors import HostNotFound
from crawler.fetch.guard import address_problem, lookup
from crawler.policy import retries as retry_after
from crawler.policy.retries import BackoffRetryMiddleware, parse_retry_after

# -- address_problem ------------------------------------------------------------------


@pytest.mark.parametrize(("address", "label"), [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata service
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.0.0.1", "private"),
])
def test_address_problem_labels(address, label):
    assert address_problem(address) == label


@pytest.mark.parametrize("address", [
    "240.0.0.1",        # reserved (class E)
    "255.255.255.255",  # broadcast
    "100.64.0.1",       # carrier-grade NAT
    "fc00::1",          # unique local
    "fd00:ec2::254",    # AWS IPv6 metadata
    "192.0.2.1",        # documentation
    "2001:db8::1",
    "198.18.0.1",       # benchmarking
])
def test_other_non_public_addresses_are_refused(address):
    assert address_problem(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1",
                                     "2a00:1450:4001:80b::200e"])
def test_public_addresses_are_allowed(address):
    assert address_problem(address) is None


def test_lookup_nonexistent_name_raises_host_not_found():
    started = time.monotonic()
    with pytest.raises(HostNotFound, match=r"nonexistent\.invalid") as info:
        lookup("nonexistent.invalid", 80)
    assert isinstance(info.value, CannotResolveHostError)
    assert time.monotonic() - started < 5


def test_lookup_invalid_name_raises_host_not_found():
    with pytest.raises(HostNotFound):
        lookup("a" * 64 + ".example", 80)  # label too long for IDNA


def test_lookup_literal_loopback():
    assert lookup("127.0.0.1", 80) == ["127.0.0.1"]


# -- parse_retry_after ------------------------------------------------------------------

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def test_retry_after_seconds():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("0") == 0.0


def test_retry_after_http_date():
    assert parse_retry_after(http_date(NOW + timedelta(seconds=30)), now=NOW) == 30.0
    assert parse_retry_after(http_date(NOW - timedelta(seconds=30)), now=NOW) == 0.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:01:00 GMT", now=NOW) == 60.0


def test_retry_after_bytes():
    assert parse_retry_after(b"5") == 5.0
    assert parse_retry_after(http_date(NOW + timedelta(seconds=90)).encode(), now=NOW) == 90.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "12 seconds", b"\xff\xfe"])
def test_retry_after_garbage(value):
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_superscript_digit_is_garbage():
    assert parse_retry_after(b"\xb2", now=NOW) is None


# -- BackoffRetryMiddleware.delay ----------------------------------------------------------

BASE, BACKOFF_MAX = 0.5, 10.0


@pytest.fixture
def middleware():
    crawler = get_crawler(Spider, {
        "LINKHEALTH_RETRY_BACKOFF_BASE": BASE,
        "LINKHEALTH_RETRY_BACKOFF_MAX": BACKOFF_MAX,
    })
    crawler.spider = Spider.from_crawler(crawler, "test")
    return build_from_crawler(BackoffRetryMiddleware, crawler)


def test_settings_are_read(middleware):
    assert (middleware.backoff_base, middleware.backoff_max) == (BASE, BACKOFF_MAX)


def test_a_retry_waits_in_the_scheduler_not_in_the_middleware(middleware):
    """The retry comes back at once, stamped with when it may go (crawler.policy.host_queue)."""
    request = Request("https://example.com/", meta={"linkhealth_truncated": True})
    before = time.monotonic()
    retry = middleware.process_response(request, Response(request.url, status=502, request=request))
    assert retry.meta["retry_times"] == 1
    assert before + BASE <= retry.meta["linkhealth_not_before"] <= time.monotonic() + BASE * 1.25
    assert "linkhealth_truncated" not in retry.meta  # what the last answer left is shed


@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 4])
def test_backoff_grows_within_jitter_bounds(middleware, attempt):
    request = Request("https://example.com/", meta={"retry_times": attempt})
    low = BASE * 2 ** attempt
    for _ in range(50):
        assert low <= middleware.delay(request) <= low * 1.25
    assert low < BACKOFF_MAX


def test_backoff_is_monotonic_in_attempts(middleware, monkeypatch):
    monkeypatch.setattr(retry_after.random, "uniform", lambda a, b: a)
    delays = [middleware.delay(Request("https://e.com/", meta={"retry_times": n}))
              for n in range(5)]
    assert delays == [BASE * 2 ** n for n in range(5)]


def test_backoff_capped_without_jitter(middleware, monkeypatch):
    monkeypatch.setattr(retry_after.random, "uniform", lambda a, b: a)
    request = Request("https://example.com/", meta={"retry_times": 12})
    assert middleware.delay(request) == BACKOFF_MAX


def test_backoff_never_exceeds_max(middleware, monkeypatch):
    monkeypatch.setattr(retry_after.random, "uniform", lambda a, b: b)
    request = Request("https://example.com/", meta={"retry_times": 12})
    assert middleware.delay(request) <= BACKOFF_MAX
