"""crawler.run.gc_tuning: fewer collections during the crawl, Python's settings back afterwards."""

from __future__ import annotations

import gc

from crawler.run.gc_tuning import GcTuning, paused


class Stats(dict):
    def set_value(self, key, value):
        self[key] = value


class Crawler:
    def __init__(self):
        self.stats = Stats()


def test_threshold_and_freeze_during_the_crawl_then_restored():
    before = gc.get_threshold()
    extension = GcTuning(Crawler(), threshold=12_345)
    extension.engine_started()
    try:
        assert gc.get_threshold() == (12_345, *before[1:])
        assert gc.get_freeze_count() > 0  # what was alive at the start is out of sight
        cycle: list = []
        cycle.append(cycle)
        del cycle
        gc.collect()  # still collected, and observed
    finally:
        extension.spider_closed()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    assert extension.stats["linkhealth/gc/collections"] >= 1
    assert extension.stats["linkhealth/gc/seconds"] >= 0
    assert extension._observe not in gc.callbacks


def test_zero_leaves_python_defaults_and_only_measures():
    before = gc.get_threshold()
    extension = GcTuning(Crawler(), threshold=0)
    extension.engine_started()
    try:
        assert gc.get_threshold() == before and gc.get_freeze_count() == 0
        gc.collect()
    finally:
        extension.spider_closed()
    assert extension.stats["linkhealth/gc/collections"] >= 1


def test_paused_turns_the_collector_off_inside_the_block_only():
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
        with paused():  # nested: the outer block still ends with the collector off
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
