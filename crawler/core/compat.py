"""Every private Scrapy or Twisted name linkhealth uses, in one place, with what it is for.

A Scrapy or Twisted upgrade that moves one of these breaks here, at import, and nowhere
else; ``tests/test_layers.py`` fails on a private name imported anywhere else.
``pyproject.toml`` pins Scrapy below its next minor version for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# Scrapy's non-verifying TLS policy (LINKHEALTH_VERIFY_TLS off), and the interface a trust
# root implements for Twisted's optionsForClientTLS (crawler/fetch/tls.py).
from scrapy.core.downloader.contextfactory import _ScrapyClientContextFactory as ScrapyTLSPolicy

# Scrapy's own helpers of its HTTP/1.1 download handler, used so that the lean client's
# responses, messages and failures are the ones Scrapy's client makes (crawler/fetch/).
from scrapy.utils._download_handlers import (
    check_stop_download,
    get_dataloss_msg,
    get_maxsize_msg,
    get_warnsize_msg,
    make_response,
    wrap_twisted_exceptions,
)
from twisted.internet._sslverify import IOpenSSLTrustRoot

# The failures of Twisted's HTTP client. Scrapy's client raises them (wrapped in
# DownloadFailedError), and linkhealth's (crawler/fetch/client.py) raises the same ones, so
# that retries and the classifier see no difference; the lean client's parser raises
# BadResponseVersion and ParseError for what Twisted's parser refuses
# (crawler/fetch/message.py).
from twisted.web._newclient import (
    BadResponseVersion,
    ParseError,
    ResponseFailed,
    ResponseNeverReceived,
)

if TYPE_CHECKING:
    from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
    from scrapy.crawler import Crawler

__all__ = [
    "BadResponseVersion", "IOpenSSLTrustRoot", "ParseError", "ResponseFailed",
    "ResponseNeverReceived", "ScrapyTLSPolicy", "check_stop_download", "engine_wakeup",
    "get_dataloss_msg", "get_maxsize_msg", "get_warnsize_msg", "make_response", "use_tls_policy",
    "wrap_twisted_exceptions",
]


def engine_wakeup(crawler: Crawler) -> Callable[[], None]:
    """What makes the engine ask the scheduler for requests again, soon.

    The engine asks when a download ends, and otherwise every 5 seconds (its heartbeat). A
    scheduler that holds requests until a moment (a paced host, a retry's backoff:
    crawler/policy/host_queue.py) wakes it at that moment instead: ``engine._slot.nextcall``
    is the engine's own CallLaterOnce for that, with no public handle.
    """
    slot = crawler.engine._slot if crawler.engine else None  # noqa: SLF001 (see the docstring)
    if slot is None:
        raise RuntimeError("engine_wakeup needs an open engine (the scheduler opens after it)")
    return slot.nextcall.schedule


def use_tls_policy(handler: HTTP11DownloadHandler, policy: Any) -> None:
    """Make Scrapy's HTTP/1.1 handler verify certificates with ``policy``: it keeps its TLS
    policy as ``_contextFactory``, and the public way to choose another, the
    ``DOWNLOADER_CLIENTCONTEXTFACTORY`` setting, is deprecated in Scrapy 2.19
    (crawler/fetch/handler.py; the lean client uses the same policy)."""
    handler._contextFactory = policy  # noqa: SLF001 (see the docstring)
