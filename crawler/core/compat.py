"""Every private Scrapy or Twisted name linkhealth uses, in one place, with what it is for.

A Scrapy or Twisted upgrade that moves one of these breaks here, at import, and nowhere
else. ``pyproject.toml`` pins Scrapy below the next minor version for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

# Twisted's HTTP client failures: Scrapy's own client raises them (wrapped in
# DownloadFailedError), and so does linkhealth's (crawler/fetch/client.py), so that retries
# and the classifier see the same exceptions from both.
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

__all__ = ["ResponseFailed", "ResponseNeverReceived", "engine_wakeup"]


def engine_wakeup(crawler: Crawler) -> Callable[[], None]:
    """What makes the engine ask the scheduler for requests again, soon.

    The engine asks when a download ends, and otherwise every 5 seconds (its heartbeat). A
    scheduler that holds requests until a moment (a paced host, a retry's backoff:
    crawler/policy/host_queue.py) wakes it at that moment instead: ``engine._slot.nextcall`` is
    the engine's own CallLaterOnce for that, with no public handle.
    """
    return crawler.engine._slot.nextcall.schedule  # noqa: SLF001 (see the docstring)
