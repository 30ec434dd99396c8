"""``scrapy prune``: delete old, superseded snapshots (a dry run unless --apply).

Example: ``scrapy prune --keep 3 --older-than 90d`` shows what would go;
``scrapy prune --keep 3 --older-than 90d --apply --vacuum`` deletes it and shrinks the file.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from crawler.archive.archive_io import PrunePlan, apply_prune, parse_duration, prune_plan
from crawler.cli.database_command import DatabaseCommand
from crawler.core.text import human_bytes
from crawler.store.database import Store, StoreError


def describe(plan: PrunePlan) -> str:
    """``3 snapshots of 2 URLs and 2 blobs (1.2 KiB stored, 4.0 KiB uncompressed)``."""
    snapshots = f"{plan.count} snapshot{'s' * (plan.count != 1)}"
    urls = f"{plan.urls} URL{'s' * (plan.urls != 1)}"
    blobs = len(plan.blob_digests)
    return (f"{snapshots} of {urls} and {blobs} blob{'s' * (blobs != 1)} "
            f"({human_bytes(plan.blob_bytes)} stored, {human_bytes(plan.blob_size)} uncompressed)")


class Command(DatabaseCommand):
    name = "prune"

    def short_desc(self) -> str:
        return "Delete old superseded snapshots from the archive (dry run unless --apply)"

    def long_desc(self) -> str:
        return (
            "For every URL keep the newest --keep snapshots (never fewer than one: the last "
            "good copy always stays) and delete the older ones fetched more than --older-than "
            "ago; snapshots the latest run points at stay too. Bodies shared with a snapshot "
            "that stays are kept; checks of deleted snapshots keep their history with no "
            "snapshot. Without --apply nothing is deleted: the command prints what would be. "
            "Exit status: 0 done, 1 error. Example: scrapy prune --keep 3 --older-than 90d "
            "--apply --vacuum"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--keep", type=int, default=1, metavar="N",
                            help="snapshots kept per URL whatever their age (default: 1)")
        parser.add_argument("--older-than", default="30d", metavar="DURATION",
                            help="delete only snapshots older than this: 90d, 12h, 45m, 2w or "
                                 "seconds (default: 30d)")
        parser.add_argument("--apply", action="store_true",
                            help="delete (default: only print what would be deleted)")
        parser.add_argument("--vacuum", action="store_true",
                            help="with --apply: VACUUM the database afterwards to give the "
                                 "space back to the file system")
        parser.add_argument("--force", action="store_true",
                            help="with --apply: prune even though a run is marked running "
                                 "(only after checking that no crawl is alive)")


    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        db_path = self.db_path(opts)
        try:
            older_than = parse_duration(opts.older_than)
        except ValueError as exc:
            self.error(f"--older-than: {exc}")
            return
        if opts.keep < 1:
            self.error("--keep must be at least 1 (the newest snapshot of a URL always stays)")
            return
        if not Path(db_path).is_file():  # a writable Store would create an empty one
            self.error(f"no database at {db_path} (run a crawl first)")
            return
        try:
            with Store(db_path, readonly=not opts.apply) as store:
                plan = prune_plan(store.db.conn, opts.keep, older_than)
                if not opts.apply:
                    print(f"would delete {describe(plan)}"
                          + ("; run again with --apply to delete" if plan.count else ""))
                    if opts.vacuum:
                        print("--vacuum does nothing without --apply")
                    return
                running = store.db.execute(
                    "SELECT id, started_at FROM runs WHERE status = 'running'").fetchone()
                if running and not opts.force:
                    self.error(f"run {running[0]} (started {running[1]}) is marked running: a "
                                "crawl may be writing snapshots whose blobs this would delete. "
                                "Wait for it, or pass --force if that crawl is dead")
                    return
                apply_prune(store.db.conn, plan, vacuum=opts.vacuum)
                print(f"deleted {describe(plan)}" + ("; vacuumed" if opts.vacuum else ""))
        except (StoreError, ValueError) as exc:
            self.error(str(exc))
        except sqlite3.Error as exc:
            self.error(f"{db_path}: {exc}")

