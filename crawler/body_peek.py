"""Read only as much of a GET body as classification needs.

HTML bodies are cut after ``LINKHEALTH_BODY_PEEK_BYTES`` (enough for a title
and a "not found" heading); any other content type is not downloaded at all:
its status and headers decide. Uses Scrapy's ``StopDownload(fail=False)``, so
the callback gets the partial response with the ``download_stopped`` flag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import StopDownload

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Headers

PEEKED_TYPES = (b"text/html", b"application/xhtml+xml")


class BodyPeek:
    def __init__(self, limit: int):
        self.limit = limit

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BodyPeek:
        extension = cls(crawler.settings.getint("LINKHEALTH_BODY_PEEK_BYTES"))
        crawler.signals.connect(extension.headers_received, signal=signals.headers_received)
        crawler.signals.connect(extension.bytes_received, signal=signals.bytes_received)
        return extension

    def headers_received(self, headers: Headers, request: Request, **kwargs: Any) -> None:
        content_type = (headers.get(b"Content-Type") or b"").lower()
        if not content_type.startswith(PEEKED_TYPES) and content_type:
            raise StopDownload(fail=False)

    def bytes_received(self, data: bytes, request: Request, **kwargs: Any) -> None:
        received = request.meta.get("linkhealth_peeked", 0) + len(data)
        request.meta["linkhealth_peeked"] = received
        if received >= self.limit:
            raise StopDownload(fail=False)
