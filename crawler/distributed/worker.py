"""The worker side: ``LINKHEALTH_REDIS_URL=redis://... scrapy crawl links-worker``.

``WorkerScheduler`` replaces Scrapy's scheduler. A poll loop (``LINKHEALTH_REDIS_POLL``)
claims hosts of any active run (``PREFIX:active``), at most CONCURRENT_REQUESTS /
CONCURRENT_REQUESTS_PER_DOMAIN hosts at a time, renews their leases every third of
``LINKHEALTH_REDIS_LEASE``, and takes at most CONCURRENT_REQUESTS_PER_DOMAIN requests of
each owned host into flight. Retries, redirects and HEAD-then-GET follow-ups that the
downloader middlewares schedule stay local: they belong to the request taken. Taken
requests wait in a local ``crawler.policy.host_queue.HostQueue``, as in a single-process crawl, until
their host may take them (a rate-limited host's pace, a retry's backoff, the probe of an
unresponsive host).

Requests arrive as signed JSON frames (``crawler.distributed.wire``): one that does not
verify or fit the schema is counted, logged and dropped from the host's taken list, and
the worker goes on. ``ResultPipeline`` sends each CheckItem back (a signed frame, the
Capture body inside, zstd-compressed) in the same atomic script that releases the
request and takes the next one of the host. The first result of a URL in a run wins (HSETNX), so a request done twice
(after a lease was taken over) is recorded once.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.core.scheduler import BaseScheduler
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.misc import load_object
from twisted.internet.task import LoopingCall

from crawler.core.items import CheckItem
from crawler.distributed.frontier import (
    REDIS_ERRORS,
    Frontier,
    RedisOutage,
    Rejections,
    connect,
    describe_url,
    is_namespace,
    setting,
    text,
)
from crawler.distributed.wire import RequestData, Wire, WireError, run_secret
from crawler.policy.host_queue import HostQueue
from crawler.run.context import RunContext

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class WorkerScheduler(BaseScheduler):
    def __init__(self, crawler: Crawler):
        s = crawler.settings
        self.crawler = crawler
        self.redis_url = setting(s, "LINKHEALTH_REDIS_URL")
        if not self.redis_url:
            raise ValueError("a worker needs the frontier: LINKHEALTH_REDIS_URL=redis://HOST:PORT/DB")
        self.prefix = setting(s, "LINKHEALTH_REDIS_PREFIX")
        self.secret = run_secret(setting(s, "LINKHEALTH_REDIS_SECRET"))
        self.body_limit = s.getint("LINKHEALTH_ARCHIVE_MAX_BYTES")
        self.rejected = Rejections(crawler.stats, "request")
        self.rejected_names = Rejections(crawler.stats, "name")
        self.foreign: set[str] = set()  # names in PREFIX:active that are no run's namespace
        self.lease_ms = int(setting(s, "LINKHEALTH_REDIS_LEASE", "float") * 1000)
        self.outage = RedisOutage(self.redis_url, setting(s, "LINKHEALTH_REDIS_WAIT", "float"))
        self.poll = max(0.02, setting(s, "LINKHEALTH_REDIS_POLL", "float"))
        self.per_host = s.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        self.max_hosts = max(1, s.getint("CONCURRENT_REQUESTS") // max(1, self.per_host))
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.server = connect(self.redis_url)
        self.local: HostQueue | None = None  # the requests taken, made when the spider opens
        self.frontiers: dict[str, Frontier] = {}
        self.wires: dict[str, Wire] = {}
        self.owned: set[tuple[str, str]] = set()
        self.inflight: Counter[tuple[str, str]] = Counter()
        self.leases: dict[str, list[tuple[str, str, bytes]]] = defaultdict(list)
        self.unsent: list[tuple[Any, ...]] = []  # results not handed back yet (Redis down)
        self.last_renew = 0.0
        self.idle_since = time.monotonic()
        self.stopping = False
        self.loop = LoopingCall(self._tick)
        crawler.signals.connect(self._idle, signal=signals.spider_idle)
        RunContext.of(crawler).records_with(self)  # the spider's checks come back here

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WorkerScheduler:
        return cls(crawler)

    def open(self, spider: Any) -> None:
        self.spider = spider
        # As in one process: a request leaves when its host may take it (its pace after
        # rate-limit answers, a retry's backoff, a probe of an unresponsive host).
        self.local = HostQueue(self.crawler, load_object(
            self.crawler.settings["SCHEDULER_MEMORY_QUEUE"]), "")
        self.idle_exit = float(getattr(spider, "idle_exit", 0) or 0)
        logger.info("Worker %s pulling from %s (leases %.0fs, %d per host, up to %d hosts)",
                    self.worker_id, describe_url(self.redis_url), self.lease_ms / 1000,
                    self.per_host, self.max_hosts)
        self.loop.start(self.poll, now=True)

    def close(self, reason: str) -> None:
        if self.loop.running:
            self.loop.stop()
        by_ns: dict[str, list[str]] = defaultdict(list)
        for ns, host in self.owned:
            by_ns[ns].append(host)
        try:
            self._send_unsent()
            for ns, hosts in by_ns.items():
                self.frontiers[ns].expire(self.worker_id, hosts)
        except REDIS_ERRORS:
            pass  # the leases expire on their own
        stats = self.crawler.stats
        logger.info("Worker %s stopped (%s): %d results handed back", self.worker_id, reason,
                    stats.get_value("linkhealth/distributed/results", 0))

    # -- Scrapy's side: requests of the hosts we own ----------------------------------

    def has_pending_requests(self) -> bool:
        return bool(self.local)

    def enqueue_request(self, request: Request) -> bool:
        assert self.local is not None  # Scrapy enqueues once the spider has opened
        self.local.push(request)
        return True

    def next_request(self) -> Request | None:
        assert self.local is not None  # Scrapy asks once the spider has opened
        return self.local.pop()

    def _idle(self, spider: Any) -> None:
        if not self.stopping:
            raise DontCloseSpider

    # -- Redis's side ----------------------------------------------------------------------

    def _frontier(self, ns: str) -> Frontier:
        if ns not in self.frontiers:
            self.frontiers[ns] = Frontier(self.server, self.prefix, ns)
            self.wires[ns] = Wire(self.secret, ns, self.body_limit)
        return self.frontiers[ns]

    def _dispatch(self, ns: str, host: str, payloads: list[bytes]) -> None:
        for payload in payloads:
            try:
                data = self.wires[ns].load_request(payload, host)
            except WireError as exc:
                self.rejected(f"queue of {host[:200]!r} in {ns[:200]!r}", exc)
                self.frontiers[ns].discard(host, payload)
                continue
            request = self._request(data)
            key = data.meta["linkhealth_key"]
            self.leases[key].append((ns, host, payload))
            self.inflight[(ns, host)] += 1
            self.crawler.stats.inc_value("linkhealth/distributed/taken")
            self.crawler.engine.crawl(request)

    def _request(self, data: RequestData) -> Request:
        """The link check, with the spider's own callbacks (``wire`` allows only those)."""
        return Request(data.url, method=data.method, headers=data.headers or None,
                       callback=getattr(self.spider, data.callback),
                       errback=getattr(self.spider, data.errback),
                       meta=dict(data.meta), dont_filter=True)

    def _tick(self) -> None:
        if self.stopping:
            return
        try:
            self._send_unsent()
            self._renew()
            self._refill()
            self._claim()
        except REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return
        self.outage.ok()
        busy = self.owned or sum(self.inflight.values()) or self.local
        if busy:
            self.idle_since = time.monotonic()
        elif self.idle_exit and time.monotonic() - self.idle_since >= self.idle_exit:
            logger.info("No work for %.0fs: worker %s stops", self.idle_exit, self.worker_id)
            self._stop("finished")

    def _renew(self) -> None:
        now = time.monotonic()
        if now - self.last_renew < self.lease_ms / 3000:
            return
        self.last_renew = now
        by_ns: dict[str, list[str]] = defaultdict(list)
        for ns, host in self.owned:
            by_ns[ns].append(host)
        for ns, hosts in by_ns.items():
            for host in self._frontier(ns).renew(self.worker_id, self.lease_ms, hosts):
                logger.warning("Lease of %s lost (taken over by another worker)", host)
                self.owned.discard((ns, host))

    def _refill(self) -> None:
        for ns, host in list(self.owned):
            room = self.per_host - self.inflight[(ns, host)]
            if room <= 0:
                continue
            frontier = self._frontier(ns)
            payloads = frontier.take(host, self.worker_id, room)
            if payloads is None:  # not ours any more
                self.owned.discard((ns, host))
            elif payloads:
                self._dispatch(ns, host, payloads)
            elif not self.inflight[(ns, host)] and frontier.release(host, self.worker_id):
                self.owned.discard((ns, host))

    def _claim(self) -> None:
        room = self.max_hosts - len(self.owned)
        if room <= 0:
            return
        for raw in self.server.smembers(f"{self.prefix}:active"):
            ns = text(raw)
            if not is_namespace(self.prefix, ns):
                if ns not in self.foreign:
                    self.foreign.add(ns)
                    self.rejected_names(f"{self.prefix}:active",
                                        WireError(f"{ns[:200]!r} is no run's namespace"))
                continue
            for host, previous, back in self._frontier(ns).claim(self.worker_id, self.lease_ms, room):
                if previous:
                    logger.warning("Took over %s from %s (lease expired; %d requests it had "
                                   "taken go back to the queue)", host, previous, back)
                    self.crawler.stats.inc_value("linkhealth/distributed/takeovers")
                self.owned.add((ns, host))
                payloads = self._frontier(ns).take(host, self.worker_id, self.per_host)
                if payloads:
                    self._dispatch(ns, host, payloads)
                room -= 1
            if room <= 0:
                return

    # -- results -----------------------------------------------------------------------

    # The run context's Recorder: checks go back to the frontier, nothing else is kept.

    def record(self, item: Any) -> None:
        if isinstance(item, CheckItem):
            self.crawler.stats.inc_value("linkhealth/checked")
            self.finish(item)

    async def record_async(self, item: Any) -> None:
        self.record(item)  # the coordinator hashes and compresses captures

    def commit(self) -> bool:
        return not self.unsent

    def finish(self, item: CheckItem) -> None:
        leases = self.leases.get(item.url)
        if not leases:
            logger.warning("A result for %s that no request of ours was waiting for", item.url)
            return
        ns, host, payload = leases.pop(0)
        if not leases:
            del self.leases[item.url]
        self.inflight[(ns, host)] -= 1
        args = (ns, host, item.url, payload, self.wires[ns].dump_result(item))
        try:
            self._send(*args)
        except REDIS_ERRORS as exc:
            self.unsent.append(args)
            self._redis_failed(exc)

    def _send(self, ns: str, host: str, key: str, payload: bytes, result: bytes) -> None:
        take = 1 if (ns, host) in self.owned and not self.stopping else 0
        recorded, released, payloads = self._frontier(ns).done(
            host, self.worker_id, key, payload, result, take)
        self.crawler.stats.inc_value(
            "linkhealth/distributed/results" if recorded else "linkhealth/distributed/duplicates")
        if released:
            self.owned.discard((ns, host))
        if payloads:
            self._dispatch(ns, host, payloads)

    def _send_unsent(self) -> None:
        while self.unsent:
            self._send(*self.unsent[0])
            self.unsent.pop(0)

    def _redis_failed(self, exc: Exception) -> None:
        waited = self.outage.failed(exc)
        if waited is not None:
            logger.error("Redis at %s unreachable for %.0fs (%s); worker %s stops (%d results "
                         "not handed back; their requests return to the frontier when the "
                         "leases expire)", describe_url(self.redis_url), waited, exc,
                         self.worker_id, len(self.unsent))
            self._stop("redis_unavailable")

    def _stop(self, reason: str) -> None:
        if self.stopping:
            return
        self.stopping = True
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=reason))


class ResultPipeline:
    """Hands each check Scrapy brings through the item pipeline (one carrying a body) to
    the run context, which the worker's scheduler records with: back to the frontier (the
    worker never opens the database)."""

    def __init__(self, crawler: Crawler):
        self.context = RunContext.of(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ResultPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        self.context.record(item)
        return item
