"""The store pipeline: every document, check, snapshot and Wayback lookup goes to SQLite, in batches.

Items are buffered and committed ``LINKHEALTH_BATCH_SIZE`` at a time, and at
least every ``LINKHEALTH_FLUSH_SECONDS``, so a crash loses at most that much
and the reactor thread never waits on one commit per item. The run row is
opened when the spider opens and closed with its summary when it closes
(``finished``, or ``interrupted`` with the reason). What earlier runs left
(``crawler.store.history.History``) is loaded when the pipeline opens; the archive
policy (``crawler.archive.archiver.Archiver``) runs on each check before it is buffered.
"""

from __future__ import annotations

import logging
import resource
import sqlite3
from collections import Counter
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.task import LoopingCall

from crawler.archive.archiver import Archiver
from crawler.core.durations import parse_duration
from crawler.core.items import CheckItem, DocumentItem, HostItem, UnchangedDocumentItem, WaybackItem
from crawler.run.context import RunContext
from crawler.store.database import Store, StoreError
from crawler.store.history import History

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

RUN_COUNTERS = ("documents", "parse_errors", "skipped_files", "refs", "unique_urls", "requested",
                "skipped")
ADDITIVE_COUNTERS = ("requested", "skipped", "archived_bytes")
RECORDED_SETTINGS = (
    "CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN", "DOWNLOAD_DELAY", "DOWNLOAD_TIMEOUT",
    "RETRY_TIMES", "REDIRECT_MAX_TIMES", "LINKHEALTH_HEAD_FIRST", "LINKHEALTH_ALLOW_PRIVATE",
    "LINKHEALTH_VERIFY_TLS", "LINKHEALTH_EXCLUDE", "LINKHEALTH_ARCHIVE",
    "LINKHEALTH_ARCHIVE_MAX_BYTES", "LINKHEALTH_SNAPSHOT_MIN_AGE", "LINKHEALTH_RECHECK_AFTER",
    "LINKHEALTH_WAYBACK",
)


def peak_rss_bytes() -> int:
    """This process's peak resident memory. Linux carries ``ru_maxrss`` across ``exec``, so a
    crawl started by a large process (a test runner holding 300 MB) would report its parent's
    size; ``VmHWM`` in ``/proc/self/status`` is this program's own."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class StorePipeline:
    def __init__(self, crawler: Crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self.db_path = settings.get("LINKHEALTH_DB")
        self.db_timeout = settings.getfloat("LINKHEALTH_DB_TIMEOUT")
        self.batch_size = settings.getint("LINKHEALTH_BATCH_SIZE")
        self.flush_seconds = settings.getfloat("LINKHEALTH_FLUSH_SECONDS")
        self.recorded_settings = {name: settings.get(name) for name in RECORDED_SETTINGS}
        self.archive_options: dict[str, Any] = {  # Archiver's keyword arguments
            "min_age": parse_duration(settings.get("LINKHEALTH_SNAPSHOT_MIN_AGE")),
            "level": settings.getint("LINKHEALTH_ARCHIVE_ZSTD_LEVEL"),
            "keep_truncated": settings.getbool("LINKHEALTH_ARCHIVE_TRUNCATED"),
        }
        self.context = RunContext.of(crawler)
        self.store: Store | None = None
        self.history = History()
        self.archiver: Archiver | None = None
        self.run_id: int | None = None
        self.documents: list[DocumentItem | UnchangedDocumentItem] = []
        self.checks: list[CheckItem] = []
        self.wayback: list[WaybackItem] = []
        self.hosts: list[HostItem] = []
        self.write_attempts = settings.getint("LINKHEALTH_WRITE_ATTEMPTS")
        self.write_failures = 0
        self.resumed_from: dict[str, Any] | None = None
        self.outcomes: Counter[str] = Counter()
        self.unpublished: Counter[str] = Counter()  # outcomes not yet in the stats
        self.failed = False
        self.flusher = LoopingCall(self.flush)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler)
        pipeline.context.records_with(pipeline)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        spider = self.crawler.spider
        try:
            self._open(spider)
        except (StoreError, sqlite3.Error) as exc:
            self.failed = True
            self.store = None
            logger.error("%s; stopping the crawl", exc)
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="database_error"))
            return
        self.flusher.start(self.flush_seconds, now=False)

    def _open(self, spider: Spider | None) -> None:
        self.store = Store(self.db_path, timeout=self.db_timeout)
        self.history = History.load(self.store)
        self.archiver = Archiver(self.store, self.history, self.stats, **self.archive_options)
        resumed = self.store.resume_run() if getattr(spider, "resume", False) else None
        if resumed is not None:
            self.run_id = resumed
            self.resumed_from = self.store.run(resumed)
            self.history.done_in_run = self.store.checked_in_run(resumed)
            logger.info("Resuming run %s: %d URLs already checked in it are not requested again",
                        resumed, len(self.history.done_in_run))
        else:
            if getattr(spider, "resume", False):
                logger.info("Nothing to resume: the latest run was not interrupted")
            self.run_id = self.store.start_run(
                source=str(getattr(spider, "source", "")),
                base_url=getattr(spider, "base_url", None), settings=self.recorded_settings)
        self.context.history, self.context.run_id = self.history, self.run_id
        self.context.resumed_from = self.resumed_from
        self.stats.set_value("linkhealth/run_id", self.run_id)
        logger.info("Run %s recording into %s", self.run_id, self.db_path)

    async def process_item(self, item: Any) -> Any:
        """Scrapy's way in: for a check carrying a body to archive, whose hashing and
        compression may run in a worker thread. Everything else the spider hands to
        ``record`` directly."""
        await self.record_async(item)
        return item

    async def record_async(self, item: Any) -> None:
        """Record ``item``, a check's capture hashed and compressed first (off the reactor
        thread when it is large)."""
        if isinstance(item, CheckItem) and item.capture is not None and self.archiver is not None:
            await self.archiver.prepare(item)
        self.record(item)

    def commit(self) -> bool:
        """Write what is buffered; True when nothing is left uncommitted (the run context's
        Recorder: the distributed coordinator asks before it tells Redis the seeds are in)."""
        self.flush()
        return not (self.failed or self.documents or self.checks or self.wayback or self.hosts)

    def record(self, item: Any) -> None:
        """Buffer one result (a check's capture already prepared); flush a full batch.

        The spider calls this directly for every result that needs no asynchronous work:
        through Scrapy's scraper, item pipeline and ``item_scraped`` signal each item cost
        0.55 ms of CPU (bench.reference_spider with and without an item per URL), the
        largest single cost of a checking crawl.
        """
        if isinstance(item, CheckItem):
            if item.not_modified and self.archiver is not None:
                self.archiver.not_modified(item)
            self.checks.append(item)
            self.outcomes[item.outcome] += 1
            self.unpublished[item.outcome] += 1
        elif isinstance(item, DocumentItem | UnchangedDocumentItem):
            self.documents.append(item)
        elif isinstance(item, WaybackItem):
            self.wayback.append(item)
            self.stats.inc_value(f"linkhealth/wayback/{item.status}")
        elif isinstance(item, HostItem):
            self.hosts.append(item)
        if len(self.documents) + len(self.checks) + len(self.wayback) >= self.batch_size:
            self.flush()

    def publish(self) -> None:
        """Outcome counts into the stats (``linkhealth/outcome/*``, ``linkhealth/checked``),
        once per batch rather than per check: each stats call costs two Python calls more
        in Scrapy 2.19, and they added up to 3% of a crawl's CPU."""
        if self.unpublished:
            for outcome, count in self.unpublished.items():
                self.stats.inc_value(f"linkhealth/outcome/{outcome}", count)
            self.stats.inc_value("linkhealth/checked", self.unpublished.total())
            self.unpublished.clear()

    def flush(self) -> None:
        self.publish()
        if self.store is None or self.run_id is None or self.failed or not (
                self.documents or self.checks or self.wayback or self.hosts):
            return
        documents, checks, wayback, hosts = self.documents, self.checks, self.wayback, self.hosts
        try:
            self.store.write_batch(self.run_id, documents, checks, wayback, hosts)
        except StoreError as exc:
            self._write_failed(exc)
            return
        self.write_failures = 0
        if self.archiver is not None:
            for check in checks:
                self.archiver.stored(check)
        self.documents, self.checks, self.wayback, self.hosts = [], [], [], []
        self.stats.inc_value("linkhealth/store/batches")

    def _write_failed(self, exc: StoreError) -> None:
        """Keep the batch and try again at the next flush; give up after a few tries."""
        self.write_failures += 1
        self.stats.inc_value("linkhealth/store/write_error")
        if self.write_failures < self.write_attempts:
            logger.warning("%s; keeping the batch in memory and trying again (%d/%d)",
                           exc, self.write_failures, self.write_attempts)
            return
        self.failed = True
        logger.error("%s; stopping the crawl after %d attempts (everything committed before "
                     "is kept; run again with -a resume=1 to continue)", exc, self.write_failures)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="database_error"))

    def close_spider(self) -> None:
        if self.flusher.running:
            self.flusher.stop()
        for item in self.context.host_reports():
            self.record(item)
        self.flush()

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.store is None or self.run_id is None:
            if self.store is not None:
                self.store.close()
            return
        # True peak of this process (Scrapy's memusage samples only once a minute).
        self.stats.set_value("linkhealth/peak_rss_bytes", peak_rss_bytes())
        counts = {name: self.stats.get_value(f"linkhealth/{name}", 0) for name in RUN_COUNTERS}
        counts["archived_bytes"] = self.stats.get_value("linkhealth/archive/bytes_stored", 0)
        for name in ADDITIVE_COUNTERS:  # a resumed run adds to what it did before
            counts[name] += (self.resumed_from or {}).get(name) or 0
        status = "finished" if reason == "finished" and not self.failed else "interrupted"
        summary: dict[str, int] = dict(self.outcomes)
        try:
            summary = self.store.finish_run(
                self.run_id, status, counts,
                error=None if status == "finished" else f"stopped: {reason}")
        except (StoreError, sqlite3.Error) as exc:
            logger.error("Cannot close run %s: %s", self.run_id, exc)
        finally:
            self.store.close()
            self.store = None
        logger.info("Run %s %s: %s", self.run_id, status, run_summary(counts, summary))


def run_summary(counts: dict[str, int], outcomes: dict[str, int]) -> str:
    """One line, lychee-style: totals first, then each outcome seen."""
    parts = [f"{counts['documents']} documents ({counts['parse_errors']} parse errors)",
             f"{counts['refs']} references", f"{counts['unique_urls']} unique URLs",
             f"{counts['requested']} requested", f"{counts['skipped']} skipped (checked recently)"]
    parts += [f"{n} {outcome}" for outcome, n in sorted(outcomes.items(), key=lambda kv: -kv[1])]
    return ", ".join(parts)
