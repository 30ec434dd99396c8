"""``scrapy crawl``, holding the database's crawl lock for the whole run.

Scrapy's own command, wrapped: a second crawl started on the same database
(``LINKHEALTH_DB``) stops at once, with exit status 1 and a message naming the
running one (see ``crawler/lock.py``). The exit status is also 1 when the crawl
did not finish (stopped by a database error, a signal, a CLOSESPIDER_* limit),
so a nightly job notices.

Example: ``scrapy crawl links -a source=../site`` (add ``-a resume=1`` to
continue an interrupted run).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from crawler.lock import CrawlLock, LockHeld

if TYPE_CHECKING:
    import argparse


class Command(ScrapyCrawlCommand):
    def short_desc(self) -> str:
        return "Run a spider (one crawl at a time per database)"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None and self.crawler_process is not None
        if args and not getattr(self.crawler_process.spider_loader.load(args[0]), "uses_database", True):
            self._crawl(args, opts)  # a worker of a distributed run: it never opens the database
            return
        lock = CrawlLock(self.settings.get("LINKHEALTH_DB"))
        try:
            lock.acquire()
        except LockHeld as exc:
            print(f"scrapy crawl: error: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        try:
            self._crawl(args, opts)
        finally:
            lock.release()

    def _crawl(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give exactly one spider name: scrapy crawl links -a source=DIR")
        assert self.crawler_process is not None
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
        if self.crawler_process.bootstrap_failed or reason != "finished":
            self.exitcode = 1
