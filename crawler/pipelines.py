"""The store pipeline: every document and check goes to SQLite, in batches.

Items are buffered and committed ``LINKHEALTH_BATCH_SIZE`` at a time, and at
least every ``LINKHEALTH_FLUSH_SECONDS``, so a crash loses at most that much
and the reactor thread never waits on one commit per item. The run row is
opened when the spider opens and closed with its summary when it closes
(``finished``, or ``interrupted`` with the reason).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.task import LoopingCall

from crawler.items import CheckItem, DocumentItem
from crawler.store import Store, StoreError

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

RUN_COUNTERS = ("documents", "parse_errors", "skipped_files", "refs", "unique_urls", "requested")
RECORDED_SETTINGS = (
    "CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN", "DOWNLOAD_DELAY", "DOWNLOAD_TIMEOUT",
    "RETRY_TIMES", "REDIRECT_MAX_TIMES", "LINKHEALTH_HEAD_FIRST", "LINKHEALTH_ALLOW_PRIVATE",
    "LINKHEALTH_VERIFY_TLS", "LINKHEALTH_EXCLUDE", "USER_AGENT",
)


class StorePipeline:
    def __init__(self, crawler: Crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self.db_path = settings.get("LINKHEALTH_DB")
        self.batch_size = settings.getint("LINKHEALTH_BATCH_SIZE")
        self.flush_seconds = settings.getfloat("LINKHEALTH_FLUSH_SECONDS")
        self.recorded_settings = {name: settings.get(name) for name in RECORDED_SETTINGS}
        self.store: Store | None = None
        self.run_id: int | None = None
        self.documents: list[DocumentItem] = []
        self.checks: list[CheckItem] = []
        self.outcomes: Counter[str] = Counter()
        self.failed = False
        self.flusher = LoopingCall(self.flush)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        spider = self.crawler.spider
        self.store = Store(self.db_path)
        self.run_id = self.store.start_run(
            source=str(getattr(spider, "source", "")),
            base_url=getattr(spider, "base_url", None),
            settings=self.recorded_settings)
        self.stats.set_value("linkhealth/run_id", self.run_id)
        logger.info("Run %s recording into %s", self.run_id, self.db_path)
        self.flusher.start(self.flush_seconds, now=False)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, DocumentItem):
            self.documents.append(item)
        elif isinstance(item, CheckItem):
            self.checks.append(item)
            self.outcomes[item.outcome] += 1
            self.stats.inc_value(f"linkhealth/outcome/{item.outcome}")
        if len(self.documents) + len(self.checks) >= self.batch_size:
            self.flush()
        return item

    def flush(self) -> None:
        if self.store is None or self.failed or not (self.documents or self.checks):
            return
        documents, checks = self.documents, self.checks
        try:
            self.store.write_batch(self.run_id, documents, checks)
        except StoreError as exc:
            self.failed = True
            logger.error("%s; stopping the crawl (what was committed before is kept)", exc)
            self.stats.inc_value("linkhealth/store/write_error")
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="database_error"))
            return
        self.documents, self.checks = [], []
        self.stats.inc_value("linkhealth/store/batches")

    def close_spider(self) -> None:
        if self.flusher.running:
            self.flusher.stop()
        self.flush()

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.store is None:
            return
        counts = {name: self.stats.get_value(f"linkhealth/{name}", 0) for name in RUN_COUNTERS}
        status = "finished" if reason == "finished" and not self.failed else "interrupted"
        try:
            self.store.finish_run(self.run_id, status, counts, self.outcomes,
                                  error=None if status == "finished" else f"stopped: {reason}")
        except StoreError as exc:
            logger.error("Cannot close run %s: %s", self.run_id, exc)
        finally:
            self.store.close()
            self.store = None
        logger.info("Run %s %s: %s", self.run_id, status, run_summary(counts, self.outcomes))


def run_summary(counts: dict[str, int], outcomes: Counter[str]) -> str:
    """One line, lychee-style: totals first, then each outcome seen."""
    parts = [f"{counts['documents']} documents ({counts['parse_errors']} parse errors)",
             f"{counts['refs']} references", f"{counts['unique_urls']} unique URLs",
             f"{counts['requested']} requested"]
    parts += [f"{n} {outcome}" for outcome, n in sorted(outcomes.items(), key=lambda kv: -kv[1])]
    return ", ".join(parts)
