"""The scheduler's queue: a request leaves only when its host may take it now.

Scrapy's downloader queues a request in its host's download slot when the slot is busy or
delayed, and a queued request counts against the crawl's global ``CONCURRENT_REQUESTS``
(Scrapy #2638: one delayed host can fill every place). Here requests wait in the scheduler
instead, per host (download slot), and one leaves when its host:

* has fewer requests in the downloader than its concurrency (the slot's, or the lower one
  of a paced host: ``crawler.policy.host_pacing``);
* is past its slot's ``DOWNLOAD_DELAY``, its pause and its pace (``crawler.policy.host_pacing``);
* is not waiting for a probe (``crawler.policy.host_health``).

When a probe of a host that gives nothing fails, every request of that host waiting here
leaves at once, marked to be settled without a request (``crawler.policy.host_health``).

A request whose ``meta["linkhealth_not_before"]`` is still ahead (a retry's backoff) waits
apart until then. Among the hosts that may take one, the one with the fewest requests in
the downloader goes first, as in Scrapy's ``DownloaderAwarePriorityQueue``; within a host,
Scrapy's priorities hold. When requests are held only by time, the engine is woken when
the first of them is due (it would otherwise ask again only when a download ends, or at
its 5-second heartbeat).

Set as ``SCHEDULER_PRIORITY_QUEUE``. Requests stay in memory: linkhealth resumes a crawl
from its database (``-a resume=1``), not from a ``JOBDIR``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from scrapy.pqueues import ScrapyPriorityQueue

from crawler.core.compat import engine_wakeup
from crawler.policy.host_health import HostHealthMiddleware
from crawler.policy.host_pacing import HostPacingMiddleware

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from twisted.internet.interfaces import IDelayedCall


class HostGate(Protocol):
    """A component with a say on when a host may take its next request."""

    def ready_at(self, slot: str) -> float: ...

    def released(self, slot: str, request: Request, now: float) -> None: ...


class HostQueue:
    @classmethod
    def from_crawler(cls, crawler: Crawler, downstream_queue_cls: type, key: str,
                     startprios: Any = None, *, start_queue_cls: type | None = None) -> HostQueue:
        return cls(crawler, downstream_queue_cls, key, startprios, start_queue_cls=start_queue_cls)

    def __init__(self, crawler: Crawler, downstream_queue_cls: type, key: str,
                 startprios: Any = None, *, start_queue_cls: type | None = None):
        if key or startprios:
            raise ValueError("linkhealth resumes from its database (-a resume=1): "
                             "run without JOBDIR")
        self.crawler = crawler
        self.downstream_queue_cls = downstream_queue_cls
        self.start_queue_cls = start_queue_cls
        self.downloader = crawler.engine.downloader
        self.default_concurrency = crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        self.slot_settings = crawler.settings.getdict("DOWNLOAD_SLOTS")
        self.queues: dict[str, ScrapyPriorityQueue] = {}
        self.later: list[tuple[float, int, Request]] = []  # (due, order, request), a heap
        self.order = itertools.count()
        self.pacing = crawler.get_downloader_middleware(HostPacingMiddleware)
        self.health = crawler.get_downloader_middleware(HostHealthMiddleware)
        self.gates: list[HostGate] = [gate for gate in (self.pacing, self.health)
                                      if gate is not None]
        self.settling: deque[Request] = deque()
        self.drained: dict[str, float] = {}  # slot -> the failed probe it was drained after
        self.wake = engine_wakeup(crawler)
        self.alarm: IDelayedCall | None = None
        self.clock = time.monotonic

    def __len__(self) -> int:
        return (sum(len(queue) for queue in self.queues.values()) + len(self.later)
                + len(self.settling))

    def close(self) -> dict[str, list[int]]:
        if self.alarm is not None and self.alarm.active():
            self.alarm.cancel()
        for queue in self.queues.values():
            queue.close()
        self.queues.clear()
        self.later.clear()
        self.settling.clear()
        return {}

    def push(self, request: Request) -> None:
        now = self.clock()
        due = request.meta.get("linkhealth_not_before")
        if due is not None and due > now:
            heapq.heappush(self.later, (due, next(self.order), request))
            self._wake_at(due)
            return
        self._queue(request)

    def _queue(self, request: Request) -> None:
        slot = self.downloader.get_slot_key(request)
        queue = self.queues.get(slot)
        if queue is None:
            queue = self.queues[slot] = ScrapyPriorityQueue(
                self.crawler, self.downstream_queue_cls, "",
                start_queue_cls=self.start_queue_cls)
        queue.push(request)

    def pop(self) -> Request | None:
        now = self.clock()
        while self.later and self.later[0][0] <= now:
            self._queue(heapq.heappop(self.later)[2])
        if self.health is not None and self.health.failed_probes:
            self._drain_failed_probes(self.health.failed_probes)
        if self.settling:
            return self.settling.popleft()
        slot, wake_at = self._next_slot(now)
        if slot is None:
            if wake_at < math.inf:
                self._wake_at(wake_at)
            return None
        queue = self.queues[slot]
        request = queue.pop()
        assert request is not None  # _next_slot picks a queue that holds requests
        if not queue:
            del self.queues[slot]
            queue.close()
        for gate in self.gates:
            gate.released(slot, request, now)
        return request

    def _drain_failed_probes(self, failed_probes: dict[str, float]) -> None:
        """Every request waiting for a host whose probe failed since its last drain leaves,
        to be settled (the retries still in their backoff too)."""
        for slot, failed_at in failed_probes.items():
            if self.drained.get(slot, -1.0) >= failed_at:
                continue
            self.drained[slot] = failed_at
            queue = self.queues.pop(slot, None)
            while queue and (request := queue.pop()) is not None:
                self._settle(request, slot)
            if queue is not None:
                queue.close()
            kept = [entry for entry in self.later
                    if self.downloader.get_slot_key(entry[2]) != slot or self._settle(entry[2], slot)]
            if len(kept) != len(self.later):
                heapq.heapify(kept)
                self.later = kept

    def _settle(self, request: Request, slot: str) -> bool:
        request.meta["linkhealth_settle"] = slot
        self.settling.append(request)
        return False

    def peek(self) -> Request | None:
        raise NotImplementedError("HostQueue holds requests by time: it has no next one to show")

    def _next_slot(self, now: float) -> tuple[str | None, float]:
        """The host with the fewest requests in the downloader among those that may take one
        now; else when the first held only by time may (inf: none is)."""
        slots = self.downloader.slots
        best, best_active = None, math.inf
        wake_at = self.later[0][0] if self.later else math.inf
        for slot in self.queues:
            active, concurrency, ready_at = self._state(slots.get(slot), slot)
            if active >= concurrency:
                continue  # a download ending wakes the engine
            if ready_at > now:
                wake_at = min(wake_at, ready_at)
                continue
            if active < best_active:
                best, best_active = slot, active
                if active == 0:
                    break
        return best, wake_at

    def _state(self, downloader_slot: Any, slot: str) -> tuple[int, int, float]:
        """(requests in the downloader, concurrency, when it may take one) of a host."""
        if downloader_slot is None:
            active, delay_until = 0, 0.0
            concurrency = self.slot_settings.get(slot, {}).get("concurrency", self.default_concurrency)
        else:
            active, concurrency = len(downloader_slot.active), downloader_slot.concurrency
            delay_until = downloader_slot.lastseen + downloader_slot.delay if downloader_slot.delay else 0.0
        ready_at = max((gate.ready_at(slot) for gate in self.gates), default=0.0)
        if self.pacing is not None:
            concurrency = self.pacing.concurrency(slot) or concurrency
        return active, concurrency, max(ready_at, delay_until)

    def _wake_at(self, when: float) -> None:
        """Wake the engine at ``when`` (monotonic), unless it is already woken earlier."""
        from twisted.internet import reactor

        delay = max(0.0, when - self.clock())
        if self.alarm is not None and self.alarm.active():
            if self.alarm.getTime() <= reactor.seconds() + delay:
                return
            self.alarm.cancel()
        self.alarm = reactor.callLater(delay, self._ring)

    def _ring(self) -> None:
        self.alarm = None
        self.wake()

