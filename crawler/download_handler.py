"""The HTTP(S) download handler: Scrapy's HTTP/1.1 handler with our connection policy.

* the private-address guard runs here, inside the per-host download slot
  (see ``crawler/private_guard.py``);
* TLS uses ``crawler.tls.VerifyingContextFactory`` (certificates verified
  against the system store plus ``LINKHEALTH_CA_BUNDLE``).

URLs go to Scrapy's agent unchanged: ``//`` in paths and escapes such as
``%2C`` reach the server byte-exact.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler

from crawler.private_guard import AddressGuard
from crawler.tls import VerifyingContextFactory

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class GuardedHTTPDownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self._contextFactory = VerifyingContextFactory.from_crawler(crawler)
        self.guard = AddressGuard.from_crawler(crawler)

    async def download_request(self, request: Request) -> Response:
        # The first attempt stamps the start of the check; retries and redirects keep it.
        request.meta.setdefault("linkhealth_started", time.monotonic())
        await self.guard.check(request)
        return await super().download_request(request)
