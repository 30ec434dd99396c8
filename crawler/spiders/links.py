"""The ``links`` spider: read a front-matter site, check every URL it references once.

    scrapy crawl links -a source=DIR [-a base_url=URL] [-a body_links=1] [-a resume=1]

The spider only reads documents (in a worker thread, a batch at a time),
yields one request per unique URL, and turns each answer into a ``CheckItem``
with ``crawler.classify.outcomes`` (with a ``Capture`` of the body when archiving).
Results go to the run context's ``record`` directly (``crawler.run.context``: a
``DocumentItem`` per document, a ``CheckItem`` per URL); only a check carrying a body to
archive is yielded, so that Scrapy awaits its hashing and compression. A document whose bytes are
unchanged since its last run comes with its references from the database instead of
being parsed (``crawler.site.unchanged_documents``). URLs checked healthy
recently (``LINKHEALTH_RECHECK_AFTER``) are skipped; failing ones get a Wayback lookup
when ``LINKHEALTH_WAYBACK`` is on. HTTP policy lives in the downloader
middlewares, storage and the snapshot policy in the pipeline.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer
from twisted.python.failure import Failure
from w3lib.http import basic_auth_header

from crawler.archive.capture import capture_from_response, is_archivable
from crawler.archive.wayback import (
    WAYBACK_OUTCOMES,
    around_date,
    cdx_query_url,
    closest,
    parse_cdx,
    playback_url,
)
from crawler.classify.outcomes import check_from_failure, check_from_response, describe
from crawler.core.clock import utc_now
from crawler.core.durations import parse_duration
from crawler.core.items import (
    CheckItem,
    DocumentItem,
    RefItem,
    UnchangedDocumentItem,
    WaybackItem,
)
from crawler.core.urls import Invalid, Target, redact, resolve, shown, split_credentials
from crawler.run.context import RunContext
from crawler.site.reader import SiteReader, in_daemon_thread
from crawler.site.sources import Document, ReadLimits, read_site_config
from crawler.site.unchanged_documents import KnownDocuments, UnchangedDocument, reader_key
from crawler.store.history import History

COORDINATOR_SCHEDULER = "crawler.distributed.coordinator.CoordinatorScheduler"


class LinksSpider(scrapy.Spider):
    name = "links"
    # Set by from_crawler from the settings (declared for the type checker).
    exclude: list[re.Pattern[str]]
    _resolve: Callable[[str], Target | Invalid]
    reader: SiteReader
    skip_unchanged: bool
    archive: bool
    archive_types: list[str]
    archive_cap: int
    head_first: bool
    recheck_after: float
    wayback: bool
    cdx_url: str
    playback_url: str
    wayback_window: float
    wayback_recheck: float

    def __init__(self, source: str | None = None, base_url: str | None = None,
                 body_links: str = "0", resume: str = "0", *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not source:
            raise ValueError("the site directory is required: scrapy crawl links -a source=DIR")
        self.source = Path(source)
        if not self.source.is_dir():
            raise ValueError(f"source is not a directory: {source}")
        self.base_url = base_url  # or the site's, once the settings say how to read it
        self.config_error: str | None = None
        self.body_links = _flag(body_links)
        self.resume = _flag(resume)
        self.seen: set[str] = set()
        # URL key -> (URL as requested, publish date of the first document referencing it)
        self.first_seen: dict[str, tuple[str, str | None]] = {}

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        slots = dict(settings.getdict("DOWNLOAD_SLOTS"))
        slots.setdefault("wayback", {"concurrency": 1,
                                     "delay": settings.getfloat("LINKHEALTH_WAYBACK_DELAY")})
        settings.set("DOWNLOAD_SLOTS", slots, priority="spider")
        if settings.get("LINKHEALTH_REDIS_URL"):  # the coordinator of a distributed run
            settings.set("SCHEDULER", COORDINATOR_SCHEDULER, priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> LinksSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        s = crawler.settings
        spider.exclude = [re.compile(p) for p in s.getlist("LINKHEALTH_EXCLUDE")]
        limits = ReadLimits.from_settings(s)
        config = read_site_config(spider.source, limits)
        spider.config_error = config.error
        spider.base_url = spider.base_url or config.base_url
        # A URL is often written many times (shared logos, popular related articles);
        # resolving is pure, so the recent answers are kept.
        spider._resolve = functools.lru_cache(maxsize=16_384)(  # noqa: SLF001  # its own class
            functools.partial(resolve, base_url=spider.base_url))
        spider.reader = SiteReader(spider.source, body_links=spider.body_links,
                                   batch=s.getint("LINKHEALTH_READ_BATCH"),
                                   process_after=s.getint("LINKHEALTH_READ_PROCESS_AFTER"),
                                   key=reader_key(spider.base_url, spider.body_links, limits),
                                   limits=limits)
        spider.skip_unchanged = s.getbool("LINKHEALTH_SKIP_UNCHANGED")
        spider.archive = s.getbool("LINKHEALTH_ARCHIVE")
        spider.archive_types = s.getlist("LINKHEALTH_ARCHIVE_TYPES")
        spider.archive_cap = s.getint("LINKHEALTH_ARCHIVE_MAX_BYTES")
        spider.head_first = s.getbool("LINKHEALTH_HEAD_FIRST") and not spider.archive
        spider.recheck_after = parse_duration(s.get("LINKHEALTH_RECHECK_AFTER"))
        spider.wayback = s.getbool("LINKHEALTH_WAYBACK")
        spider.cdx_url = s.get("LINKHEALTH_WAYBACK_CDX_URL")
        spider.playback_url = s.get("LINKHEALTH_WAYBACK_PLAYBACK_URL")
        spider.wayback_window = parse_duration(s.get("LINKHEALTH_WAYBACK_WINDOW"))
        spider.wayback_recheck = parse_duration(s.get("LINKHEALTH_WAYBACK_RECHECK"))
        return spider

    @functools.cached_property
    def context(self) -> RunContext:
        """What the run's components share: where results go, what earlier runs left."""
        return RunContext.of(self.crawler)

    @property
    def history(self) -> History:
        return self.context.history

    async def start(self) -> AsyncIterator[Any]:
        self.context.answers_follow_ups_with(self.follow_ups)
        if self.config_error:
            self.logger.warning("Ignoring the site configuration: %s", self.config_error)
        if self.skip_unchanged:
            self._know_unchanged_documents()
        while batch := await self._next_batch():
            for document in batch:
                for request in self._requests(document):
                    yield request
        self.reader.close()
        stats = self.crawler.stats
        stats.set_value("linkhealth/reading_done", True)
        if unchanged := stats.get_value("linkhealth/documents_unchanged"):
            self.logger.info("%d of %d documents were unchanged since their last run: their "
                             "references came from the database, unparsed",
                             unchanged, stats.get_value("linkhealth/documents", 0))

    def _know_unchanged_documents(self) -> None:
        if self.context.run_id is None:  # the database did not open: the crawl is stopping
            return
        assert self.reader.key is not None  # from_crawler gives the reader its key
        try:
            self.reader.known = KnownDocuments(self.crawler.settings.get("LINKHEALTH_DB"),
                                               self.reader.key, self.reader.limits)
        except sqlite3.Error as exc:
            self.logger.warning("Parsing every document: cannot read the recorded ones (%s)", exc)

    async def _next_batch(self) -> list[Document | None]:
        try:
            return await maybe_deferred_to_future(in_daemon_thread(self.reader.next_batch))
        except (defer.CancelledError, asyncio.CancelledError):
            # The crawl is closing while a batch is read (e.g. after a database error):
            # stop reading quietly instead of ending in Scrapy's "Error while reading start".
            return []

    def closed(self, reason: str) -> None:
        self.reader.close()

    def _requests(self, document: Document | UnchangedDocument | None
                  ) -> Iterator[scrapy.Request]:
        """Record the document (and the checks that need no request); the requests to make."""
        stats = self.crawler.stats
        if document is None:
            stats.inc_value("linkhealth/skipped_files")
            return
        stats.inc_value("linkhealth/documents")
        if isinstance(document, UnchangedDocument):
            yield from self._unchanged_requests(document)
            return
        if document.error:
            stats.inc_value("linkhealth/parse_errors")
            self.logger.warning("%s: %s", document.path, document.error)
        refs: list[RefItem] = []
        targets: list[Target | Invalid] = []
        exact = document.error is None  # can the database give these refs back next run?
        for ref in document.refs:
            target = (Invalid(ref.value, f"not a string ({ref.not_a_string})")
                      if ref.not_a_string else self._resolve(ref.value))
            targets.append(target)
            if isinstance(target, Target):
                # User info is kept redacted: the database could not give it back.
                exact = exact and split_credentials(target.request_url)[1] is None
                refs.append(RefItem(ref.field, ref.kind, shown(ref.value), target.key,
                                    host=target.host, domain=target.domain,
                                    request_url=redact(target.request_url)))
            else:
                exact = False
                refs.append(RefItem(ref.field, ref.kind, shown(ref.value), target.key))
        self.context.record(DocumentItem(
            document.path, document.collection, document.title, document.published,
            document.error, document.error_line, refs,
            source_digest=document.digest if exact else None, file_digest=document.file_digest))
        # Counted as stored: one URL twice in one field (body links on one line) is one ref.
        stats.inc_value("linkhealth/refs", len({(ref.field, ref.url) for ref in refs}))
        yield from self._checks(targets, document.published)

    def _unchanged_requests(self, document: UnchangedDocument) -> Iterator[scrapy.Request]:
        stats = self.crawler.stats
        stats.inc_value("linkhealth/documents_unchanged")
        stats.inc_value("linkhealth/refs", len(document.targets))
        self.context.record(UnchangedDocumentItem(document.document_id, document.last_run_id,
                                                  document.file_digest))
        yield from self._checks(document.targets, document.published)

    def _checks(self, targets: Sequence[Target | Invalid], published: str | None
                ) -> Iterator[scrapy.Request]:
        """Check each URL not seen before in the run: record the checks that need no request,
        yield the requests."""
        stats = self.crawler.stats
        checks, seen = [], self.seen
        for target in targets:
            if target.key not in seen:
                seen.add(target.key)
                if self.wayback:  # only Wayback lookups need it: memory per unique URL
                    # Never a URL's user info to the Wayback Machine (nor to the log).
                    self.first_seen[target.key] = (
                        split_credentials(target.request_url)[0]
                        if isinstance(target, Target) else target.key,
                        published)
                checks.append(self._check(target))
        stats.inc_value("linkhealth/unique_urls", len(checks))
        record = self.context.record
        made = 0
        for output in checks:  # a request, a check made without one, or None (skipped)
            if isinstance(output, CheckItem):
                record(output)
            elif output is not None:
                made += 1
                yield output
        stats.inc_value("linkhealth/requested", made)

    def _check(self, target: Target | Invalid) -> scrapy.Request | CheckItem | None:
        if isinstance(target, Invalid):
            return CheckItem(url=target.key, outcome="invalid_url", error=target.reason,
                             checked_at=utc_now())
        for pattern in self.exclude:
            if pattern.search(target.request_url):
                return CheckItem(url=target.key, outcome="excluded",
                                 error=f"matches LINKHEALTH_EXCLUDE pattern {pattern.pattern!r}",
                                 checked_at=utc_now())
        if target.key in self.history.done_in_run:
            self.crawler.stats.inc_value("linkhealth/resumed_done")
            return None
        if self.history.recently_healthy(target.key, self.recheck_after, time.time()):
            self.crawler.stats.inc_value("linkhealth/skipped")
            return None
        url, credentials = split_credentials(target.request_url)
        headers = {"Authorization": basic_auth_header(*credentials)} if credentials else None
        try:
            request = scrapy.Request(
                url, method="HEAD" if self.head_first else "GET", headers=headers,
                callback=self.parse, errback=self.failed, dont_filter=True,
                meta={"linkhealth_key": target.key, "linkhealth_url": url})
        except ValueError as exc:
            return CheckItem(url=target.key, outcome="invalid_url", error=f"URL not requestable: {exc}",
                             checked_at=utc_now())
        return request

    def parse(self, response: Response) -> list[Any] | None:
        item = check_from_response(response)
        validated = response.meta.get("linkhealth_validated")
        if response.status == 304 and validated is not None:  # the copy whose validators we sent
            item.not_modified, item.snapshot_id = True, validated
        elif self.archive and item.outcome == "ok" and is_archivable(response, self.archive_types):
            item.capture = capture_from_response(response, self.archive_cap)
        return self._done(item)

    def failed(self, failure: Failure) -> list[Any] | None:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it for an errback
        return self._done(check_from_failure(failure, request))

    def _done(self, item: CheckItem) -> list[Any] | None:
        """Record the check, or yield it when it carries a body to archive; plus any Wayback
        lookup. (A plain function: no generator for Scrapy to drive when there is nothing.)"""
        outputs: list[Any] = []
        if item.capture is not None:
            outputs.append(item)
        else:
            self.context.record(item)
        outputs.extend(self.follow_ups(item))
        return outputs or None

    # -- Wayback Machine ------------------------------------------------------

    def follow_ups(self, item: CheckItem) -> Iterator[scrapy.Request]:
        """What a check asks for beyond itself: the Wayback lookup of a failing URL."""
        if not self.wayback or item.outcome not in WAYBACK_OUTCOMES:
            return
        url, published = self.first_seen.get(item.url, (item.url, None))
        around = around_date(published)
        if self.history.wayback_known(item.url, around, self.wayback_recheck, time.time()):
            self.crawler.stats.inc_value("linkhealth/wayback/cached")
            return
        yield scrapy.Request(
            cdx_query_url(self.cdx_url, url, around, self.wayback_window),
            callback=self.wayback_answer, errback=self.wayback_failed, dont_filter=True,
            meta={"linkhealth_service": "wayback", "download_slot": "wayback",
                  "linkhealth_wayback": (item.url, around), "dont_redirect": True})

    def wayback_answer(self, response: Response) -> None:
        self.context.record(self._wayback_result(response))

    def _wayback_result(self, response: Response) -> WaybackItem:
        key, around = response.meta["linkhealth_wayback"]
        if response.status != 200:
            return WaybackItem(key, around, "error", error=f"CDX answered HTTP {response.status}")
        try:
            found = closest(parse_cdx(response.body), around)
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            return WaybackItem(key, around, "error", error=f"CDX answer unreadable: {exc}")
        if found is None:
            return WaybackItem(key, around, "none")
        timestamp, original = found
        return WaybackItem(key, around, "found", timestamp=timestamp,
                           capture_url=playback_url(self.playback_url, timestamp, original))

    def wayback_failed(self, failure: Failure) -> None:
        key, around = failure.request.meta["linkhealth_wayback"]  # type: ignore[attr-defined]
        assert failure.value is not None  # Optional in Twisted's types; a Failure always holds one
        self.context.record(WaybackItem(key, around, "error", error=describe(failure.value)))


def _flag(value: str | bool) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")
