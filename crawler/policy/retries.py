"""Retries with exponential backoff that wait in the scheduler, and ``Retry-After`` parsing.

Scrapy's ``RetryMiddleware`` decides *whether* to retry (``RETRY_TIMES``,
``RETRY_HTTP_CODES``, ``RETRY_EXCEPTIONS``) and builds the retry request; it retries at
once. This subclass makes the retry wait ``BASE * 2**attempt`` seconds with jitter (capped
by ``LINKHEALTH_RETRY_BACKOFF_MAX``), and the wait happens in the scheduler
(``meta["linkhealth_not_before"]``, honoured by ``crawler.policy.host_queue``). Nothing sleeps
inside the middleware chain: Scrapy keeps a request in the downloader's active set, which
is the crawl's global ``CONCURRENT_REQUESTS`` budget, until the chain returns, so a
sleeping retry held a place every other host could have used.

Rate-limit answers (429, a 503 that is not a bot wall) are retried by
``crawler.policy.host_pacing`` before they get here: it paces their host, honouring
``Retry-After``. A name that does not exist (``HostNotFound``) and a refused TLS
certificate are not retried.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware

from crawler.core.errors import HostNotFound
from crawler.core.failures import is_tls_failure
from crawler.policy.follow_up import next_attempt

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response


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


_Result = TypeVar("_Result", bound="Request | Response | None")


class BackoffRetryMiddleware(RetryMiddleware):
    backoff_base: float  # seconds; read in from_crawler (RetryMiddleware's __init__ is Scrapy's)
    backoff_max: float

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        middleware = super().from_crawler(crawler)
        settings = crawler.settings
        middleware.backoff_base = settings.getfloat("LINKHEALTH_RETRY_BACKOFF_BASE")
        middleware.backoff_max = settings.getfloat("LINKHEALTH_RETRY_BACKOFF_MAX")
        return middleware

    # The overrides differ from Scrapy 2.19's signatures, which keep the deprecated ``spider``
    # argument: the current API, which Scrapy calls when a method does not take it, has none.
    def process_response(  # type: ignore[override]
            self, request: Request, response: Response) -> Request | Response:
        return self._later(request, super().process_response(request, response))

    def process_exception(  # type: ignore[override]
            self, request: Request, exception: Exception) -> Request | Response | None:
        if isinstance(exception, HostNotFound) or is_tls_failure(exception):
            return None  # a missing name or a refused certificate does not heal in seconds
        return self._later(request, super().process_exception(request, exception))

    def _later(self, request: Request, result: _Result) -> _Result:
        """A retry waits its backoff in the scheduler, without what its predecessor's answer left."""
        if isinstance(result, Request):
            result.meta["linkhealth_not_before"] = time.monotonic() + self.delay(request)
            next_attempt(result)
        return result

    def delay(self, request: Request) -> float:
        """Seconds to wait before the next attempt of ``request``."""
        attempt = request.meta.get("retry_times", 0)
        backoff = self.backoff_base * 2 ** attempt * random.uniform(1.0, 1.25)
        return min(backoff, self.backoff_max)
