"""crawler.run.stats: Scrapy's in-memory stats, read and written without the per-access shim."""

from __future__ import annotations

import warnings

from scrapy.statscollectors import StatsCollector
from scrapy.utils.test import get_crawler

from crawler.run.stats import DirectStatsCollector


def test_same_stats_no_shim_no_warning():
    crawler = get_crawler(settings_dict={"STATS_CLASS": "crawler.run.stats.DirectStatsCollector"})
    stats = crawler.stats
    assert isinstance(stats, DirectStatsCollector)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deprecation warning would fail the test
        stats.inc_value("a")
        stats.inc_value("a", 2)
        stats.inc_value("b", start=10)
        stats.max_value("m", 3)
        stats.max_value("m", 1)
        stats.min_value("n", 3)
        stats.min_value("n", 1)
        stats.set_value("s", "x", spider=None)  # the old spider argument is still accepted
        assert stats.get_value("missing", 7) == 7
    assert stats.get_stats() == {"a": 3, "b": 11, "m": 3, "n": 1, "s": "x"}
    # Scrapy's shim caches wrapped methods on the instance; none were made here.
    assert not [name for name in vars(stats) if name.startswith("_cached_")]
    assert type(stats).__getattribute__ is not StatsCollector.__getattribute__
