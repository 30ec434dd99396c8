"""Pacing a host that rate-limits: it costs that host's time, never the whole crawl's.

A 429, or a 503 that is not a bot challenge, says a host wants fewer requests. Its
download slot (Scrapy's per-host key) is then paced:

* **Waits happen in the scheduler.** The host's next requests stay in
  ``crawler.policy.host_queue`` until the host may take them; none waits in the downloader, where
  it would hold a place of the crawl's global ``CONCURRENT_REQUESTS`` (Scrapy #2638), so
  other hosts go on at full speed.
* **Pauses.** A ``Retry-After`` pauses the whole host that long (RFC 9110: before any
  follow-up request), capped by ``LINKHEALTH_RETRY_AFTER_MAX``. Without one, a second
  rate-limit answer in a row pauses it 1 s, and each further one twice as long as the last
  (up to ``LINKHEALTH_RETRY_BACKOFF_MAX``).
* **A rate.** The first rate-limit answer of a run of them (a "streak": no healthy answer
  in between; an answer to a request that left before the previous rate-limit answer came
  is part of the same overload and does not lengthen the streak) cuts the host's request
  rate: at the first one to half of what the host was accepting in the last seconds, later
  to 70% of the current rate. The other answers of a
  streak only pause: they are what one overload looks like (a burst that was already on
  its way, a host that locks a client out for a while), not a sign that the rate is still
  too high. Requests start at most one per ``1/rate`` seconds.
* **Recovery.** While answers are healthy the rate grows back by 50% a second (of healthy
  time: a pause sat out does not count), up to 90% of the slowest paced rate that drew a
  rate-limit answer (the *ceiling*), and no further: creeping above it cost a host that
  locks clients out a lockout every few seconds. A host cut only once (no ceiling) grows
  back until it is above an unthrottled speed, and is no longer paced. Its concurrency
  follows the rate (enough requests in flight to keep the rate at the host's latency).

A host that keeps rate-limiting settles just under the rate it allows. Each rate-limited
host is recorded once per run (``HostItem``: how many rate-limit answers, the slowest rate,
the longest wait), so the report and Datasette can say "slowed to 4.2 requests/s by 57
rate-limit answers".
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crawler.classify.outcomes import is_challenge
from crawler.core.items import HostItem
from crawler.policy.follow_up import next_attempt
from crawler.policy.retries import parse_retry_after
from crawler.run.context import RunContext

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

FIRST_CUT = 0.5  # of the rate the host was accepting
LATER_CUT = 0.7  # of the current rate
FAST_GROWTH = 0.5  # a second, up to NEAR_CEILING of the last rate that was too fast
NEAR_CEILING = 0.9
PAUSE_BASE = 1.0  # seconds of the first pause without Retry-After; doubles with each answer
GROWTH_STEP_MAX = 2.0  # seconds of growth counted at most per healthy answer
RATE_LIMIT_STATUSES = frozenset({429, 503})
UNPACED_RATE = 200.0  # requests/s: a pace this fast no longer paces anything
START_RATE = 1.0  # requests/s, when the host accepted nothing we could measure
ACCEPTED_WINDOW = 2.0  # seconds of healthy answers that measure the accepted rate
LATENCY_WEIGHT = 0.2  # of a new latency in the moving average


@dataclass(slots=True)
class HostPace:
    """What pacing one host needs now, and what it needed over the run."""

    default_concurrency: int
    rate: float = 0.0  # requests per second; 0: not paced
    concurrency: int = 0
    paused_until: float = 0.0
    last_start: float = 0.0
    last_cut: float = 0.0
    ceiling: float = math.inf  # the last rate that drew a rate-limit answer
    grown_at: float = 0.0
    streak: int = 0  # rate-limit answers since the last healthy one
    limited_at: float = 0.0  # when the last rate-limit answer came
    latency: float = 0.0  # moving average of the host's answer times, seconds
    healthy: deque[float] = field(default_factory=lambda: deque(maxlen=128))
    # For the record.
    rate_limited: int = 0
    slowest: float = math.inf
    longest_wait: float = 0.0

    @property
    def paced(self) -> bool:
        return self.rate > 0

    def ready_at(self) -> float:
        """When the host may start its next request (monotonic seconds)."""
        if not self.paced:
            return self.paused_until
        return max(self.paused_until, self.last_start + 1.0 / self.rate)

    def accepted_rate(self, now: float) -> float:
        """Healthy answers per second over the last ACCEPTED_WINDOW seconds."""
        recent = [t for t in self.healthy if now - t <= ACCEPTED_WINDOW]
        if not recent:
            return 0.0
        span = min(ACCEPTED_WINDOW, max(0.5, now - recent[0]))
        return len(recent) / span

    def cut(self, now: float) -> None:
        if self.paced:
            self.ceiling = min(self.ceiling, self.rate)
            rate = self.rate * LATER_CUT
        else:
            rate = FIRST_CUT * self.accepted_rate(now) or START_RATE
        self.set_rate(rate)
        self.last_cut = self.grown_at = now

    def grow(self, now: float) -> None:
        # Healthy time since the last growth: a pause (a lockout sat out) is not healthy time.
        step = min(GROWTH_STEP_MAX, max(0.0, now - max(self.grown_at, self.paused_until)))
        self.grown_at = now
        if now < self.paused_until:
            return
        rate = min(self.rate * (1.0 + FAST_GROWTH * step), NEAR_CEILING * self.ceiling)
        if rate >= UNPACED_RATE:
            self.rate, self.concurrency = 0.0, self.default_concurrency
        else:
            self.set_rate(rate)

    def set_rate(self, rate: float) -> None:
        self.rate = rate
        self.slowest = min(self.slowest, rate)
        wanted = math.ceil(rate * self.latency * 2) if self.latency else 1
        self.concurrency = max(1, min(self.default_concurrency, wanted))

    def saw_latency(self, seconds: float | None) -> None:
        if seconds is not None:
            self.latency = seconds if not self.latency else (
                LATENCY_WEIGHT * seconds + (1 - LATENCY_WEIGHT) * self.latency)


class HostPacingMiddleware:
    """The pace of every rate-limited host. As a downloader middleware it sees every answer
    before the redirect middleware does. A 429 or a 503 paces the host. A 429, or a 503 with
    ``Retry-After``, becomes a retry that waits in the scheduler, with a budget of its own
    (``LINKHEALTH_RATE_LIMIT_RETRIES``: these retries are our pace, not a failure of the
    URL; after them it is ``blocked``). A plain 503 may be an outage: it is retried like any
    other failure (``RETRY_TIMES``, then ``broken``). Any other answer is a healthy one.
    ``crawler.policy.host_queue`` asks it when a host may take its next request."""

    def __init__(self, crawler: Crawler, retries: int):
        s = crawler.settings
        self.stats = crawler.stats
        self.retries = retries
        self.default_concurrency = s.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        self.retry_after_max = s.getfloat("LINKHEALTH_RETRY_AFTER_MAX")
        self.backoff_max = s.getfloat("LINKHEALTH_RETRY_BACKOFF_MAX")
        self.priority_adjust = s.getint("RETRY_PRIORITY_ADJUST")
        self.hosts: dict[str, HostPace] = {}
        self.clock = time.monotonic

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HostPacingMiddleware:
        pacing = cls(crawler, crawler.settings.getint("LINKHEALTH_RATE_LIMIT_RETRIES"))
        RunContext.of(crawler).reports_hosts_with(pacing.reports)
        return pacing

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if not slows_host(response):
            self.answered(request)
            return response
        retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
        wait = self.rate_limited(request, retry_after)
        if request.meta.get("dont_retry") or (response.status == 503 and retry_after is None):
            return response  # a plain 503 may be an outage: RETRY_TIMES, then broken
        tries = request.meta.get("linkhealth_rate_limited", 0) + 1
        if tries > self.retries:
            self.stats.inc_value("linkhealth/rate_limit/gave_up")
            request.meta["dont_retry"] = True  # judged as it is: blocked
            return response
        self.stats.inc_value("linkhealth/rate_limit/retries")
        if retry_after is not None:
            self.stats.inc_value("linkhealth/retry_after/honoured")
            if retry_after > self.retry_after_max:
                self.stats.inc_value("linkhealth/retry_after/capped")
        retry = next_attempt(request.copy())
        retry.meta["linkhealth_rate_limited"] = tries
        retry.meta["linkhealth_not_before"] = self.clock() + wait
        retry.dont_filter = True
        retry.priority = request.priority + self.priority_adjust
        return retry

    # -- the scheduler's questions ------------------------------------------------------

    def ready_at(self, slot: str) -> float:
        """When ``slot`` may start a request (0: it is not paced)."""
        host = self.hosts.get(slot)
        return 0.0 if host is None else host.ready_at()

    def concurrency(self, slot: str) -> int | None:
        """The host's concurrency while it is paced (None: the slot's own)."""
        host = self.hosts.get(slot)
        return host.concurrency if host is not None and host.paced else None

    def released(self, slot: str, request: Request, now: float) -> None:
        """A request of ``slot`` leaves the scheduler now."""
        request.meta["linkhealth_sent_at"] = now
        host = self.hosts.get(slot)
        if host is not None:
            host.last_start = now

    # -- what the answers say -----------------------------------------------------------

    def rate_limited(self, request: Request, retry_after: float | None) -> float:
        """A rate-limit answer to ``request``: pace its host; the seconds its retry waits."""
        now = self.clock()
        host = self._host(request)
        host.rate_limited += 1
        if fresh_refusal(request, host.limited_at):
            host.streak += 1
        host.limited_at = now
        host.saw_latency(request.meta.get("download_latency"))
        if host.streak == 1 and request.meta.get("linkhealth_sent_at", now) >= host.last_cut:
            host.cut(now)
        if retry_after is not None:
            wait = min(retry_after, self.retry_after_max)
        elif host.streak > 1:
            wait = min(self.backoff_max, PAUSE_BASE * 2 ** (host.streak - 2))
        else:
            wait = 1.0 / host.rate if host.paced else 0.0
        host.paused_until = max(host.paused_until, now + wait)
        host.longest_wait = max(host.longest_wait, wait)
        return wait

    def answered(self, request: Request) -> None:
        """A healthy answer (anything but a rate-limit answer) from ``request``'s host. Every
        host's recent healthy answers are kept: they measure the first cut."""
        now = self.clock()
        host = self._host(request)
        host.streak = 0
        host.healthy.append(now)
        host.saw_latency(request.meta.get("download_latency"))
        if host.paced:
            host.grow(now)

    def _host(self, request: Request) -> HostPace:
        slot = request.meta.get("download_slot", "")
        host = self.hosts.get(slot)
        if host is None:
            host = self.hosts[slot] = HostPace(self.default_concurrency,
                                               concurrency=self.default_concurrency)
        return host

    # -- the record ---------------------------------------------------------------------

    def reports(self) -> list[HostItem]:
        """One item per host that was rate-limited in this run."""
        return [HostItem(slot, rate_limited=host.rate_limited,
                               slowest_rate=None if math.isinf(host.slowest) else host.slowest,
                               longest_wait=host.longest_wait)
                for slot, host in self.hosts.items() if host.rate_limited]


def fresh_refusal(request: Request, limited_at: float) -> bool:
    """Whether a rate-limit answer to ``request`` is news: the request left after the host's
    previous rate-limit answer came. The answers to a burst already on its way when a host
    started refusing (a lockout answers every one) are one overload: they neither lengthen
    the pause nor count towards a host that refuses everything."""
    return request.meta.get("linkhealth_sent_at", math.inf) >= limited_at


def slows_host(response: Response) -> bool:
    """A 429, or a 503 that is not a bot challenge (pacing cannot cure a bot wall)."""
    return response.status in RATE_LIMIT_STATUSES and not (
        response.status == 503 and is_challenge(response))
