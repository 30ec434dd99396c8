"""How much of a body is read: all of an archived one up to the cap, a peek of a page, or nothing.

Decided per response when its headers arrive (``headers_received``), and kept
in ``request.meta["linkhealth_body_cap"]``:

* archived content types (``LINKHEALTH_ARCHIVE_TYPES``): up to
  ``LINKHEALTH_ARCHIVE_MAX_BYTES``; a longer body is cut there and flagged
  ``linkhealth_truncated`` (when truncated bodies are not kept and
  ``Content-Length`` already says it is too long, only a peek is read);
* other HTML: ``LINKHEALTH_BODY_PEEK_BYTES``, enough for soft-404 detection;
* anything else: nothing, the status and headers decide.

Uses Scrapy's ``StopDownload(fail=False)``: the callback gets the partial
response. Memory per response is bounded by the cap whatever the server sends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import StopDownload

from crawler.core.media_types import matches_types, media_type

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Headers

HTML_TYPES = ("text/html", "application/xhtml+xml")
SERVICE_BODY_CAP = 1024 * 1024  # CDX answers and other lookups the crawl makes itself


class BodyLimit:
    def __init__(self, peek: int, archive: bool, types: list[str], cap: int, keep_truncated: bool):
        self.peek = peek
        self.archive = archive
        self.types = [t.lower() for t in types]
        self.cap = cap
        self.keep_truncated = keep_truncated

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BodyLimit:
        s = crawler.settings
        extension = cls(
            peek=s.getint("LINKHEALTH_BODY_PEEK_BYTES"), archive=s.getbool("LINKHEALTH_ARCHIVE"),
            types=s.getlist("LINKHEALTH_ARCHIVE_TYPES"), cap=s.getint("LINKHEALTH_ARCHIVE_MAX_BYTES"),
            keep_truncated=s.getbool("LINKHEALTH_ARCHIVE_TRUNCATED"))
        crawler.signals.connect(extension.headers_received, signal=signals.headers_received)
        crawler.signals.connect(extension.bytes_received, signal=signals.bytes_received)
        return extension

    def headers_received(self, headers: Headers, request: Request, **kwargs: Any) -> None:
        if request.method == "HEAD":
            return
        cap = self.cap_for(request, headers)
        request.meta["linkhealth_body_cap"] = cap
        if cap == 0:
            raise StopDownload(fail=False)

    def bytes_received(self, data: bytes, request: Request, **kwargs: Any) -> None:
        received = request.meta.get("linkhealth_received", 0) + len(data)
        request.meta["linkhealth_received"] = received
        cap = request.meta.get("linkhealth_body_cap")
        if cap is not None and received > cap:
            request.meta["linkhealth_truncated"] = True
            raise StopDownload(fail=False)

    def cap_for(self, request: Request, headers: Headers) -> int:
        if request.meta.get("linkhealth_service"):
            return SERVICE_BODY_CAP
        kind = media_type(headers.get(b"Content-Type"))
        html_peek = self.peek if kind in HTML_TYPES or not kind else 0
        if not (self.archive and matches_types(kind, self.types)):
            return html_peek
        if not self.keep_truncated and _declared_length(headers) > self.cap:
            request.meta["linkhealth_too_big"] = True
            return html_peek
        return self.cap


def _declared_length(headers: Headers) -> int:
    value = headers.get(b"Content-Length")
    return int(value) if value and value.strip().isdigit() else -1
