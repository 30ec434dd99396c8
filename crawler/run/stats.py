"""The crawl's stats collector: Scrapy's in-memory one, minus a shim on every access.

Scrapy 2.13+ gives ``StatsCollector`` a ``__getattribute__`` that, on every attribute
access, formats a name, looks it up (an ``AttributeError`` raised and caught for most
names, ``_stats`` included) and wraps the public methods to warn about a deprecated
``spider`` argument. The crawl touches the stats about a dozen times per request
(scheduler, core stats, downloader stats, ours): in a profile of the check benchmark
that shim alone was 1.4% of the crawl's samples. This collector is
``MemoryStatsCollector`` with plain attribute access: same methods, same stats, and a
``spider`` argument is still accepted (and ignored) without a warning.
"""

from __future__ import annotations

from scrapy.statscollectors import MemoryStatsCollector


class DirectStatsCollector(MemoryStatsCollector):
    __getattribute__ = object.__getattribute__
