"""No URL's user info reaches the log.

A logging filter on the root handlers rewrites the user info of every URL in
every record, its traceback included (Scrapy's own lines name requests, e.g.
"Redirecting (302) to <GET ...>", "Gave up retrying <GET ...>"). The database
and reports get redacted URLs from ``crawler.urls.redact``.

The filter is put on the handlers again when the spider opens: Scrapy replaces
its root handler after the extensions are built (``Crawler.crawl`` updates it
with the spider's settings), which dropped a filter added only at start.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals

from crawler.urls import redact_text

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class RedactPasswords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # Formatted once here, as a handler would, so that the traceback is redacted too.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


class LogRedaction:
    def __init__(self) -> None:
        self.filter = RedactPasswords()
        self.attach()

    def attach(self) -> None:
        for handler in logging.getLogger().handlers:
            if self.filter not in handler.filters:
                handler.addFilter(self.filter)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LogRedaction:
        extension = cls()
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        return extension

    def spider_opened(self) -> None:
        self.attach()
