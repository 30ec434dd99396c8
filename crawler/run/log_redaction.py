"""No password from a URL, and no control character, reaches the log.

Every log record is made safe as it is created: ``scheme://user:password@`` is rewritten
(Scrapy's own lines name requests, e.g. "Gave up retrying <GET ...>"), and C0/C1 control
characters (ESC, BEL, CSI from a page title, a file name, a server's answer) are replaced,
in the message and in a traceback's text. The ``LogRedaction`` extension installs this as
the process's log record factory rather than as a filter on the root handlers: Scrapy
replaces its root handler after the extensions are built, and a filter on the old one saw
none of the crawl's lines. The database and reports get redacted URLs from
``crawler.core.urls.redact``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from crawler.core.control_chars import printable
from crawler.core.urls import redact_text

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


def make_safe(record: logging.LogRecord) -> None:
    """Rewrite ``record`` in place: its message, and its exception's text, safe to show."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: logging reports it when emitting
        return
    safe = printable(redact_text(message))
    if safe != message or record.args:
        record.msg, record.args = safe, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = printable(redact_text(logging.Formatter().formatException(record.exc_info)))


class RedactPasswords(logging.Filter):
    """The same as a filter, for a handler of one's own."""

    def filter(self, record: logging.LogRecord) -> bool:
        make_safe(record)
        return True


def install() -> None:
    """Make every record of this process safe when it is created (once per process)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "linkhealth_safe", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        make_safe(record)
        return record

    factory.linkhealth_safe = True  # type: ignore[attr-defined]  # a mark on the function
    logging.setLogRecordFactory(factory)


class LogRedaction:
    def __init__(self) -> None:
        install()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LogRedaction:
        return cls()
