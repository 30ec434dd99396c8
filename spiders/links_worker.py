"""The ``links-worker`` spider: check URLs taken from a distributed run's Redis frontier.

    scrapy crawl links-worker [-a idle_exit=SECONDS]   # LINKHEALTH_REDIS_URL, _SECRET in the environment

It reads no site and opens no database: requests come from the frontier that
``scrapy crawl links`` seeds (with the same two variables), go through the same downloader
middlewares, are judged by the same ``parse``/``failed`` callbacks as the ``links``
spider, and each CheckItem goes back through Redis (``crawler.distributed.worker``).
With ``-a idle_exit=N`` the worker stops after N seconds without any run to work on
(0, the default: it waits for runs forever).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import scrapy

from spiders.links import LinksSpider

if TYPE_CHECKING:  # imported when used: redis costs 93 ms at every `scrapy` start otherwise
    from crawler.distributed.worker import ResultPipeline


class LinksWorkerSpider(scrapy.Spider):
    uses_database = False  # scrapy crawl takes no database lock for it
    name = "links-worker"

    parse = LinksSpider.parse
    failed = LinksSpider.failed
    _done = LinksSpider._done

    def __init__(self, idle_exit: str = "0", *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.idle_exit = float(idle_exit)

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        settings.set("SCHEDULER", "crawler.distributed.worker.WorkerScheduler", priority="spider")
        settings.set("ITEM_PIPELINES", {"crawler.distributed.worker.ResultPipeline": 300},
                     priority="spider")
        # The coordinator adds If-None-Match/If-Modified-Since (it holds the snapshots);
        # Wayback lookups are made by the coordinator when it ingests a failing check.
        middlewares = dict(settings.getdict("DOWNLOADER_MIDDLEWARES"))
        middlewares["crawler.policy.conditional.ConditionalRequestMiddleware"] = None
        settings.set("DOWNLOADER_MIDDLEWARES", middlewares, priority="spider")
        settings.set("LINKHEALTH_WAYBACK", False, priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> LinksWorkerSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        s = crawler.settings
        spider.archive = s.getbool("LINKHEALTH_ARCHIVE")
        spider.archive_types = s.getlist("LINKHEALTH_ARCHIVE_TYPES")
        spider.archive_cap = s.getint("LINKHEALTH_ARCHIVE_MAX_BYTES")
        spider.wayback = False
        return spider

    @functools.cached_property
    def results(self) -> ResultPipeline:
        """Where checks are handed back to the frontier (``record(item)``)."""
        from crawler.distributed.worker import ResultPipeline

        return self.crawler.get_item_pipeline(ResultPipeline)

    def _wayback_lookup(self, item: Any) -> Any:
        return iter(())

    async def start(self) -> AsyncIterator[Any]:
        return
        yield
