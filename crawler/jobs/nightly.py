"""The nightly run: crawl a site, then write its report in every format into a dated directory.

    linkhealth nightly SITE_DIR [--db state/linkhealth.db] [--out state/reports]
        [--fail-on broken,dns_error] [-s NAME=VALUE ...] [-a NAME=VALUE ...]

(or ``python -m crawler.jobs.nightly --source SITE_DIR ...``)

1. ``linkhealth crawl DIR -s LINKHEALTH_DB=DB`` (``scrapy crawl links`` with the project's
   settings), plus every ``-s`` setting and ``-a`` spider argument given here.
2. ``linkhealth report`` of that run, in every format, into ``OUT/YYYY-MM-DD/`` (today's local
   date): ``report.md``, ``report.html``, ``report.json`` and ``report.csv``. The ``-s``
   settings are passed to the report too (``LINKHEALTH_BROKEN_AFTER``, for instance).
3. The archived snapshots the report links to, into ``OUT/YYYY-MM-DD/snapshots/`` where the
   HTML report's links point (``crawler.report.snapshot_files``).

Exit status: 0 done; 2 when ``--fail-on`` matched (the status of ``scrapy report
--fail-on``); 1 when the crawl failed (its exit status, or a run that did not finish), or
a report or the snapshots could not be written. ``make nightly SOURCE=DIR [FAIL_ON=broken]`` runs this.
Relative paths are taken from the current directory, where the commands run too.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from crawler.core.usage import ArgumentParser
from crawler.report.model import build_report
from crawler.report.snapshot_files import SNAPSHOT_DIRECTORY, export_report_snapshots
from crawler.store.database import Store

FORMATS = ("md", "html", "json", "csv")
EXIT_OK, EXIT_ERROR, EXIT_FAIL_ON = 0, 1, 2  # as crawler.commands.report
REPORT_TIMEOUT = 15 * 60


class NightlyError(Exception):
    """The nightly run cannot go on; the message says why."""


def say(message: str) -> None:
    print(f"nightly {datetime.now():%Y-%m-%d %H:%M:%S}: {message}", file=sys.stderr, flush=True)


def linkhealth(*args: str) -> list[str]:
    """The installed command (``crawler.cli.linkhealth``), whatever the current directory
    holds: ``-P`` keeps it from being put first on the module path."""
    return [sys.executable, "-P", "-m", "crawler.cli.linkhealth", *args]


def setting_args(settings: Sequence[str]) -> list[str]:
    return [arg for setting in settings for arg in ("-s", setting)]


# -- the crawl -----------------------------------------------------------------------


def latest_run(db: Path) -> dict[str, Any] | None:
    """The newest row of ``runs`` (id, status, error), or None (no database, no run)."""
    if not db.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            row = conn.execute("SELECT id, status, error FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return None if row is None else {"id": row[0], "status": row[1], "error": row[2]}


def crawl_args(source: Path, db: Path, settings: Sequence[str] = (),
               spider_args: Sequence[str] = ()) -> list[str]:
    """``linkhealth``'s arguments for the crawl of ``source`` into ``db``. The site as given:
    the crawl records it (runs.source, shown in every report)."""
    return ["crawl", str(source), "-s", f"LINKHEALTH_DB={db}", *setting_args(settings),
            *(word for arg in spider_args for word in ("-a", arg))]


def recorded_run(db: Path, before: dict[str, Any] | None, status: int) -> int:
    """The id of the run a crawl that exited with ``status`` recorded after ``before`` (the
    latest run when it started), finished; else NightlyError says why."""
    if status != 0:
        raise NightlyError(f"the crawl failed (linkhealth crawl exited with status {status})")
    run = latest_run(db)
    if run is None or (before is not None and run["id"] == before["id"]):
        raise NightlyError(f"the crawl recorded no run in {db}")
    if run["status"] != "finished":
        raise NightlyError(f"run {run['id']} did not finish: {run['status']}"
                           + (f" ({run['error']})" if run["error"] else ""))
    return int(run["id"])


def crawl(source: Path, db: Path, settings: Sequence[str] = (),
          spider_args: Sequence[str] = (), timeout: float | None = None) -> int:
    """Run the crawl; return the id of the run it recorded, or raise NightlyError."""
    before = latest_run(db)
    command = linkhealth(*crawl_args(source, db, settings, spider_args))
    try:
        status = subprocess.run(command, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        raise NightlyError(f"the crawl did not end within {timeout:.0f}s") from None
    return recorded_run(db, before, status)


# -- the reports ------------------------------------------------------------------------


def ended(process: subprocess.Popen[str], timeout: float, log: TextIO) -> int:
    """The exit status of a command whose stderr is piped, killed after ``timeout`` seconds;
    what it said goes to ``log``."""
    try:
        _, errors = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, errors = process.communicate()
    log.write(errors)
    log.flush()
    return process.returncode


def report_args(db: Path, run_id: int, fmt: str, output: Path,
                settings: Sequence[str] = ()) -> list[str]:
    """``linkhealth``'s arguments for the report of ``run_id`` in ``fmt`` into ``output``."""
    return ["report", "--db", str(db), "--run", str(run_id), "--format", fmt, "-o", str(output),
            *setting_args(settings)]


def write_reports(db: Path, directory: Path, run_id: int, settings: Sequence[str] = (),
                  fail_on: str | None = None) -> int:
    """``linkhealth report`` of ``run_id`` in every format into ``directory`` (in parallel).

    Returns the exit status of the report with ``--fail-on`` (0, or 2 when it matched),
    or 1 when any report failed. Their messages go to stderr.
    """
    directory.mkdir(parents=True, exist_ok=True)
    processes = []
    for fmt in FORMATS:
        command = linkhealth(*report_args(db, run_id, fmt, directory / f"report.{fmt}", settings))
        if fail_on and fmt == FORMATS[0]:
            command += ["--fail-on", fail_on]
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True))
    statuses = [ended(process, REPORT_TIMEOUT, sys.stderr) for process in processes]
    if any(status not in (EXIT_OK, EXIT_FAIL_ON) for status in statuses):
        return EXIT_ERROR
    return statuses[0]


def export_snapshots(db: Path, directory: Path, run_id: int) -> list[Path]:
    """Write the archived snapshots the report of ``run_id`` links to into
    ``directory/snapshots/`` (where the HTML report's relative links point).
    Returns the files written; errors propagate."""
    with Store(db, readonly=True) as store:
        report = build_report(store, run_id)
        return export_report_snapshots(store.db, report, directory / SNAPSHOT_DIRECTORY)


# -- the whole run ----------------------------------------------------------------------


def nightly(source: Path, db: Path, out: Path, fail_on: str | None = None,
            settings: Sequence[str] = (), spider_args: Sequence[str] = ()) -> int:
    if fail_on is not None:
        from crawler.commands.report import parse_outcomes
        try:
            parse_outcomes(fail_on)
        except ValueError as exc:
            say(f"error: {exc}")
            return EXIT_ERROR
    if not source.is_dir():
        say(f"error: the site directory does not exist: {source}")
        return EXIT_ERROR
    say(f"crawling {source} into {db}")
    try:
        run_id = crawl(source, db, settings, spider_args)
    except NightlyError as exc:
        say(f"error: {exc}; no report written")
        return EXIT_ERROR
    directory = out / datetime.now().date().isoformat()
    say(f"run {run_id} finished; writing its reports into {directory}/")
    status = write_reports(db, directory, run_id, settings, fail_on)
    if status == EXIT_ERROR:
        say(f"error: a report could not be written into {directory}/")
    try:
        exported = export_snapshots(db, directory, run_id)
    except Exception as exc:  # noqa: BLE001 - whatever it raises, the night must say so
        say(f"error: exporting the archived snapshots failed: {type(exc).__name__}: {exc}")
        return EXIT_ERROR
    if exported:
        say(f"{len(exported)} archived snapshots the report links to written in "
            f"{exported[0].parent}/")
    if status != EXIT_ERROR:
        files = ", ".join(f"report.{fmt}" for fmt in FORMATS)
        matched = f"; --fail-on {fail_on} matched: exit status 2" if status == EXIT_FAIL_ON else ""
        say(f"{files} written in {directory}/{matched}")
    return status


def parse_args(argv: Sequence[str] | None = None,
               prog: str = "python -m crawler.jobs.nightly") -> argparse.Namespace:
    parser = ArgumentParser(
        prog=prog,
        description="Crawl a site, then write its report in every format into OUT/YYYY-MM-DD/. "
                    "Exit status: 0 done, 2 when --fail-on matched, 1 when the crawl failed.",
        epilog="Example: linkhealth nightly ../my-site --fail-on broken "
               "-s LINKHEALTH_RECHECK_AFTER=3d")
    parser.add_argument("site", nargs="?", type=Path, metavar="SITE_DIR",
                        help="the site directory (its front-matter files are read)")
    parser.add_argument("--source", type=Path, metavar="DIR", help="the same, as an option")
    parser.add_argument("--db", type=Path, default=Path("state", "linkhealth.db"),
                        metavar="PATH", help="the database (default: state/linkhealth.db)")
    parser.add_argument("--out", type=Path, default=Path("state", "reports"), metavar="DIR",
                        help="reports go into DIR/YYYY-MM-DD/ (default: state/reports)")
    parser.add_argument("--fail-on", metavar="OUTCOMES",
                        help="comma-separated outcomes: exit status 2 when the run has one")
    parser.add_argument("-s", "--set", dest="settings", action="append", default=[],
                        metavar="NAME=VALUE", help="a setting for the crawl and the reports")
    parser.add_argument("-a", dest="spider_args", action="append", default=[],
                        metavar="NAME=VALUE", help="a spider argument, such as base_url=URL")
    args = parser.parse_args(argv)
    if (args.site is None) == (args.source is None):
        parser.error("give the site directory once: SITE_DIR or --source DIR")
    args.source = args.source or args.site
    for value in args.settings + args.spider_args:
        if "=" not in value:
            parser.error(f"expected NAME=VALUE, got {value!r}")
    return args


def main(argv: Sequence[str] | None = None, prog: str = "python -m crawler.jobs.nightly") -> int:
    args = parse_args(argv, prog)
    return nightly(args.source, args.db.resolve(), args.out.resolve(),
                   fail_on=args.fail_on, settings=args.settings, spider_args=args.spider_args)


if __name__ == "__main__":
    sys.exit(main())
