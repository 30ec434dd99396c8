"""The HTTP(S) download handler: the private-address guard, TLS verification, a lean client.

* the private-address guard runs here, inside the per-host download slot
  (see ``crawler/fetch/guard.py``), and returns the addresses it vetted;
* the request goes to one of those addresses through ``crawler/fetch/client.py``, which
  gives the same responses and failures as Scrapy's HTTP/1.1 client with much less work
  per request. Requests through a proxy (``meta["proxy"]``, whose names the guard leaves
  to the proxy) or from a bound local address (``DOWNLOAD_BIND_ADDRESS``,
  ``meta["bindaddress"]``), and every request when ``LINKHEALTH_LEAN_CLIENT`` is off, go
  through Scrapy's client;
* TLS uses ``crawler.fetch.tls.VerifyingContextFactory`` (certificates verified
  against the system store plus ``LINKHEALTH_CA_BUNDLE``) in both;
* ``request.meta["linkhealth_address"]`` says which vetted address the request went to,
  so that a TLS diagnosis connects there and looks nothing up.

URLs reach the server unchanged: ``//`` in paths and escapes such as ``%2C`` are sent
byte-exact.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import ResponseDataLossError
from scrapy.utils.asyncio import is_asyncio_available
from scrapy.utils.defer import maybe_deferred_to_future

from crawler.core.compat import get_dataloss_msg, use_tls_policy, wrap_twisted_exceptions
from crawler.fetch.client import LeanHTTPClient
from crawler.fetch.guard import AddressGuard
from crawler.fetch.tls import VerifyingContextFactory

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)


class GuardedHTTPDownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        tls_policy = VerifyingContextFactory.from_crawler(crawler)
        use_tls_policy(self, tls_policy)  # Scrapy's client verifies as the lean one does
        self.guard = AddressGuard.from_crawler(crawler)
        self.bind_address = crawler.settings.get("DOWNLOAD_BIND_ADDRESS")
        self.dataloss_warned = False
        self.client: LeanHTTPClient | None = None
        if crawler.settings.getbool("LINKHEALTH_LEAN_CLIENT"):
            self.client = LeanHTTPClient.from_crawler(crawler, tls_policy)
        # A Deferred is awaited as it is on Twisted's own reactors, as a Future on asyncio's.
        self._awaitable = maybe_deferred_to_future if is_asyncio_available() else _itself

    async def download_request(self, request: Request) -> Response:
        # The first attempt stamps the start of the check; retries and redirects keep it.
        request.meta.setdefault("linkhealth_started", time.monotonic())
        addresses = await self.guard.check(request)
        meta = request.meta
        # Where the request goes, for the TLS diagnosis (crawler/fetch/tls_diagnosis.py): an
        # address the guard vetted (the lean client puts the one it dials); none via a proxy.
        meta["linkhealth_address"] = addresses[0] if addresses else None
        if self.client is None or self.bind_address or meta.get("proxy") or meta.get("bindaddress"):
            return await super().download_request(request)
        try:
            return await self._awaitable(self.client.fetch(request, addresses))
        except ResponseDataLossError:
            if not self.dataloss_warned:
                logger.warning(get_dataloss_msg(request.url))
                self.dataloss_warned = True
            raise
        except Exception:
            with wrap_twisted_exceptions():  # Twisted's errors as Scrapy's, as its handler does
                raise

    async def close(self) -> None:
        if self.client is not None:
            self.client.close()
        await super().close()


def _itself(deferred: Deferred) -> Deferred:
    return deferred
