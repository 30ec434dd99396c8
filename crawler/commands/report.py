"""``scrapy report``: write the report of the latest (or a given) run.

Example, in CI: ``scrapy report --format html -o public/links.html --fail-on broken,dns_error``
writes the page and exits with status 2 when the run found a confirmed broken link or dead
domain: one that failed in ``LINKHEALTH_BROKEN_AFTER`` consecutive runs (``--broken-after``).
``--with-snapshots`` also writes the archived copies the page links to, in
``public/snapshots/``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from crawler.cli.database_command import EXIT_OK, DatabaseCommand
from crawler.core.control_chars import printable
from crawler.core.items import FAILING_OUTCOMES, OUTCOMES
from crawler.core.output_files import atomic_output
from crawler.report.formats import CHUNK_RENDERERS
from crawler.report.model import Report, ReportError, build_report, fail_on_counts, fail_on_urls
from crawler.report.snapshot_files import SNAPSHOT_DIRECTORY, export_report_snapshots
from crawler.run import gc_tuning
from crawler.store.database import Store, StoreError

EXIT_FAIL_ON = 2


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


class Command(DatabaseCommand):
    name = "report"

    def short_desc(self) -> str:
        return "Write the link report of the latest run (Markdown, HTML, JSON or CSV)"

    def long_desc(self) -> str:
        return (
            "Read the database and write the report of the latest run (or --run ID): what is "
            "newly broken, still broken, failing but not yet confirmed, and fixed since the "
            "previous run; problem URLs by document and by domain, permanent redirects to "
            "update, documents that could not be parsed. A failing link counts as broken once "
            "it has failed in LINKHEALTH_BROKEN_AFTER consecutive runs (default 2; "
            "--broken-after N). Exit status: 0 done, 1 error (no database, no run, unknown "
            "outcome name), 2 when --fail-on matched; for the failing outcomes --fail-on counts "
            "confirmed broken links only. Example: scrapy report --format html "
            "-o public/links.html --with-snapshots --fail-on broken,dns_error"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--format", choices=sorted(CHUNK_RENDERERS), default="md",
                            help="output format (default: md)")
        parser.add_argument("-o", "--output", metavar="FILE",
                            help="write to FILE (parent directories are created; default: stdout)")
        parser.add_argument("--all", action="store_true", dest="include_all",
                            help="list healthy URLs too, not only problems")
        parser.add_argument("--run", type=int, metavar="ID", dest="run_id",
                            help="report this run (default: the latest)")
        parser.add_argument("--fail-on", metavar="OUTCOMES",
                            help="comma-separated outcomes; exit with status 2 when the run "
                                 f"has a URL with one of them ({', '.join(OUTCOMES)}). For "
                                 "the failing outcomes only confirmed links count: failing in "
                                 "--broken-after consecutive runs; a newer failure does not "
                                 "fail the job")
        parser.add_argument("--broken-after", type=int, metavar="N",
                            help="a failing link counts as broken (in the headline and for "
                                 "--fail-on) once it has failed in N consecutive runs "
                                 "(default: the LINKHEALTH_BROKEN_AFTER setting, 2)")
        parser.add_argument("--with-snapshots", action="store_true",
                            help=f"also write the archived copies the report links to into "
                                 f"{SNAPSHOT_DIRECTORY}/ next to FILE (needs -o); pages are "
                                 "saved as .html.txt so they open as text and run nothing")


    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        db_path = self.db_path(opts)
        assert self.settings is not None  # Scrapy sets them before run()
        broken_after = (opts.broken_after if opts.broken_after is not None
                        else self.settings.getint("LINKHEALTH_BROKEN_AFTER"))
        if broken_after < 1:
            self.error(f"--broken-after (LINKHEALTH_BROKEN_AFTER) must be at least 1, "
                        f"not {broken_after}")
            return
        if opts.with_snapshots and not opts.output:
            self.error("--with-snapshots needs -o FILE (the snapshots go next to it)")
            return
        try:
            fail_on = parse_outcomes(opts.fail_on) if opts.fail_on is not None else frozenset()
        except ValueError as exc:
            self.error(str(exc))
            return
        try:
            with gc_tuning.paused(), Store(db_path, readonly=True) as store:
                report = build_report(store, opts.run_id, include_all=opts.include_all,
                                      broken_after=broken_after)
                if opts.with_snapshots:
                    export_report_snapshots(store, report,
                                            Path(opts.output).parent / SNAPSHOT_DIRECTORY)
            with gc_tuning.paused():
                self._write(CHUNK_RENDERERS[opts.format](report), opts.output)
        except (StoreError, ReportError, OSError) as exc:
            self.error(f"{db_path}: {exc}" if isinstance(exc, ReportError) else str(exc))
            return
        self.exitcode = self._fail_on_status(report, fail_on, self.shown_name)

    @staticmethod
    def _write(chunks: Iterable[str], output: str | None) -> None:
        """Write the report as it is rendered. A file is written next to ``output`` and then
        renamed over it (``crawler.core.output_files``): a report that fails half-way leaves the
        previous one in place."""
        if output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk.encode("utf-8"))
            sys.stdout.flush()
            return
        with atomic_output(output, "w", encoding="utf-8") as out:
            out.writelines(chunks)

    @staticmethod
    def _fail_on_status(report: Report, outcomes: frozenset[str], shown_name: str) -> int:
        """2 when a URL matches ``--fail-on``: for the failing outcomes, a confirmed one."""
        matched = fail_on_counts(report, outcomes)
        pending = fail_on_counts(report, outcomes, confirmed=False)
        rule = (f"failing in at least {report.broken_after} consecutive runs"
                if report.broken_after > 1 else "failing")
        if pending:
            print(f"{shown_name}: --fail-on: not counted, failing in fewer than "
                  f"{report.broken_after} consecutive runs (not yet confirmed): "
                  f"{', '.join(f'{n} {o}' for o, n in pending.items())}", file=sys.stderr)
        if not matched:
            return EXIT_OK
        counts = ", ".join(f"{n} {o}" for o, n in matched.items())
        confirmed = " (confirmed: " + rule + ")" if set(matched) & FAILING_OUTCOMES else ""
        listed = fail_on_urls(report, outcomes)[:5]
        examples = "".join(f"\n  {e.outcome}: {printable(e.url)}" for e in listed)
        print(f"{shown_name}: --fail-on matched in run {report.run['id']}: {counts}{confirmed}"
              f"{examples}", file=sys.stderr)
        return EXIT_FAIL_ON
