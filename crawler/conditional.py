"""Conditional requests: ask only for what changed since the last snapshot.

For a URL with an archived snapshot, its ``ETag`` and ``Last-Modified`` are sent
as ``If-None-Match`` / ``If-Modified-Since``. A ``304`` answer is ``ok`` and stores
nothing new (the check points at the existing snapshot).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

    from crawler.history import History


class ConditionalRequestMiddleware:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self._history: History | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalRequestMiddleware:
        if not crawler.settings.getbool("LINKHEALTH_ARCHIVE"):
            raise NotConfigured("archiving is off: nothing to compare with")
        return cls(crawler)

    @property
    def history(self) -> History:
        if self._history is None:
            from crawler.pipelines import StorePipeline

            self._history = self.crawler.get_item_pipeline(StorePipeline).history
        return self._history

    def process_request(self, request: Request) -> None:
        key = request.meta.get("linkhealth_key")
        if request.method != "GET" or key is None or request.meta.get("linkhealth_service"):
            return
        last = self.history.snapshots.get(key)
        if last is None:
            return
        if last.etag:
            request.headers.setdefault(b"If-None-Match", last.etag)
        if last.last_modified:
            request.headers.setdefault(b"If-Modified-Since", last.last_modified)
