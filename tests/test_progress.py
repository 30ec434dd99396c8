"""The progress extension: its pure formatting, the live line, and a real crawl's log."""

from __future__ import annotations

import io
import json
import logging
import re
from types import SimpleNamespace

import pytest

from crawler import settings as project_settings
from crawler.run.progress import (
    Progress,
    eta,
    final_line,
    format_count,
    format_duration,
    format_rate,
    progress_line,
    rate,
)
from tests.crawl import crawl, write_site
from tests.webserver import Web

PROGRESS = "crawler.run.progress.Progress"


# -- pure functions ----------------------------------------------------------------


@pytest.mark.parametrize(("n", "text"), [(0, "0"), (999, "999"), (1234, "1,234"),
                                         (5678901, "5,678,901")])
def test_format_count(n, text):
    assert format_count(n) == text


@pytest.mark.parametrize(("value", "text"), [(None, "-"), (0.0, "0.0"), (3.14159, "3.1"),
                                             (9.94, "9.9"), (45.63, "45.6"), (99.97, "100"),
                                             (1234.4, "1,234")])
def test_format_rate(value, text):
    assert format_rate(value) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "?"), (-3, "0s"), (0, "0s"), (0.4, "<1s"), (59.4, "59s"), (60, "1m 00s"),
    (125, "2m 05s"), (3599, "59m 59s"), (3600, "1h 00m"), (7620, "2h 07m"),
    (86400 + 4 * 3600, "1d 04h"),
])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_rate_is_urls_per_second_between_the_first_and_last_sample():
    assert rate([]) is None
    assert rate([(10.0, 5)]) is None
    assert rate([(10.0, 5), (10.0, 9)]) is None  # no time elapsed
    assert rate([(10.0, 0), (12.0, 50), (20.0, 100)]) == 10.0
    assert rate([(0.0, 10), (2.0, 10)]) == 0.0


def test_eta_is_what_remains_at_this_rate():
    assert eta(100, 20.0) == 5.0
    assert eta(0, None) == 0.0 and eta(-2, 0.0) == 0.0  # nothing left
    assert eta(10, None) is None and eta(10, 0.0) is None  # no rate yet


def test_progress_line_while_reading_and_after():
    assert progress_line(1234, 5678, True, 45.2, 98) == "1,234/5,678+ URLs · 45.2 URLs/s · ETA ≥1m 38s"
    assert progress_line(1234, 5678, False, 45.2, 98) == "1,234/5,678 URLs (21%) · 45.2 URLs/s · ETA 1m 38s"
    assert progress_line(0, 0, True, None, None) == "0/0+ URLs · - URLs/s · ETA ?"
    assert progress_line(7, 5, False, 2.0, 0.0) == "7/7 URLs (100%) · 2.0 URLs/s · ETA 0s"


def test_final_line():
    assert final_line(5678, 5678, 5678, 138.0) == "5,678/5,678 URLs (100%) · 41.1 URLs/s · done in 2m 18s"
    assert final_line(10, 40, 10, 4.0, "shutdown") == "10/40 URLs (25%) · 2.5 URLs/s · stopped after 4s (shutdown)"
    assert final_line(0, 0, 0, 0.0) == "0/0 URLs (100%) · - URLs/s · done in 0s"
    # URLs skipped as recently healthy count as done, not in the rate
    assert final_line(100, 100, 20, 10.0) == "100/100 URLs (100%) · 2.0 URLs/s · done in 10s"


# -- the extension on a terminal, driven by hand -------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Stats(dict):
    def get_value(self, key, default=None):
        return self.get(key, default)


def test_live_line_is_redrawn_in_place_and_finished_with_a_newline(monkeypatch):
    monkeypatch.setattr("crawler.run.progress.create_looping_call",
                        lambda func: SimpleNamespace(start=lambda *a, **k: None, running=False))
    stats = Stats({"linkhealth/unique_urls": 50, "linkhealth/skipped": 10})  # 10 of the 50 skipped
    crawler = SimpleNamespace(stats=stats)
    terminal, clock = Terminal(), Clock()
    progress = Progress(crawler, interval=30, stream=terminal, clock=clock)
    assert progress.live
    progress.spider_opened()
    stats["linkhealth/checked"] = 20  # what the store pipeline counts as it records checks
    clock.now += 2
    progress.tick()
    assert terminal.getvalue() == "\r30/50+ URLs · 10.0 URLs/s · ETA ≥2s"

    stats["linkhealth/reading_done"] = True  # the spider read the last document: total known
    stats["linkhealth/unique_urls"] = 60
    stats["linkhealth/checked"] = 40
    clock.now += 2
    progress.tick()
    second = terminal.getvalue().rsplit("\r", 1)[1]
    assert second == "50/60 URLs (83%) · 10.0 URLs/s · ETA 1s"

    stats["linkhealth/checked"] = 50
    clock.now += 1
    progress.spider_closed("finished")
    text = terminal.getvalue()
    assert "\n" not in text[:-1] and text.endswith("\n")
    assert text.rsplit("\r", 1)[1] == "60/60 URLs (100%) · 10.0 URLs/s · done in 5s\n"


def test_log_records_on_the_terminal_clear_the_live_line_first(monkeypatch):
    monkeypatch.setattr("crawler.run.progress.create_looping_call",
                        lambda func: SimpleNamespace(start=lambda *a, **k: None, running=False))
    terminal = Terminal()
    handler = logging.StreamHandler(terminal)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        crawler = SimpleNamespace(stats=Stats({"linkhealth/unique_urls": 3}), engine=None)
        progress = Progress(crawler, interval=30, stream=terminal, clock=Clock())
        progress.spider_opened()
        progress.tick()
        drawn = terminal.getvalue()
        logging.getLogger("tests.progress").warning("something to say")
        assert terminal.getvalue() == drawn + "\r" + " " * (len(drawn) - 1) + "\r" + "something to say\n"
        progress.spider_closed("finished")
        assert handler.filters == []  # the filter is removed when the spider closes
    finally:
        root.removeHandler(handler)


def test_zero_interval_disables_the_extension():
    from scrapy.exceptions import NotConfigured
    from scrapy.utils.test import get_crawler

    with pytest.raises(NotConfigured):
        Progress.from_crawler(get_crawler(settings_dict={"LINKHEALTH_PROGRESS_INTERVAL": 0}))


# -- a real crawl, not on a terminal ---------------------------------------------------

LOG_LINE = re.compile(r"\[crawler\.run\.progress\] INFO: Progress: (\d[\d,]*)/(\d[\d,]*)\+? URLs"
                      r"( \(\d+%\))? · [-\d.,]+ URLs/s · ETA ")


def extensions_with_progress() -> dict[str, int | None]:
    """The project's EXTENSIONS, with the progress extension added if settings.py lacks it."""
    extensions = dict(project_settings.EXTENSIONS)
    extensions.setdefault(PROGRESS, 500)
    return extensions


@pytest.mark.e2e
def test_a_crawl_logs_its_progress_every_interval(tmp_path):
    with Web() as web:
        site = write_site(tmp_path / "site", {
            "_posts/slow.md": {"title": "Slow", "webUrl": web.url("/slow/300")},
            "_posts/fast.md": {"title": "Fast", "webUrl": web.url("/ok"),
                               "images": [{"url": web.url("/image.png")}]},
        })
        result = crawl(site, tmp_path / "db.sqlite", settings={
            "LINKHEALTH_PROGRESS_INTERVAL": "0.2",
            "EXTENSIONS": json.dumps(extensions_with_progress()),
        })
    lines = [m for m in map(LOG_LINE.search, result.log.splitlines()) if m]
    assert lines, result.log[-3000:]
    for match in lines:
        done, known = (int(g.replace(",", "")) for g in match.group(1, 2))
        assert 0 <= done <= known <= 3
    assert "\r" not in result.log  # no live line when stderr is not a terminal
    assert result.run()["status"] == "finished"
