"""Retries with exponential backoff, honouring ``Retry-After`` on 429 and 503.

Scrapy's ``RetryMiddleware`` decides *whether* to retry (``RETRY_TIMES``,
``RETRY_HTTP_CODES``, ``RETRY_EXCEPTIONS``) and builds the retry request; it
retries at once and ignores ``Retry-After``. This subclass waits before handing
the retry back: ``Retry-After`` when the server sent one (capped by
``LINKHEALTH_RETRY_AFTER_MAX``), else ``BASE * 2**attempt`` with jitter, capped
by ``LINKHEALTH_RETRY_BACKOFF_MAX``. The wait holds no per-host download slot.
A name that does not exist (``HostNotFound``) and a refused TLS certificate are
not retried.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.utils.asyncio import sleep

from crawler.errors import HostNotFound
from crawler.follow_up import next_attempt
from crawler.tls import is_tls_failure

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

RETRY_AFTER_STATUSES = frozenset({429, 503})


def parse_retry_after(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        middleware = super().from_crawler(crawler)
        settings = crawler.settings
        middleware.backoff_base = settings.getfloat("LINKHEALTH_RETRY_BACKOFF_BASE")
        middleware.backoff_max = settings.getfloat("LINKHEALTH_RETRY_BACKOFF_MAX")
        middleware.retry_after_max = settings.getfloat("LINKHEALTH_RETRY_AFTER_MAX")
        return middleware

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        result = super().process_response(request, response)
        if isinstance(result, Request):
            await sleep(self.delay(request, response))
            next_attempt(result)
        return result

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if isinstance(exception, HostNotFound) or is_tls_failure(exception):
            return None  # a missing name or a refused certificate does not heal in seconds
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await sleep(self.delay(request, None))
            next_attempt(result)
        return result

    def delay(self, request: Request, response: Response | None) -> float:
        """Seconds to wait before the next attempt of ``request``."""
        if response is not None and response.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
            if retry_after is not None:
                stats = self.crawler.stats
                stats.inc_value("linkhealth/retry_after/honoured")
                if retry_after > self.retry_after_max:
                    stats.inc_value("linkhealth/retry_after/capped")
                return min(retry_after, self.retry_after_max)
        attempt = request.meta.get("retry_times", 0)
        backoff = self.backoff_base * 2 ** attempt * random.uniform(1.0, 1.25)
        return min(backoff, self.backoff_max)
