"""``scrapy ingest``: record into SQLite the results a dead coordinator left in Redis.

    LINKHEALTH_REDIS_URL=redis://... LINKHEALTH_REDIS_SECRET=... scrapy ingest [--db PATH] [--no-wait]

Reopens the latest run of the database (it must be ``running`` or ``interrupted``),
ingests every result the workers handed back into Redis, and by default waits, as the
coordinator would have, until the frontier is drained; ``--no-wait`` stops once the
results waiting now are recorded. It holds the database's crawl lock. Exit status 0
when the run is finished, 1 otherwise (then ``scrapy crawl links -a resume=1`` re-seeds
what is missing).
"""

from __future__ import annotations

import argparse
import sys

from scrapy.commands import ScrapyCommand

from crawler.commands.crawl import distributed_setup_error
from crawler.distributed.ingest import IngestSpider
from crawler.store.database import Store, StoreError
from crawler.store.lock import CrawlLock, LockHeld


class Command(ScrapyCommand):
    requires_project = True
    invoked_as: str | None = None  # "linkhealth ingest" when that command runs it

    def syntax(self) -> str:
        return "[--db PATH] [--no-wait]"

    def short_desc(self) -> str:
        return "Record the results a dead distributed coordinator left in Redis"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--db", metavar="PATH", help="database (default: LINKHEALTH_DB)")
        parser.add_argument("--no-wait", action="store_true",
                            help="stop once the waiting results are recorded")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        if opts.db:
            self.settings.set("LINKHEALTH_DB", opts.db, priority="cmdline")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None and self.crawler_process is not None
        s = self.settings
        db_path, url = s.get("LINKHEALTH_DB"), s.get("LINKHEALTH_REDIS_URL")
        if not url:
            return self._error("give the frontier: LINKHEALTH_REDIS_URL=redis://HOST:PORT/DB in "
                               "the environment (or -s)")
        problem = distributed_setup_error(s, worker=False)  # the [distributed] extra first
        if problem:
            return self._error(problem)
        # Here, not at the top: Scrapy imports every command at every start, and redis costs
        # 93 ms to import.
        from crawler.distributed.frontier import (
            REDIS_ERRORS,
            connect,
            describe_url,
            namespace,
            setting,
        )

        lock = CrawlLock(db_path)
        try:
            lock.acquire()
        except LockHeld as exc:
            return self._error(str(exc))
        try:
            try:
                with Store(db_path, readonly=True) as store:
                    run = store.latest_run()
            except StoreError as exc:
                return self._error(str(exc))
            if run is None or run["status"] not in ("running", "interrupted"):
                return self._error("the latest run of the database is not running or interrupted: "
                                   "nothing to ingest")
            ns = namespace(setting(s, "LINKHEALTH_REDIS_PREFIX"), db_path, run["id"])
            try:
                known = connect(url).exists(f"{ns}:meta")
            except REDIS_ERRORS as exc:
                return self._error(f"Redis at {describe_url(url)} unreachable: {exc}")
            if not known:
                return self._error(f"Redis at {describe_url(url)} holds nothing of run {run['id']} "
                                   "(re-seed with `scrapy crawl links -a resume=1`)")
            crawler = self.crawler_process.create_crawler(IngestSpider)
            self.crawler_process.crawl(crawler, wait="0" if opts.no_wait else "1")
            self.crawler_process.start()
            reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
            if self.crawler_process.bootstrap_failed or reason != "finished":
                self.exitcode = 1
        finally:
            lock.release()

    def _error(self, message: str) -> None:
        print(f"{self.invoked_as or 'scrapy ingest'}: error: {message}", file=sys.stderr)
        self.exitcode = 1
