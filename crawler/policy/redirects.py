"""Redirects, followed as Scrapy does, with loops and long chains made explicit.

Scrapy's ``RedirectMiddleware`` keeps the chain in ``request.meta``
(``redirect_urls``, ``redirect_reasons``) and gives up past
``REDIRECT_MAX_TIMES`` with a bare ``IgnoreRequest``. This subclass raises
``TooManyRedirects`` carrying the chain instead, and stops a loop as soon as a
URL comes round a third time (a single repeat is allowed: sites that set a
cookie and redirect to the same URL are healthy). Each hop sheds what belonged to the
previous URL or its answer (``crawler.policy.follow_up``): its conditional validators above all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import Request
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import IgnoreRequest

from crawler.classify.outcomes import chain_of
from crawler.core.errors import TooManyRedirects
from crawler.policy.follow_up import next_url

if TYPE_CHECKING:
    from scrapy.http import Response


class RedirectChainMiddleware(RedirectMiddleware):
    def _engine_started(self) -> None:
        """No RefererMiddleware to look for (and warn about): a checker sends no Referer."""

    def handle_referer(self, request: Request, response: Response) -> None:
        request.headers.pop("Referer", None)

    # The override differs from Scrapy 2.19's signature, which keeps the deprecated ``spider``
    # argument: the current API, which Scrapy calls when a method does not take it, has none.
    def process_response(  # type: ignore[override]
            self, request: Request, response: Response) -> Request | Response:
        try:
            result = super().process_response(request, response)
        except IgnoreRequest as exc:
            raise TooManyRedirects(
                f"more than {self.max_redirect_times} redirects",
                chain_of(request, response)) from exc
        if not isinstance(result, Request):
            return result
        if result.meta["redirect_urls"].count(result.url) >= 2:
            raise TooManyRedirects(f"redirect loop back to {result.url}", chain_of(request, response))
        return next_url(result, request)
