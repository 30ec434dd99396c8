"""Which Twisted reactor a crawl runs on, chosen by what the platform has.

The epoll reactor held ``CONCURRENT_REQUESTS_PER_DOMAIN`` exactly where the asyncio reactor
(Scrapy's default) let two to six times as many requests reach one host at once
(``tests/test_politeness.py``), so it is the reactor wherever there is epoll (Linux).
Elsewhere (macOS, Windows) there is no epoll reactor, and importing it would fail: the crawl
runs on the select reactor, Twisted's own choice there, which held the limit as exactly in
the same measurement on Linux, and says so in its log (``reactor_note``). ``TWISTED_REACTOR``
given with ``-s`` still wins.
"""

from __future__ import annotations

import select
import sys

EPOLL = "twisted.internet.epollreactor.EPollReactor"
SELECT = "twisted.internet.selectreactor.SelectReactor"


def has_epoll() -> bool:
    return hasattr(select, "epoll")


def preferred_reactor(epoll: bool | None = None) -> str:
    """The import path of the reactor for a platform with (or without) epoll."""
    return EPOLL if (has_epoll() if epoll is None else epoll) else SELECT


def reactor_note(reactor: str, platform: str = sys.platform) -> str | None:
    """A line for the crawl's log when it does not run on the epoll reactor, else None."""
    if reactor == EPOLL:
        return None
    if reactor == SELECT:
        return (f"no epoll on {platform}: the crawl runs on Twisted's select reactor, which "
                "watches at most about 500 (Windows) or 1,000 sockets at once: keep "
                "CONCURRENT_REQUESTS well under that")
    return (f"Twisted reactor {reactor} (TWISTED_REACTOR): the per-host limit "
            "CONCURRENT_REQUESTS_PER_DOMAIN may not hold (on the asyncio reactor far more "
            "requests reached one host at once)")
