"""Progress of a long crawl: a live line on a terminal, a log line every so often otherwise.

On a terminal (stderr is a TTY) one line is redrawn in place with ``\\r`` a few
times a second::

    1,234/5,678+ URLs · 45.2 URLs/s · ETA ≥1m 38s

The site is read while the crawl runs, so the number of URLs known grows until
the last document is read: the total has a ``+`` and the ETA is a lower bound
until then. Afterwards the percentage is shown, and when the spider closes the
line is finished with the totals and a newline. Log records written to the
same terminal clear the line first, so they are not mixed with it.

Anywhere else (a cron log, CI, a pipe) it logs ``Progress: ...`` every
``LINKHEALTH_PROGRESS_INTERVAL`` seconds (0 turns the extension off).

*Done* is the URLs checked (each ``CheckItem`` recorded: the ``linkhealth/checked``
stat that the store pipeline keeps) plus the URLs not requested because they were found
healthy recently (``linkhealth/skipped``) or already checked in a resumed run
(``linkhealth/resumed_done``). *Known* is ``linkhealth/unique_urls``; the spider sets
``linkhealth/reading_done`` when the last document is read.
The rate counts checks only, over the last ``RATE_WINDOW`` seconds.

The formatting is pure functions (``format_count``, ``format_rate``,
``format_duration``, ``rate``, ``eta``, ``progress_line``, ``final_line``).
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 30.0  # the default of LINKHEALTH_PROGRESS_INTERVAL in crawler/defaults.py
REDRAW_SECONDS = 0.25    # the live line is redrawn at most 4 times a second
RATE_WINDOW = 30.0       # the rate is measured over (at least) the last 30 s

Sample = tuple[float, int]  # (monotonic time, URLs checked)


# -- formatting: pure functions ----------------------------------------------------


def format_count(n: int) -> str:
    """``1234567`` → ``"1,234,567"``."""
    return f"{n:,}"


def format_rate(per_second: float | None) -> str:
    """URLs per second: one decimal below 100, whole numbers above; ``"-"`` when unknown."""
    if per_second is None:
        return "-"
    return f"{per_second:.1f}" if per_second < 99.95 else f"{per_second:,.0f}"


def format_duration(seconds: float | None) -> str:
    """``"45s"``, ``"3m 05s"``, ``"2h 07m"``, ``"3d 04h"``; ``"<1s"``; ``"?"`` when unknown."""
    if seconds is None:
        return "?"
    s = max(0, round(seconds))
    if s == 0 and seconds > 0:
        return "<1s"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def rate(samples: Sequence[Sample]) -> float | None:
    """URLs per second between the first and the last sample; None without two samples
    apart in time."""
    if len(samples) < 2:
        return None
    (t0, n0), (t1, n1) = samples[0], samples[-1]
    if t1 <= t0:
        return None
    return max(0, n1 - n0) / (t1 - t0)


def eta(remaining: int, per_second: float | None) -> float | None:
    """Seconds left at this rate: 0 when nothing remains, None when the rate is unknown or 0."""
    if remaining <= 0:
        return 0.0
    if not per_second or per_second <= 0:
        return None
    return remaining / per_second


def progress_line(done: int, known: int, reading: bool, per_second: float | None,
                  eta_seconds: float | None) -> str:
    """``"1,234/5,678+ URLs · 45.2 URLs/s · ETA ≥1m 38s"`` while the site is still read,
    ``"1,234/5,678 URLs (22%) · 45.2 URLs/s · ETA 1m 38s"`` after."""
    known = max(known, done)
    if reading:
        urls = f"{format_count(done)}/{format_count(known)}+ URLs"
    else:
        urls = f"{format_count(done)}/{format_count(known)} URLs ({_percent(done, known)})"
    bound = "≥" if reading and eta_seconds else ""
    return f"{urls} · {format_rate(per_second)} URLs/s · ETA {bound}{format_duration(eta_seconds)}"


def final_line(done: int, known: int, checked: int, elapsed: float,
               reason: str = "finished") -> str:
    """``"5,678/5,678 URLs (100%) · 41.1 URLs/s · done in 2m 18s"`` (``stopped after`` and the
    reason when the spider closed for another reason than ``finished``). The rate is the
    average of the ``checked`` URLs (those requested) over the whole crawl."""
    known = max(known, done)
    average = checked / elapsed if elapsed > 0 else None
    end = (f"done in {format_duration(elapsed)}" if reason == "finished"
           else f"stopped after {format_duration(elapsed)} ({reason})")
    return (f"{format_count(done)}/{format_count(known)} URLs ({_percent(done, known)}) · "
            f"{format_rate(average)} URLs/s · {end}")


def _percent(done: int, known: int) -> str:
    if known <= 0:
        return "100%"
    return f"{min(100, int(100 * done / known))}%"


# -- the extension -------------------------------------------------------------------


class Progress:
    """Enabled in ``EXTENSIONS``; ``LINKHEALTH_PROGRESS_INTERVAL`` = 0 disables it."""

    def __init__(self, crawler: Crawler, interval: float, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.crawler = crawler
        self.stats = crawler.stats
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self.live = _isatty(self.stream)
        self.clock = clock
        self.samples: deque[Sample] = deque()
        self.started = 0.0
        self.last_log = 0.0
        self.width = 0  # length of the live line on screen (0: none drawn)
        self.lock = threading.Lock()
        self.task: Any = None
        self.filtered: list[logging.Handler] = []
        self.clear_filter = _ClearLine(self)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Progress:
        interval = crawler.settings.getfloat("LINKHEALTH_PROGRESS_INTERVAL", DEFAULT_INTERVAL)
        if interval <= 0:
            raise NotConfigured("LINKHEALTH_PROGRESS_INTERVAL is 0")
        extension = cls(crawler, interval)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    # -- signals ---------------------------------------------------------------------

    def spider_opened(self) -> None:
        self.started = self.last_log = self.clock()
        self.samples.append((self.started, 0))
        if self.live:
            self._clear_before_log_records()
        self.task = create_looping_call(self.tick)
        self.task.start(REDRAW_SECONDS if self.live else self.interval, now=False)

    @property
    def checked(self) -> int:
        """URLs checked (recorded) so far in this process."""
        return int(self.stats.get_value("linkhealth/checked", 0) or 0)

    def spider_closed(self, reason: str) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        if self.live:
            done, known = self.counts()
            line = final_line(done, known, self.checked, self.clock() - self.started, reason)
            with self.lock:
                self._draw(line)
                self.stream.write("\n")
                self.stream.flush()
                self.width = 0
            for handler in self.filtered:
                handler.removeFilter(self.clear_filter)
            self.filtered = []

    # -- the periodic work -------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        """(done, known) so far."""
        get = self.stats.get_value
        earlier = int(get("linkhealth/skipped", 0) or 0) + int(get("linkhealth/resumed_done", 0) or 0)
        known = int(get("linkhealth/unique_urls", 0) or 0)
        done = self.checked + earlier
        return done, max(known, done)

    def reading(self) -> bool:
        """Whether the spider is still reading the site (its start() not yet exhausted)."""
        return not self.stats.get_value("linkhealth/reading_done", False)

    def line(self) -> str:
        now = self.clock()
        self.samples.append((now, self.checked))
        while len(self.samples) > 2 and now - self.samples[1][0] >= RATE_WINDOW:
            self.samples.popleft()
        done, known = self.counts()
        per_second = rate(self.samples)
        return progress_line(done, known, self.reading(), per_second, eta(known - done, per_second))

    def tick(self) -> None:
        line = self.line()
        if self.live:
            with self.lock:
                self._draw(line)
        else:
            logger.info("Progress: %s", line)

    # -- the live line -------------------------------------------------------------------

    def _draw(self, line: str) -> None:
        columns = shutil.get_terminal_size((100, 24)).columns
        line = line[:max(10, columns - 1)]  # a wrapped line cannot be redrawn with \r
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def clear(self) -> None:
        """Blank the live line (a log record is about to be written on the terminal)."""
        with self.lock:
            if self.width:
                self.stream.write("\r" + " " * self.width + "\r")
                self.stream.flush()
                self.width = 0

    def _clear_before_log_records(self) -> None:
        for handler in logging.getLogger().handlers:
            if getattr(handler, "stream", None) is self.stream:
                handler.addFilter(self.clear_filter)
                self.filtered.append(handler)


class _ClearLine(logging.Filter):
    """Lets every record through, after blanking the live line."""

    def __init__(self, progress: Progress):
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self.progress.clear()
        return True


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False
