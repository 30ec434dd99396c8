"""``scrapy export-warc``: every archived snapshot as a gzipped WARC file.

Scrapy names the commands of ``COMMANDS_MODULE`` after their module, and a module
cannot be called ``export-warc``; this one is registered under that name through
the ``scrapy.commands`` entry point in ``pyproject.toml`` instead.

Example: ``scrapy export-warc -o archive/links.warc.gz --since 2026-01-01`` writes a
WARC that replay tools (pywb, ReplayWeb.page) and ``warcio`` read.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from crawler.archive.archive_io import ArchiveError, parse_since, write_warc
from crawler.cli.database_command import EXIT_OK, DatabaseCommand
from crawler.core.output_files import atomic_output
from crawler.store.database import Store, StoreError


class Command(DatabaseCommand):
    name = "export-warc"

    def syntax(self) -> str:
        return "-o FILE.warc.gz [options]"

    def short_desc(self) -> str:
        return "Export the archived snapshots as a WARC file"

    def long_desc(self) -> str:
        return (
            "Write every archived snapshot (or those fetched since --since) as a gzipped WARC: "
            "a warcinfo record, then one response record per snapshot, in fetch order, with the "
            "stored status, headers and body (bodies are stored decoded, so Content-Encoding "
            "is dropped and Content-Length is the body's; the server's values are kept as "
            "X-Linkhealth-Original-* headers). Exit status: 0 done, 1 error. Example: scrapy "
            "export-warc -o archive/links.warc.gz --since 2026-01-01"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-o", "--output", metavar="FILE",
                            help="the WARC file to write (required; parent directories are "
                                 "created; an existing file is replaced)")
        parser.add_argument("--since", metavar="DATE",
                            help="only snapshots fetched at or after DATE "
                                 "(YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)")


    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        db_path = self.db_path(opts)
        if not opts.output:
            self.error("give the file to write with -o FILE.warc.gz")
            return
        try:
            since = parse_since(opts.since) if opts.since is not None else None
        except ValueError as exc:
            self.error(f"--since: {exc}")
            return
        output = Path(opts.output)
        try:
            with Store(db_path, readonly=True) as store:
                count = self._export(store.db.conn, output, since)
        except (StoreError, ArchiveError, OSError) as exc:
            self.error(str(exc))
            return
        except sqlite3.Error as exc:
            self.error(f"{db_path}: {exc}")
            return
        print(f"wrote {count} records to {output}", file=sys.stderr)
        self.exitcode = EXIT_OK

    @staticmethod
    def _export(db: sqlite3.Connection, output: Path, since: str | None) -> int:
        """Write next to ``output`` and rename at the end (``crawler.core.output_files``): no
        half-written WARC is left."""
        with atomic_output(output) as fileobj:
            return write_warc(db, fileobj, since, filename=output.name)

