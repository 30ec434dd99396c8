"""HEAD first; any non-2xx answer to HEAD is confirmed with GET before it is judged.

Many servers answer HEAD wrongly (405, 404, 403, 5xx). The GET starts again
from the URL as written, so the recorded redirect chain is the GET's own.
Placed after the redirect and retry middlewares in the response path: it sees
the end of a HEAD redirect chain, and a HEAD answered 429/503 has already been
retried (honouring ``Retry-After``); that GET is then sent once, not retried
all over again. Meta key ``linkhealth_head_status`` keeps what HEAD said.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

from crawler.policy.follow_up import next_url

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.statscollectors import StatsCollector

# The HEAD's redirect chain and retries are its own: the GET starts again from the URL as
# written (what described the HEAD's last URL and answer goes too: crawler.policy.follow_up).
_HEAD_META = ("redirect_times", "redirect_ttl", "redirect_urls", "redirect_reasons", "retry_times")


class HeadFallbackMiddleware:
    def __init__(self, stats: StatsCollector, retried_statuses: set[int]):
        self.stats = stats
        self.retried_statuses = retried_statuses

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HeadFallbackMiddleware:
        if crawler.settings.getbool("LINKHEALTH_ARCHIVE"):
            raise NotConfigured("archiving is on: every check is a GET")
        if not crawler.settings.getbool("LINKHEALTH_HEAD_FIRST"):
            raise NotConfigured("LINKHEALTH_HEAD_FIRST is off: every check is a GET")
        codes = {int(code) for code in crawler.settings.getlist("RETRY_HTTP_CODES")}
        return cls(crawler.stats, codes)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.method != "HEAD" or 200 <= response.status < 300:
            return response
        self.stats.inc_value(f"linkhealth/head_fallback/{response.status}")
        get = get_instead_of_head(request, response.status)
        if response.status in self.retried_statuses:
            get.meta["max_retry_times"] = 0
        return get


def get_instead_of_head(request: Request, head_status: int) -> Request:
    meta = {k: v for k, v in request.meta.items() if k not in _HEAD_META}
    meta["linkhealth_head_status"] = head_status
    return next_url(request.replace(
        url=request.meta.get("linkhealth_url", request.url), method="GET",
        meta=meta, dont_filter=True), request)
