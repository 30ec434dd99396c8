"""``scrapy snapshot``: the archived body of a URL, or the list of its snapshots.

Example: ``scrapy snapshot https://example.com/post -o post.html`` writes the newest
archived copy; ``scrapy snapshot https://example.com/post --list`` shows every capture.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from typing import Any

from crawler.archive.archive_io import (
    ArchiveError,
    find_url_key,
    latest_snapshot,
    snapshot_body,
    snapshot_by_id,
    snapshots_of,
)
from crawler.cli.database_command import EXIT_ERROR, DatabaseCommand
from crawler.core.output_files import write_bytes
from crawler.store.database import Store, StoreError

LIST_COLUMNS = ("id", "fetched_at", "status", "content type", "size", "compressed", "truncated",
                "digest")


class CommandError(Exception):
    """Ends the command with a one-line message and exit status 1."""


def snapshot_table(rows: list[dict[str, Any]]) -> str:
    """The snapshot history as an aligned plain-text table, newest first."""
    lines = [LIST_COLUMNS] + [(
        str(row["id"]), row["fetched_at"] or "", str(row["status"] or ""),
        row["content_type"] or "", str(row["size"] or 0), str(row["compressed_size"] or 0),
        "yes" if row["truncated"] else "no", (row["digest"] or "")[:12],
    ) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(LIST_COLUMNS))]
    numeric = {0, 2, 4, 5}
    return "".join(
        "  ".join(cell.rjust(w) if i in numeric else cell.ljust(w)
                  for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip() + "\n"
        for line in lines)


class Command(DatabaseCommand):
    name = "snapshot"
    max_arguments = 1

    def syntax(self) -> str:
        return "URL [options]"

    def short_desc(self) -> str:
        return "Write the archived body of a URL, or list its snapshots"

    def long_desc(self) -> str:
        return (
            "Write the newest archived body of URL (exactly the bytes stored: any "
            "Content-Encoding was removed when it was archived) to FILE or stdout; --id picks "
            "one snapshot, --list prints the snapshot history instead. URL is matched as "
            "normalised (scheme and host case, default port, fragment) or as requested. Exit "
            "status: 0 done, 1 error (no database, unknown URL, no snapshot). Example: scrapy "
            "snapshot https://example.com/post -o post.html"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-o", "--output", metavar="FILE",
                            help="write to FILE (parent directories are created; default: stdout)")
        parser.add_argument("--list", action="store_true", dest="list_snapshots",
                            help="list the URL's snapshots (id, time, status, type, sizes, "
                                 "truncated, digest) instead of writing a body")
        parser.add_argument("--id", type=int, metavar="N", dest="snapshot_id",
                            help="write snapshot N instead of the newest (see --list)")


    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        db_path = self.db_path(opts)
        url = args[0] if args else None
        try:
            if url is None and (opts.list_snapshots or opts.snapshot_id is None):
                raise CommandError(f"give the URL whose snapshot to write ({self.shown_name} URL)")
            if opts.list_snapshots and opts.snapshot_id is not None:
                raise CommandError("--list and --id do not go together")
            with Store(db_path, readonly=True) as store:
                data = self._produce(store.db.conn, url, opts)
            self._write(data, opts.output)
        except BrokenPipeError:
            self._stdout_gone()
        except (CommandError, ArchiveError) as exc:
            self.error(str(exc))
        except (StoreError, OSError) as exc:
            self.error(str(exc))
        except sqlite3.Error as exc:
            self.error(f"{db_path}: {exc}")

    @staticmethod
    def _produce(db: sqlite3.Connection, url: str | None, opts: argparse.Namespace) -> bytes:
        key = None
        if url is not None:
            key = find_url_key(db, url)
            if key is None:
                raise CommandError(f"{url} is not in the database")
        if opts.list_snapshots:
            assert key is not None
            rows = snapshots_of(db, key)
            if not rows:
                raise CommandError(f"no snapshot of {key}")
            return snapshot_table(rows).encode("utf-8")
        if opts.snapshot_id is not None:
            row = snapshot_by_id(db, opts.snapshot_id)
            if row is None:
                raise CommandError(f"no snapshot with id {opts.snapshot_id}")
            if key is not None:
                url_id = db.execute("SELECT id FROM urls WHERE url = ?", [key]).fetchone()[0]
                if row["url_id"] != url_id:
                    raise CommandError(f"snapshot {opts.snapshot_id} is not a snapshot of {key}")
        else:
            assert key is not None
            row = latest_snapshot(db, key)
            if row is None:
                raise CommandError(f"no snapshot of {key} (never archived: not 2xx, "
                                   "not an archived type, or archiving off)")
        return snapshot_body(db, row)

    @staticmethod
    def _write(data: bytes, output: str | None) -> None:
        if output is None:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        write_bytes(output, data)  # never through a link planted at FILE (crawler.core.output_files)

    def _stdout_gone(self) -> None:
        # The reader went away (e.g. `| head`): no traceback at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        self.exitcode = EXIT_ERROR

