"""``scrapy fix``: turn the latest run's findings into a reviewed patch of the site.

Example: ``scrapy fix -o fix.patch`` writes a patch that rewrites every reference to a link
that moved permanently (seen so in LINKHEALTH_BROKEN_AFTER runs in a row) to its new URL;
review it, then ``git apply fix.patch`` from the site's root. ``--dead auto`` also replaces
confirmed dead links: pages by their Wayback capture, images by a copy of their last good
snapshot written into the site, AMP fields removed.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

import sqlite_utils

from crawler.cli.database_command import DatabaseCommand
from crawler.core.control_chars import printable
from crawler.core.output_files import write_bytes
from crawler.fix.apply import StaleFile, apply_changes
from crawler.fix.binary_patch import new_file_patch
from crawler.fix.plan import DeadPolicy, Options, Plan, PlanError, make_plan
from crawler.fix.unified_diff import unified_diff
from crawler.store.database import Store, StoreError


class Command(DatabaseCommand):
    name = "fix"

    def short_desc(self) -> str:
        return "Write the moved (and, if asked, dead) links of the latest run as a patch of the site"

    def long_desc(self) -> str:
        return (
            "Read the latest run (or --run ID) and the site it crawled (the run's recorded "
            "source, or --source DIR), and write a unified diff that `git apply` takes from the "
            "site's root: to stdout, to -o FILE, or applied in place with --apply. Every "
            "reference to a URL that answered through permanent redirects only, to the same "
            "final URL, in --broken-after consecutive runs (LINKHEALTH_BROKEN_AFTER) is "
            "rewritten to that URL, its fragment kept. With --dead, confirmed dead links are "
            "replaced too: 'wayback' by the capture closest to the document's date "
            "(LINKHEALTH_WAYBACK), 'local' by the last good snapshot written into the site "
            "under --local-dir, 'auto' pages by Wayback, images locally, AMP fields removed; or "
            "KIND=MODE,... (kinds page, image, amp, other; modes none, wayback, local, "
            "remove). Only the characters of a changed value change; a file that changed since "
            "the run read it is left alone. What cannot be fixed is listed on stderr with its "
            "reason. Exit status: 0 done, 1 error. Example: scrapy fix -o fix.patch "
            "--dead auto, then git apply fix.patch in the site"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--run", type=int, metavar="ID", dest="run_id",
                            help="fix what this run found (default: the latest)")
        parser.add_argument("-o", "--output", metavar="FILE", help="write the patch to FILE")
        parser.add_argument("--apply", action="store_true",
                            help="change the site's files in place instead (each atomically)")
        parser.add_argument("--dead", default="none", metavar="MODE",
                            help="confirmed dead links: none (default), wayback, local, auto, "
                                 "or KIND=MODE,...")
        parser.add_argument("--only", metavar="FIELD_GLOB",
                            help="only fields matching this (* matches anything: "
                                 "'related*.webUrl', '*images*')")
        parser.add_argument("--source", metavar="DIR",
                            help="the site's directory (default: the one the run crawled)")
        parser.add_argument("--body", action="store_true",
                            help="edit links in the documents' bodies too (checked with "
                                 "-a body_links=1)")
        parser.add_argument("--local-dir", default="assets/archive", metavar="DIR",
                            help="where --dead local writes copies, in the site "
                                 "(default: assets/archive)")
        parser.add_argument("--broken-after", type=int, metavar="N",
                            help="checks in a row that confirm a move or a dead link "
                                 "(default: LINKHEALTH_BROKEN_AFTER)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        try:
            options = Options(
                runs=opts.broken_after or self.settings.getint("LINKHEALTH_BROKEN_AFTER"),
                dead=DeadPolicy.parse(opts.dead), only=opts.only, body=opts.body,
                local_dir=opts.local_dir)
        except ValueError as exc:
            self.error(str(exc))
            return
        if opts.apply and opts.output:
            self.error("--apply changes the site in place; -o writes a patch: choose one")
            return
        try:
            with Store(self.db_path(opts), readonly=True) as store:
                root = self._site(store.db, opts)
                plan = make_plan(store.db, root, opts.run_id, options)
        except (StoreError, PlanError, OSError, sqlite3.Error) as exc:
            self.error(str(exc))
            return
        try:
            self._write(plan, opts)
        except (StaleFile, OSError, ValueError) as exc:
            self.error(str(exc))
            return
        self._say(plan, opts)

    def _site(self, db: sqlite_utils.Database, opts: argparse.Namespace) -> Path:
        if opts.source:
            root = Path(opts.source)
        else:
            where = "WHERE id = ?" if opts.run_id is not None else ""
            args = [opts.run_id] if opts.run_id is not None else []
            row = next(db.query(f"SELECT source FROM runs {where} ORDER BY id DESC LIMIT 1",
                                args), None)
            if row is None or not row["source"]:
                raise PlanError("the run recorded no site directory: give it with --source DIR")
            root = Path(row["source"])
        if not root.is_dir():
            raise PlanError(f"the site's directory {root} is not there: give it with --source DIR")
        return root

    def _write(self, plan: Plan, opts: argparse.Namespace) -> None:
        if opts.apply:
            for path, data in plan.new_files.items():  # copies first: references then point at them
                target = plan.root / path
                if target.exists() and target.read_bytes() != data:
                    raise StaleFile(f"{path}: exists with other bytes; not overwritten")
                write_bytes(target, data, durable=True)
            apply_changes(plan.root, plan.files)
            return
        patch = unified_diff(plan.files) + b"".join(
            new_file_patch(path, data) for path, data in sorted(plan.new_files.items()))
        if opts.output:
            write_bytes(opts.output, patch)
        else:
            sys.stdout.buffer.write(patch)
            sys.stdout.flush()

    def _say(self, plan: Plan, opts: argparse.Namespace) -> None:
        where = ("applied to " if opts.apply else "patch of ") + printable(str(plan.root))
        lines = [f"{self.shown_name}: run {plan.run['id']}, {where}", plan.summary()]
        lines += [f"  not fixed: {printable(item.path)} {printable(item.field)} "
                  f"{printable(item.old)}: {printable(item.reason)}"
                  for item in sorted(plan.not_fixed, key=lambda i: (i.path, i.field))]
        print("\n".join(lines), file=sys.stderr)
