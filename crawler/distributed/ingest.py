"""The spider of ``scrapy ingest``: no site, no requests; it reopens the dead
coordinator's run (as ``-a resume=1`` does) and lets ``CoordinatorScheduler`` ingest
the results waiting in Redis, then close the run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import scrapy


class IngestSpider(scrapy.Spider):
    name = "linkhealth-ingest"
    resume = True
    ingest_only = True

    def __init__(self, wait: str = "1", *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.wait_for_workers = str(wait).lower() in ("1", "true", "yes", "on")

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        settings.set("SCHEDULER", "crawler.distributed.coordinator.CoordinatorScheduler",
                     priority="spider")

    async def start(self) -> AsyncIterator[Any]:
        return
        yield
