"""The ``links`` spider: read a front-matter site, check every URL it references once.

    scrapy crawl links -a source=DIR [-a base_url=URL] [-a body_links=1]

The spider only reads documents (in a worker thread, a batch at a time),
yields one ``DocumentItem`` per document and one request per unique URL, and
turns each answer into a ``CheckItem`` with ``crawler.classify``. HTTP policy
lives in the downloader middlewares, storage in the pipeline.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import Response
from scrapy.utils.asyncio import run_in_thread
from twisted.python.failure import Failure

from crawler.classify import check_from_failure, check_from_response
from crawler.items import CheckItem, DocumentItem, RefItem
from crawler.sources import Document, iter_document_paths, read_document, read_site_config
from crawler.store import utc_now
from crawler.urls import Invalid, Target, redact, resolve


class LinksSpider(scrapy.Spider):
    name = "links"

    def __init__(self, source: str | None = None, base_url: str | None = None,
                 body_links: str = "0", *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not source:
            raise ValueError("the site directory is required: scrapy crawl links -a source=DIR")
        self.source = Path(source)
        if not self.source.is_dir():
            raise ValueError(f"source is not a directory: {source}")
        config = read_site_config(self.source)
        self.config_error = config.error
        self.base_url = base_url or config.base_url
        self.body_links = str(body_links).lower() in ("1", "true", "yes", "on")
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> LinksSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.exclude = [re.compile(p) for p in settings.getlist("LINKHEALTH_EXCLUDE")]
        spider.read_batch = settings.getint("LINKHEALTH_READ_BATCH")
        spider.head_first = settings.getbool("LINKHEALTH_HEAD_FIRST")
        return spider

    async def start(self) -> AsyncIterator[Any]:
        if self.config_error:
            self.logger.warning("Ignoring the site configuration: %s", self.config_error)
        paths = iter_document_paths(self.source)
        while batch := await run_in_thread(self._read_batch, paths):
            for document in batch:
                for output in self._outputs(document):
                    yield output

    def _read_batch(self, paths: Iterator[Path]) -> list[Document | None]:
        """Runs in a worker thread: file reads and YAML parsing stay off the reactor."""
        return [read_document(path, self.source, self.body_links)
                for path in itertools.islice(paths, self.read_batch)] or []

    def _outputs(self, document: Document | None) -> Iterator[Any]:
        stats = self.crawler.stats
        if document is None:
            stats.inc_value("linkhealth/skipped_files")
            return
        stats.inc_value("linkhealth/documents")
        if document.error:
            stats.inc_value("linkhealth/parse_errors")
            self.logger.warning("%s: %s", document.path, document.error)
        refs, checks = [], []
        for ref in document.refs:
            target = (Invalid(ref.value, f"not a string ({ref.not_a_string})")
                      if ref.not_a_string else resolve(ref.value, self.base_url))
            valid = isinstance(target, Target)
            refs.append(RefItem(
                ref.field, ref.kind, redact(ref.value), target.key,
                host=target.host if valid else None, domain=target.domain if valid else None,
                request_url=redact(target.request_url) if valid else None))
            if target.key not in self.seen:
                self.seen.add(target.key)
                checks.append(self._check(target))
        stats.inc_value("linkhealth/refs", len(refs))
        stats.inc_value("linkhealth/unique_urls", len(checks))
        yield DocumentItem(document.path, document.collection, document.title,
                           document.published, document.error, document.error_line, refs)
        yield from checks

    def _check(self, target: Target | Invalid) -> scrapy.Request | CheckItem:
        if isinstance(target, Invalid):
            return CheckItem(url=target.key, outcome="invalid_url", error=target.reason,
                             checked_at=utc_now())
        for pattern in self.exclude:
            if pattern.search(target.request_url):
                return CheckItem(url=target.key, outcome="excluded",
                                 error=f"matches LINKHEALTH_EXCLUDE pattern {pattern.pattern!r}",
                                 checked_at=utc_now())
        try:
            request = scrapy.Request(
                target.request_url, method="HEAD" if self.head_first else "GET",
                callback=self.parse, errback=self.failed, dont_filter=True,
                meta={"linkhealth_key": target.key, "linkhealth_url": target.request_url})
        except ValueError as exc:
            return CheckItem(url=target.key, outcome="invalid_url", error=f"URL not requestable: {exc}",
                             checked_at=utc_now())
        self.crawler.stats.inc_value("linkhealth/requested")
        return request

    def parse(self, response: Response) -> Iterator[CheckItem]:
        yield check_from_response(response)

    def failed(self, failure: Failure) -> Iterator[CheckItem]:
        yield check_from_failure(failure, failure.request)
