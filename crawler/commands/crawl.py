"""``scrapy crawl``, holding the database's crawl lock for the whole run.

Scrapy's own command, wrapped: a second crawl started on the same database
(``LINKHEALTH_DB``) stops at once, with exit status 1 and a message naming the
running one (see ``crawler/store/lock.py``). The exit status is also 1 when the crawl
did not finish (stopped by a database error, a signal, a CLOSESPIDER_* limit),
so a nightly job notices.

Example: ``scrapy crawl links -a source=../site`` (add ``-a resume=1`` to
continue an interrupted run).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError
from scrapy.settings import SETTINGS_PRIORITIES

from crawler.core.reactor import reactor_note
from crawler.distributed.extra import missing_extra
from crawler.store.lock import CrawlLock, LockHeld

if TYPE_CHECKING:
    import argparse

logger = logging.getLogger(__name__)


def distributed_setup_error(settings: Any, worker: bool) -> str | None:
    """What a distributed run (a worker, or a crawl with a Redis URL) lacks, in one line."""
    url = settings.get("LINKHEALTH_REDIS_URL")
    if not url and not worker:
        return None
    missing = missing_extra()
    if missing:
        return missing
    if not url:
        return ("a worker needs the frontier: LINKHEALTH_REDIS_URL=redis://HOST:PORT/DB in its "
                "environment (or -s)")
    from crawler.distributed.wire import WireError, run_secret  # redis-free, loaded only here

    try:
        run_secret(settings.get("LINKHEALTH_REDIS_SECRET"))
    except WireError as exc:
        return str(exc)
    from_cmdline = settings.getpriority("LINKHEALTH_REDIS_URL") == SETTINGS_PRIORITIES["cmdline"]
    if from_cmdline and urlsplit(url).password:
        logger.warning("LINKHEALTH_REDIS_URL holds a password and was given with -s: every user of "
                       "this machine can read it in /proc; set it in the environment instead")
    return None


class Command(ScrapyCrawlCommand):
    invoked_as: str | None = None  # "linkhealth crawl" when that command runs it

    def short_desc(self) -> str:
        return "Run a spider (one crawl at a time per database)"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None and self.crawler_process is not None
        worker = bool(args) and not getattr(
            self.crawler_process.spider_loader.load(args[0]), "uses_database", True)
        problem = distributed_setup_error(self.settings, worker)
        note = reactor_note(self.settings["TWISTED_REACTOR"])
        if note:
            logger.warning(note)
        if problem:
            print(f"{self.invoked_as or 'scrapy crawl'}: error: {problem}", file=sys.stderr)
            self.exitcode = 1
            return
        if worker:
            self._crawl(args, opts)  # a worker of a distributed run: it never opens the database
            return
        lock = CrawlLock(self.settings.get("LINKHEALTH_DB"))
        try:
            lock.acquire()
        except LockHeld as exc:
            print(f"{self.invoked_as or 'scrapy crawl'}: error: {exc}", file=sys.stderr)
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
