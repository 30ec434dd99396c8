"""Hosts that give nothing: a dead or refusing host costs about one wave, not all its URLs'.

A host that accepts connections and never answers costs, at the per-host limit, its URLs /
``CONCURRENT_REQUESTS_PER_DOMAIN`` x ``DOWNLOAD_TIMEOUT`` x attempts: half an hour for a
few hundred URLs at the defaults. A host that answers every request with 429 would be
paced ever slower. Each is recognised and then costs little more:

* **unresponsive**: ``LINKHEALTH_UNRESPONSIVE_AFTER`` consecutive timeouts or connection
  failures from a host that has not answered once in this run;
* **refusing**: more than ``LINKHEALTH_RATE_LIMIT_RETRIES`` rate-limit answers in a row (no
  healthy answer in between), although ``crawler.policy.host_pacing`` paused and slowed it each
  time: as many as one URL may be retried. Only answers to requests that left after the
  previous rate-limit answer count: a burst refused at once is one answer.

From then on:

* its requests that fail are not retried (their checks keep the real error, with
  "not retried" and the reason);
* its other URLs wait in the scheduler (``crawler.policy.host_queue``) while one of them, the
  *probe*, is requested alone;
* when the probe fails too, every URL that waited through it (every one in the scheduler
  then) is settled without a request, at once, whatever the host's pace,
  with the host's outcome (``timeout``, ``connection_error``, or ``blocked`` for a refusing
  host) and an error that says so: "host unresponsive: 12 consecutive timeouts; not
  requested". Such checks have ``host_state`` set and no attempts, so they are told apart
  from requested ones. URLs that reach the scheduler later (the site is still being read)
  are probed in turn;
* a healthy answer from the host (any status but a rate-limit one) reopens it: the URLs
  waiting for it are checked normally.

A host that answered once in the run is never declared unresponsive: where only some
paths are slow, the URLs that answer stay ``ok`` and the slow ones get their own timeouts.
Nothing carries over to the next run, which starts every host afresh.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.http11 import TunnelError
from scrapy.exceptions import (
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
)
from twisted.internet import error as tx_error

from crawler.core.compat import ResponseNeverReceived
from crawler.core.errors import SettledByHost
from crawler.core.failures import causes, is_tls_failure
from crawler.core.items import HostItem
from crawler.policy.host_pacing import fresh_refusal, slows_host
from crawler.run.context import RunContext

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

TIMEOUTS = (DownloadTimeoutError, tx_error.TimeoutError, tx_error.TCPTimedOutError)
# TunnelError: a proxy that could not open a tunnel to the host (it cannot resolve or reach it).
CONNECTION_FAILURES = (DownloadConnectionRefusedError, tx_error.ConnectError,
                       ResponseNeverReceived, TunnelError)
RATE_LIMITED = "rate-limit answers"
UNRESPONSIVE, REFUSING = "unresponsive", "refusing"


def unanswered(exc: BaseException) -> str | None:
    """"timeouts" or "connection failures" when the host gave no answer at all, else None
    (a TLS failure, a broken answer or a missing name are answers of a kind)."""
    if is_tls_failure(exc):
        return None
    chain = list(causes(exc))
    if any(isinstance(cause, TIMEOUTS) for cause in chain):
        return "timeouts"
    if any(isinstance(cause, CONNECTION_FAILURES) for cause in chain):
        return "connection failures"
    return None


@dataclass(slots=True)
class HostHealth:
    failures: Counter[str] = field(default_factory=Counter)  # since the last healthy answer
    limited_at: float = 0.0  # when the last rate-limit answer came
    answered: bool = False  # any answer from it in this run
    state: str | None = None  # UNRESPONSIVE or REFUSING, while it is
    declared: str | None = None  # why it was, the first time
    probing: bool = False  # a probe is in flight
    reopened: bool = False
    settled: int = 0
    probes: int = 0

    def reason(self) -> str:
        """``12 consecutive timeouts``, ``6 rate-limit answers in a row (HTTP 429)``..."""
        if self.state == REFUSING:
            return f"{self.failures[RATE_LIMITED]} rate-limit answers in a row while paced"
        kinds = {kind: n for kind, n in self.failures.items() if kind != RATE_LIMITED}
        total = sum(kinds.values())
        what = next(iter(kinds)) if len(kinds) == 1 else "timeouts and connection failures"
        return f"{total} consecutive {what}"

    def outcome(self) -> str:
        if self.state == REFUSING:
            return "blocked"
        return "timeout" if self.failures["timeouts"] >= self.failures["connection failures"] \
            else "connection_error"


class HostHealthMiddleware:
    def __init__(self, crawler: Crawler, unresponsive_after: int, refusing_after: int):
        self.crawler = crawler
        self.stats = crawler.stats
        self.unresponsive_after = unresponsive_after
        self.refusing_after = refusing_after
        self.hosts: dict[str, HostHealth] = {}
        self.failed_probes: dict[str, float] = {}  # slot -> when its last probe failed
        self.clock = time.monotonic

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HostHealthMiddleware:
        s = crawler.settings
        health = cls(crawler, s.getint("LINKHEALTH_UNRESPONSIVE_AFTER"),
                     s.getint("LINKHEALTH_RATE_LIMIT_RETRIES"))
        RunContext.of(crawler).reports_hosts_with(health.reports)
        return health

    # -- the scheduler's questions ------------------------------------------------------

    def ready_at(self, slot: str) -> float:
        """Never while the host's probe is in flight (the probe's end wakes the scheduler)."""
        host = self.hosts.get(slot)
        return math.inf if host is not None and host.probing else 0.0

    def released(self, slot: str, request: Request, now: float) -> None:
        """A request of ``slot`` leaves the scheduler: for a host that gives nothing, the
        next probe. (The scheduler settles the URLs that waited through a failed probe:
        ``failed_probes``.)"""
        host = self.hosts.get(slot)
        if host is None or host.state is None:
            return
        host.probing = True
        host.probes += 1
        request.meta["linkhealth_probe"] = True

    # -- the downloader's path ----------------------------------------------------------

    def process_request(self, request: Request) -> None:
        if request.meta.get("linkhealth_settle"):
            self._settle(request)

    def process_response(self, request: Request, response: Response) -> Response:
        slot = request.meta.get("download_slot", "")
        host = self.hosts.get(slot)
        if host is None:
            host = self.hosts[slot] = HostHealth()
        rate_limited = slows_host(response)
        host.answered = True
        if host.state == UNRESPONSIVE or (host.state == REFUSING and not rate_limited):
            logger.info("%s answered again (HTTP %d): its URLs are checked normally",
                        slot, response.status)
            host.state, host.reopened, host.probing = None, True, False
            self.stats.inc_value("linkhealth/host_health/reopened")
        if rate_limited:
            fresh = fresh_refusal(request, host.limited_at)
            host.limited_at = self.clock()
            self._failed(request, host, slot, RATE_LIMITED, count=fresh)
        else:
            host.failures.clear()
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        kind = unanswered(exception)
        if kind is None:
            return
        slot = request.meta.get("download_slot", "")
        host = self.hosts.get(slot)
        if host is None:
            host = self.hosts[slot] = HostHealth()
        self._failed(request, host, slot, kind)

    def _failed(self, request: Request, host: HostHealth, slot: str, kind: str,
                count: bool = True) -> None:
        if count:
            host.failures[kind] += 1
        if host.state is None:
            if kind == RATE_LIMITED:
                if self.refusing_after and host.failures[kind] > self.refusing_after:
                    self._declare(slot, host, REFUSING)
            elif (self.unresponsive_after and not host.answered
                  and host.failures.total() >= self.unresponsive_after):
                self._declare(slot, host, UNRESPONSIVE)
        if host.state is not None:
            request.meta["dont_retry"] = True
            request.meta["linkhealth_host_state"] = (host.state, host.reason())
            self.stats.inc_value("linkhealth/host_health/not_retried")
        if request.meta.get("linkhealth_probe") and host.probing:
            host.probing = False
            self.failed_probes[slot] = self.clock()

    def _declare(self, slot: str, host: HostHealth, state: str) -> None:
        host.state = state
        host.declared = host.declared or f"{state}: {host.reason()}"
        self.stats.inc_value(f"linkhealth/host_health/{state}")
        logger.warning(
            "%s is %s (%s): probing it one request at a time; its URLs that wait through a "
            "failed probe are settled without a request", slot, state, host.reason())

    def _settle(self, request: Request) -> None:
        host = self.hosts[request.meta["linkhealth_settle"]]
        if host.state is None:  # it answered meanwhile
            return
        host.settled += 1
        self.stats.inc_value("linkhealth/host_health/settled")
        attempts = request.meta.get("retry_times", 0) + request.meta.get("linkhealth_rate_limited", 0)
        verdict = "not retried" if attempts else "not requested"
        request.meta["linkhealth_host_state"] = (host.state, host.reason())
        raise SettledByHost(f"host {host.state}: {host.reason()}; {verdict}",
                            host.outcome(), attempts)

    # -- the record ---------------------------------------------------------------------

    def reports(self) -> list[HostItem]:
        """One item per host that was declared unresponsive or refusing in this run."""
        return [HostItem(slot, state=host.declared, reopened=host.reopened,
                         settled=host.settled, probes=host.probes)
                for slot, host in self.hosts.items() if host.declared]
