"""Scrapy's downloader statistics (``downloader/*``), counted in batches.

Scrapy's ``DownloaderStats`` makes three stats calls per request and three per
response, and serialises every request to count its bytes: 2.5% of a checking
crawl's CPU in ``bench.check_bench --profile``. This one counts the same
things in a local counter and adds them to the stats every ``PUBLISH_EVERY``
events and when the spider closes (before Scrapy dumps the stats):
``request_count``, ``request_method_count/*``, ``response_count``,
``response_status_count/*``, ``response_bytes`` (body plus status line and
headers, as Scrapy counts them), ``exception_count`` and
``exception_type_count/*``. ``request_bytes`` is not counted.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.downloadermiddlewares.stats import get_header_size, get_status_size
from scrapy.exceptions import NotConfigured
from scrapy.utils.python import global_object_name

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.statscollectors import StatsCollector

PUBLISH_EVERY = 256


class BatchedDownloaderStats:
    def __init__(self, stats: StatsCollector):
        self.stats = stats
        self.pending: Counter[str] = Counter()
        self.events = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BatchedDownloaderStats:
        if not crawler.settings.getbool("DOWNLOADER_STATS"):
            raise NotConfigured
        middleware = cls(crawler.stats)
        crawler.signals.connect(middleware.publish, signal=signals.spider_closed)
        return middleware

    def process_request(self, request: Request) -> None:
        pending = self.pending
        pending["downloader/request_count"] += 1
        pending[f"downloader/request_method_count/{request.method}"] += 1
        self._count()

    def process_response(self, request: Request, response: Response) -> Response:
        pending = self.pending
        pending["downloader/response_count"] += 1
        pending[f"downloader/response_status_count/{response.status}"] += 1
        pending["downloader/response_bytes"] += (
            len(response.body) + get_header_size(response.headers)
            + get_status_size(response.status) + 4)
        self._count()
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        pending = self.pending
        pending["downloader/exception_count"] += 1
        pending[f"downloader/exception_type_count/{global_object_name(exception.__class__)}"] += 1
        self._count()

    def _count(self) -> None:
        self.events += 1
        if self.events >= PUBLISH_EVERY:
            self.publish()

    def publish(self) -> None:
        for key, count in self.pending.items():
            self.stats.inc_value(key, count)
        self.pending.clear()
        self.events = 0
