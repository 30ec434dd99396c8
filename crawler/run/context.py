"""The run context: what one crawl run's components share, reached through the crawler.

The spider, the downloader middlewares, the store pipeline and the distributed scheduler
need a few things of each other: what earlier runs left, where a result goes, which run is
being recorded, what a failing check asks for next, what each host needed. They get them
here, ``RunContext.of(crawler)`` (an extension: it exists before the engine is built), and
never through each other's attributes:

* ``history`` and ``run_id``/``resumed_from``: set by the component that opens the run
  (``crawler.run.store_pipeline``);
* ``recorder``: whatever records this run's results: the store pipeline in a crawl, the
  frontier in a distributed worker. ``record(item)`` for a result, ``record_async(item)``
  (awaited) for a check whose capture is still to be hashed, ``commit()`` to write what is
  buffered;
* ``follow_ups(check)``: the requests a check asks for beyond itself (a Wayback lookup of a
  failing URL), as the spider answers it;
* ``host_reports()``: one ``HostItem`` per host that needed pacing or was given up on, from
  every component that registered a reporter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Protocol

from crawler.core.items import CheckItem, HostItem
from crawler.store.history import History

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


class Recorder(Protocol):
    """Whatever records a run's results."""

    def record(self, item: Any) -> None: ...

    async def record_async(self, item: Any) -> None: ...

    def commit(self) -> bool: ...


class RunContext:
    def __init__(self) -> None:
        self.history = History()
        self.run_id: int | None = None
        self.resumed_from: dict[str, Any] | None = None
        self.recorder: Recorder | None = None
        self._follow_ups: Callable[[CheckItem], Iterable[Request]] | None = None
        self._host_reporters: list[Callable[[], list[HostItem]]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunContext:
        return cls()

    @staticmethod
    def of(crawler: Crawler) -> RunContext:
        context = crawler.get_extension(RunContext)
        if context is None:
            raise RuntimeError("crawler.run.context.RunContext must be among the EXTENSIONS")
        return context

    # -- results -------------------------------------------------------------------------

    def records_with(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def record(self, item: Any) -> None:
        self._recorder().record(item)

    async def record_async(self, item: Any) -> None:
        await self._recorder().record_async(item)

    def commit(self) -> bool:
        """Write what is buffered; True when nothing is left uncommitted."""
        return self._recorder().commit()

    def _recorder(self) -> Recorder:
        if self.recorder is None:
            raise RuntimeError("no component records this run's results (ITEM_PIPELINES?)")
        return self.recorder

    # -- what a check asks for next --------------------------------------------------------

    def answers_follow_ups_with(self, follow_ups: Callable[[CheckItem], Iterable[Request]]) -> None:
        self._follow_ups = follow_ups

    def follow_ups(self, check: CheckItem) -> Iterable[Request]:
        return self._follow_ups(check) if self._follow_ups is not None else ()

    # -- what each host needed -------------------------------------------------------------

    def reports_hosts_with(self, reporter: Callable[[], list[HostItem]]) -> None:
        self._host_reporters.append(reporter)

    def host_reports(self) -> list[HostItem]:
        """One item per host, the reporters' items of a host merged."""
        merged: dict[str, HostItem] = {}
        for reporter in self._host_reporters:
            for item in reporter():
                known = merged.setdefault(item.host, item)
                if known is not item:
                    for name in (f.name for f in fields(HostItem)):
                        if getattr(item, name):
                            setattr(known, name, getattr(item, name))
        return list(merged.values())
