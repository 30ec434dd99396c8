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
from typing import Any

import scrapy

from crawler.run.context import RunContext
from crawler.spiders.links import LinksSpider


class LinksWorkerSpider(scrapy.Spider):
    uses_database = False  # scrapy crawl takes no database lock for it
    name = "links-worker"

    parse = LinksSpider.parse
    failed = LinksSpider.failed
    _done = LinksSpider._done  # noqa: SLF001  # the links spider's callbacks, shared
    # Set by from_crawler from the settings (declared for the type checker).
    archive: bool
    archive_types: list[str]
    archive_cap: int
    wayback: bool

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
    def context(self) -> RunContext:
        """Where checks go: back to the frontier (the worker's scheduler records them)."""
        return RunContext.of(self.crawler)

    def follow_ups(self, item: Any) -> Any:
        return ()  # Wayback lookups are made by the coordinator when it ingests a check

    async def start(self) -> AsyncIterator[Any]:
        return
        yield
