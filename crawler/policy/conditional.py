"""Conditional requests: ask only for what changed since the last snapshot, of that URL only.

A snapshot's ``ETag`` and ``Last-Modified`` are the validators of the URL that served it
(its final URL), and of no other. A request is sent ``If-None-Match`` /
``If-Modified-Since`` only from a snapshot whose final URL is the request's own URL:

* the checked URL's last snapshot, when it was served at that URL (no redirect then);
* on a redirect hop to B, the checked URL's last snapshot when it was served at B (the
  link moved to B in an earlier run), else B's own last snapshot when the site links to B
  too. Otherwise B is asked unconditionally.

The snapshot the validators came from is kept in ``request.meta["linkhealth_validated"]``:
a ``304`` is ``ok`` and stores nothing new, and the check points at that snapshot, the
copy of the URL that answered. ``crawler.policy.follow_up`` drops both the headers and the meta
key when a redirect leads elsewhere, so URL A's validators never reach B (issue 14).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

from crawler.core.urls import normalise
from crawler.policy.follow_up import CONDITIONAL_HEADERS
from crawler.run.context import RunContext

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

    from crawler.store.history import History, LastSnapshot


class ConditionalRequestMiddleware:
    def __init__(self, crawler: Crawler):
        self.context = RunContext.of(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalRequestMiddleware:
        if not crawler.settings.getbool("LINKHEALTH_ARCHIVE"):
            raise NotConfigured("archiving is off: nothing to compare with")
        return cls(crawler)

    @property
    def history(self) -> History:
        return self.context.history  # loaded when the run opens

    def process_request(self, request: Request) -> None:
        key = request.meta.get("linkhealth_key")
        if request.method != "GET" or key is None or request.meta.get("linkhealth_service"):
            return
        snapshot = self.validators_for(request, key)
        if snapshot is None:
            return
        for name in CONDITIONAL_HEADERS:  # whoever set them, they were not this URL's
            request.headers.pop(name, None)
        if snapshot.etag:
            request.headers[b"If-None-Match"] = snapshot.etag
        if snapshot.last_modified:
            request.headers[b"If-Modified-Since"] = snapshot.last_modified
        request.meta["linkhealth_validated"] = snapshot.id

    def validators_for(self, request: Request, key: str) -> LastSnapshot | None:
        """The snapshot served at ``request.url`` that has validators, or None."""
        snapshots = self.history.snapshots
        url = request.url
        candidates: tuple[LastSnapshot | None, ...]
        if "redirect_urls" in request.meta:  # a hop: this URL's own key is not the check's
            candidates = (snapshots.get(key), snapshots.get(here := normalise(url)))
            key = here
        else:
            candidates = (snapshots.get(key),)
        for snapshot in candidates:
            if snapshot is not None and snapshot.has_validators and snapshot.served_at(url, key):
                return snapshot
        return None
