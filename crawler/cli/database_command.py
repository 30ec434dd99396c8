"""What every database command (report, snapshot, prune, export-warc) shares.

``--db PATH`` (default: the ``LINKHEALTH_DB`` setting), no crawler process and
no log, a limit on positional arguments, and errors as one line on stderr with
exit status 1 (``EXIT_ERROR``), never a traceback. This module sits outside
``crawler/commands/`` because Scrapy registers every command class found there.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, ClassVar

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from crawler.core.control_chars import printable

EXIT_OK, EXIT_ERROR = 0, 1


class DatabaseCommand(ScrapyCommand):
    name: ClassVar[str] = ""  # as typed after `scrapy`, for error messages
    invoked_as: str | None = None  # "linkhealth report" when that command runs it
    max_arguments: ClassVar[int] = 0
    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[options]"

    @property
    def shown_name(self) -> str:
        """The command as the user typed it, in its messages."""
        return self.invoked_as or f"scrapy {self.name}"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--db", metavar="PATH",
                            help="database path (default: the LINKHEALTH_DB setting)")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if len(args) > self.max_arguments:
            extra = args[self.max_arguments:]
            raise UsageError(f"unexpected arguments: {' '.join(extra)}", print_help=False)

    def db_path(self, opts: argparse.Namespace) -> str:
        assert self.settings is not None
        return opts.db or self.settings.get("LINKHEALTH_DB")

    def error(self, message: str) -> None:
        print(f"{self.shown_name}: error: {printable(message)}", file=sys.stderr)
        self.exitcode = EXIT_ERROR
