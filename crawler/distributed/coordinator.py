"""The coordinator: ``LINKHEALTH_REDIS_URL=redis://... scrapy crawl links -a source=DIR``.

``CoordinatorScheduler`` is Scrapy's scheduler (unchanged when ``LINKHEALTH_REDIS_URL``
is empty). With a Redis URL, the spider still reads the site and the store pipeline
still records documents and refs; each URL request is pushed to the run's frontier
instead of being downloaded here (with the conditional headers of its last snapshot,
which only this process knows). Wayback lookups stay local. While it waits, a loop
reads the workers' results from Redis and feeds them to the store pipeline (the single
SQLite writer); a result leaves Redis only once its batch is committed. The spider
closes when the site is read, every seeded URL has a result and every result is
ingested.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.core.scheduler import Scheduler
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.task import LoopingCall

from crawler.distributed.frontier import (
    REDIS_ERRORS,
    Frontier,
    RedisOutage,
    Rejections,
    connect,
    describe_url,
    fingerprint,
    host_of,
    namespace,
    setting,
)
from crawler.distributed.wire import Wire, WireError, run_secret
from crawler.run.context import RunContext

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

SEED_BATCH = 200
INGEST_BATCH = 500
# Coordinator counters kept in Redis, so `scrapy ingest` can close the run with them.
SAVED_STATS = ("documents", "parse_errors", "skipped_files", "refs", "unique_urls", "requested",
               "skipped", "resumed_done")


class CoordinatorScheduler(Scheduler):
    crawler: Crawler  # Optional in Scheduler; from_crawler always gives one

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CoordinatorScheduler:
        scheduler = super().from_crawler(crawler)
        scheduler.setup(crawler)
        return scheduler

    def setup(self, crawler: Crawler) -> None:
        s = crawler.settings
        self.crawler = crawler
        self.redis_url = setting(s, "LINKHEALTH_REDIS_URL")
        self.distributed = bool(self.redis_url)
        if not self.distributed:
            return
        self.prefix = setting(s, "LINKHEALTH_REDIS_PREFIX")
        self.outage = RedisOutage(self.redis_url, setting(s, "LINKHEALTH_REDIS_WAIT", "float"))
        self.poll = max(0.05, setting(s, "LINKHEALTH_REDIS_POLL", "float"))
        self.db_path = s.get("LINKHEALTH_DB")
        self.secret = run_secret(setting(s, "LINKHEALTH_REDIS_SECRET"))
        self.body_limit = s.getint("LINKHEALTH_ARCHIVE_MAX_BYTES")
        self.rejected = Rejections(crawler.stats, "result")
        self.ingest_only = False
        self.saved = False
        self.seeding_complete = True
        self.server = connect(self.redis_url)
        self.frontier: Frontier | None = None
        self.wire: Wire | None = None
        self.pending: list[tuple[str, str, bytes]] = []
        self.seeding_done = False
        self.ingested: set[str] = set()
        self.ingested_now = 0
        self.stopping = False
        self.conditional = None
        if s.getbool("LINKHEALTH_ARCHIVE"):
            from crawler.policy.conditional import ConditionalRequestMiddleware
            self.conditional = ConditionalRequestMiddleware(crawler)
        self.loop = LoopingCall(lambda: deferred_from_coro(self._tick()))
        crawler.signals.connect(self._idle, signal=signals.spider_idle)
        crawler.signals.connect(self._opened, signal=signals.spider_opened)

    # -- lifecycle --------------------------------------------------------------

    def _opened(self, spider: Any) -> None:
        self.spider_ = spider
        self.loop.start(self.poll, now=False)

    @property
    def context(self) -> RunContext:
        return RunContext.of(self.crawler)

    def _frontier(self) -> Frontier | None:
        """The run's namespace, once the store pipeline has opened the run."""
        if self.frontier is None:
            run_id = self.context.run_id
            if run_id is None:
                return None
            ns = namespace(self.prefix, self.db_path, run_id)
            self.frontier = Frontier(self.server, self.prefix, ns)
            self.wire = Wire(self.secret, ns, self.body_limit)
            self.ingested = set(self.context.history.done_in_run)
            if getattr(self.spider_, "ingest_only", False):
                self._restore_stats()
            logger.info("Distributed run %s: frontier %s at %s", run_id, ns,
                        describe_url(self.redis_url))
        return self.frontier

    def _register(self) -> None:
        f = self.frontier
        run_id = self.context.run_id
        assert f is not None and run_id is not None  # registered once the run has its frontier
        if not f.exists():
            # A new run, or Redis lost this one (restarted without persistence): keys left
            # under the namespace (a late worker result) would mislead; start clean.
            f.drop()
        pipe = self.server.pipeline(transaction=False)
        pipe.hsetnx(f.k["meta"], "run_id", run_id)
        pipe.hsetnx(f.k["meta"], "db", str(self.db_path))
        pipe.sadd(f.active, f.ns)
        pipe.execute()
        self.registered = True

    def close(self, reason: str) -> Any:
        if self.distributed:
            if self.loop.running:
                self.loop.stop()
            self._report(reason)
        return super().close(reason)

    def _report(self, reason: str) -> None:
        f = self.frontier
        seeded: int | None
        done: int | None
        waiting: int | None
        try:
            seeded, done, waiting = f.progress() if f else (0, 0, 0)
        except REDIS_ERRORS:
            seeded = done = waiting = None
        if reason in ("finished", "incomplete") and f is not None:
            try:
                f.drop()
            except REDIS_ERRORS as exc:
                logger.warning("Could not delete the run's Redis keys: %s", exc)
        if reason == "incomplete":
            logger.error("Distributed run stopped (incomplete): %d results ingested; "
                         "`scrapy crawl links -a source=DIR -a resume=1` checks the URLs without "
                         "one", len(self.ingested))
            return
        if reason == "finished" and f is not None:
            logger.info("Distributed run done: %d results ingested here, %d in the run%s",
                        self.ingested_now, len(self.ingested),
                        f"; {self.rejected.count} entries from Redis rejected (see above)"
                        if self.rejected.count else "")
            return
        if seeded is None:
            logger.error("Distributed run stopped (%s) with Redis unreachable: %d results "
                         "ingested into the database (%d by this process); the frontier state "
                         "is unknown. When Redis is back: `scrapy ingest` (results kept in "
                         "Redis), or `scrapy crawl links -a resume=1` to re-seed what is missing",
                         reason, len(self.ingested), self.ingested_now)
        else:
            advice = ("`scrapy crawl links -a source=DIR -a resume=1` seeds again what has no check"
                      if reason == "redis_lost_frontier" else
                      "continue with `scrapy ingest` (workers keep working on the frontier)")
            logger.error("Distributed run stopped (%s): %d URLs seeded, %d done by workers, "
                         "%d results waiting in Redis, %d ingested into the database; %s",
                         reason, seeded, done, waiting, len(self.ingested), advice)

    # -- the scheduler interface ---------------------------------------------------

    def enqueue_request(self, request: Request) -> bool:
        if (not self.distributed or request.meta.get("linkhealth_service")
                or "linkhealth_key" not in request.meta):
            return super().enqueue_request(request)
        if self._frontier() is None:
            return super().enqueue_request(request)
        assert self.wire is not None  # set with the frontier
        if self.conditional is not None:
            self.conditional.process_request(request)
        host = host_of(request.url)
        try:
            frame = self.wire.dump_request(request, host)
        except WireError as exc:  # checked here, in the coordinator, as a single crawl would
            logger.warning("Checking %s in the coordinator: %s", request.url, exc)
            return super().enqueue_request(request)
        self.pending.append((fingerprint(request.meta["linkhealth_key"]), host, frame))
        if len(self.pending) >= SEED_BATCH:
            self._flush_seeds()
        self.crawler.stats.inc_value("linkhealth/distributed/seeded")
        return True

    def _flush_seeds(self) -> bool:
        if not self.pending or self.frontier is None:
            return True
        try:
            if not getattr(self, "registered", False):
                self._register()
            self.frontier.seed(self.pending)
        except REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return False
        self.pending = []
        self._redis_ok()
        return True

    # -- waiting: ingest results -------------------------------------------------------

    def _idle(self, spider: Any) -> None:
        if self.distributed and not self.stopping:
            self.seeding_done = True
            raise DontCloseSpider

    async def _tick(self) -> None:
        if self.stopping or (frontier := self._frontier()) is None:
            return
        assert self.wire is not None  # set with the frontier
        if not self._flush_seeds():
            return
        try:
            if not getattr(self, "registered", False):
                self._register()
            # "seeding_done" in Redis promises `scrapy ingest` that the documents, refs
            # and local checks are committed: flush first.
            if (self.seeding_done and not self.pending and not self.ingest_only and not self.saved
                    and self.context.commit()):
                self._save_stats()
                self.saved = True
            batch = frontier.read_results(INGEST_BATCH)
        except REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return
        self._redis_ok()
        context = self.context
        rejected: dict[str, bytes] = {}
        for key, data in batch:
            if data is None or key in self.ingested:
                continue
            try:
                item = self.wire.load_result(data, key)
            except WireError as exc:
                self.rejected(f"result of {key[:200]!r}", exc)
                rejected[key] = data
                continue
            await context.record_async(item)
            for request in context.follow_ups(item):  # a Wayback lookup of a failing URL
                self.crawler.engine.crawl(request)
            self.ingested.add(key)
            self.ingested_now += 1
        if batch:
            if not context.commit():  # not committed: keep them in Redis
                return
            try:
                frontier.forget_results([key for key, _ in batch], rejected)
            except REDIS_ERRORS as exc:
                self._redis_failed(exc)
                return
        if self.seeding_done and self.crawler.engine.spider_is_idle():
            try:
                if not frontier.exists():
                    self._stop("redis_lost_frontier",
                               "Redis lost this run's frontier (restarted without persistence?)")
                    return
                seeded, done, waiting = frontier.progress()
            except REDIS_ERRORS as exc:
                self._redis_failed(exc)
                return
            no_wait = self.ingest_only and not getattr(self.spider_, "wait_for_workers", True)
            if waiting == 0 and (done >= seeded or no_wait):
                if self.ingest_only and not (self.seeding_complete and done >= seeded):
                    self._stop("ingested", f"Ingested what was waiting: {seeded} URLs seeded, "
                               f"{done} done")
                    return
                if self._incomplete(seeded):
                    return
                self.stopping = True
                logger.info("Frontier drained: %d URLs seeded, %d done", seeded, done)
                deferred_from_coro(self.crawler.engine.close_spider_async(reason="finished"))

    def _incomplete(self, seeded: int) -> bool:
        """A fresh run whose Redis counts every URL done, but not every seeded URL came back
        with a valid result (an entry altered or forged by another client): it stops as
        incomplete instead of finishing with holes, and its keys go, so that resume re-seeds."""
        if self.ingest_only or self.context.resumed_from is not None or self.ingested_now >= seeded:
            return False
        self._stop("incomplete", f"{seeded - self.ingested_now} of the {seeded} URLs seeded have "
                   "no valid result, though Redis counts them done (entries altered by another "
                   "client?)")
        return True

    def _restore_stats(self) -> None:
        """``scrapy ingest``: the run closes with the dead coordinator's counters."""
        self.ingest_only = True
        self.seeding_done = True
        assert self.frontier is not None and self.wire is not None  # _frontier() has set them
        frame = self.server.hget(self.frontier.k["meta"], "stats")
        saved: dict[str, int] = {}
        if frame is not None:
            try:
                saved = self.wire.load_stats(frame, SAVED_STATS)
            except WireError as exc:
                self.rejected("the coordinator's counters", exc)
        self.seeding_complete = bool(saved)
        if not self.seeding_complete:
            logger.warning("The coordinator died before it had seeded the whole site: the run "
                           "stays interrupted after this ingest; `scrapy crawl links -a resume=1` "
                           "seeds the rest")
        resumed = self.context.resumed_from or {}
        for name in SAVED_STATS:
            value = saved.get(name, 0)
            if name in ("requested", "skipped"):  # the pipeline adds the run's stored counts
                value -= resumed.get(name) or 0
            self.crawler.stats.set_value(f"linkhealth/{name}", max(0, value))

    def _save_stats(self) -> None:
        stats = self.crawler.stats
        values = {name: int(stats.get_value(f"linkhealth/{name}", 0)) for name in SAVED_STATS}
        assert self.frontier is not None and self.wire is not None  # saved once they are set
        # Signed: `scrapy ingest` closes the run with these counters and trusts nothing else.
        self.server.hset(self.frontier.k["meta"],
                         mapping={"seeding_done": 1, "stats": self.wire.dump_stats(values)})

    # -- Redis failures ---------------------------------------------------------------

    def _redis_ok(self) -> None:
        self.outage.ok()

    def _redis_failed(self, exc: Exception) -> None:
        waited = self.outage.failed(exc)
        if waited is not None:
            self._stop("redis_unavailable", f"Redis at {describe_url(self.redis_url)} unreachable "
                       f"for {waited:.0f}s ({exc})")

    def _stop(self, reason: str, message: str) -> None:
        if self.stopping:
            return
        self.stopping = True
        logger.error("%s; stopping the coordinator", message)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=reason))
