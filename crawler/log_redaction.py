"""No password from a URL reaches the log.

A logging filter on the root handlers rewrites ``scheme://user:password@`` in
every record (Scrapy's own lines name requests, e.g. "Gave up retrying <GET
...>"). The database and reports get redacted URLs from ``crawler.urls.redact``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from crawler.urls import redact_text

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class RedactPasswords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class LogRedaction:
    def __init__(self) -> None:
        self.filter = RedactPasswords()
        for handler in logging.getLogger().handlers:
            handler.addFilter(self.filter)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LogRedaction:
        return cls()
