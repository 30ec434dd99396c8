"""``scrapy report``: write the report of the latest (or a given) run.

Example, in CI: ``scrapy report --format html -o public/links.html --fail-on broken,dns_error``
writes the page and exits with status 2 when the run found a broken link or a dead domain.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, ClassVar

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from crawler.items import OUTCOMES
from crawler.report import Report, ReportError, build_report, failing_urls
from crawler.report_render import RENDERERS
from crawler.store import Store, StoreError

EXIT_OK, EXIT_ERROR, EXIT_FAIL_ON = 0, 1, 2


def parse_outcomes(value: str) -> frozenset[str]:
    """``"broken, timeout"`` → ``{"broken", "timeout"}``; unknown names are a usage error."""
    names = {name.strip() for name in value.split(",") if name.strip()}
    if not names:
        raise ValueError("--fail-on needs at least one outcome")
    unknown = sorted(names - set(OUTCOMES))
    if unknown:
        raise ValueError(f"unknown outcome(s) in --fail-on: {', '.join(unknown)}"
                         f" (choose from: {', '.join(OUTCOMES)})")
    return frozenset(names)


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[options]"

    def short_desc(self) -> str:
        return "Write the link report of the latest run (Markdown, HTML, JSON or CSV)"

    def long_desc(self) -> str:
        return (
            "Read the database and write the report of the latest run (or --run ID): problem "
            "URLs by document and by domain, permanent redirects to update, documents that "
            "could not be parsed. Exit status: 0 done, 1 error (no database, no run, unknown "
            "outcome name), 2 when --fail-on matched. Example: scrapy report --format html "
            "-o public/links.html --fail-on broken,dns_error"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--format", choices=sorted(RENDERERS), default="md",
                            help="output format (default: md)")
        parser.add_argument("-o", "--output", metavar="FILE",
                            help="write to FILE (parent directories are created; default: stdout)")
        parser.add_argument("--all", action="store_true", dest="include_all",
                            help="list healthy URLs too, not only problems")
        parser.add_argument("--run", type=int, metavar="ID", dest="run_id",
                            help="report this run (default: the latest)")
        parser.add_argument("--fail-on", metavar="OUTCOMES",
                            help="comma-separated outcomes; exit with status 2 when the run "
                                 f"has a URL with one of them ({', '.join(OUTCOMES)})")
        parser.add_argument("--db", metavar="PATH",
                            help="database path (default: the LINKHEALTH_DB setting)")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}", print_help=False)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        db_path = opts.db or self.settings.get("LINKHEALTH_DB")
        try:
            fail_on = parse_outcomes(opts.fail_on) if opts.fail_on is not None else frozenset()
        except ValueError as exc:
            self._error(str(exc))
            return
        try:
            with Store(db_path, readonly=True) as store:
                report = build_report(store, opts.run_id, include_all=opts.include_all)
            self._write(RENDERERS[opts.format](report), opts.output)
        except (StoreError, ReportError, OSError) as exc:
            self._error(f"{db_path}: {exc}" if isinstance(exc, ReportError) else str(exc))
            return
        self.exitcode = self._fail_on_status(report, fail_on)

    @staticmethod
    def _write(text: str, output: str | None) -> None:
        if output is None:
            sys.stdout.buffer.write(text.encode("utf-8"))
            sys.stdout.flush()
            return
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def _error(self, message: str) -> None:
        print(f"scrapy report: error: {message}", file=sys.stderr)
        self.exitcode = EXIT_ERROR

    @staticmethod
    def _fail_on_status(report: Report, outcomes: frozenset[str]) -> int:
        matched = {o: n for o, n in report.summary.items() if o in outcomes and n}
        if not matched:
            return EXIT_OK
        counts = ", ".join(f"{n} {o}" for o, n in matched.items())
        listed = failing_urls(report, outcomes)[:5]
        examples = "".join(f"\n  {e.outcome}: {e.url}" for e in listed)
        print(f"scrapy report: --fail-on matched in run {report.run['id']}: {counts}{examples}",
              file=sys.stderr)
        return EXIT_FAIL_ON
