"""Archived copies next to a report: the files its HTML links to.

``export_report_snapshots`` writes the body of every snapshot a report links to
into a directory (``snapshots/`` beside the report), named by
``crawler.archive.copies.snapshot_filename``: anything a browser would run is saved
as text.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlite_utils

from crawler.archive.copies import snapshot_filename
from crawler.core.output_files import output_directory, write_bytes
from crawler.report.model import Report
from crawler.store.database import Store
from crawler.store.snapshots import read_body

SNAPSHOT_DIRECTORY = "snapshots"
"""Where, relative to the report, the HTML report links archived copies."""


def snapshot_href(snapshot: dict[str, Any]) -> str:
    """The relative link from the report to an exported snapshot."""
    return f"{SNAPSHOT_DIRECTORY}/{snapshot_filename(snapshot)}"


def export_report_snapshots(db: Store | sqlite_utils.Database | sqlite3.Connection,
                            report: Report, directory: str | Path) -> list[Path]:
    """Write the body of every snapshot ``report`` links to into ``directory`` (created),
    named by ``snapshot_filename``; return the files written. A snapshot whose blob is
    gone is skipped. Each file is written beside its name and renamed over it, and a
    ``directory`` that is a symbolic link is refused (``crawler.core.output_files``)."""
    conn = db.db.conn if isinstance(db, Store) else (
        db.conn if isinstance(db, sqlite_utils.Database) else db)
    target = Path(directory)
    snapshots = {e.last_snapshot["id"]: e.last_snapshot for e in report.urls if e.last_snapshot}
    written: list[Path] = []
    for snapshot_id in sorted(snapshots):
        row = conn.execute("SELECT digest FROM snapshots WHERE id = ?", [snapshot_id]).fetchone()
        if row is None or row[0] is None:
            continue
        try:
            body = read_body(conn, row[0])
        except KeyError:
            continue
        path = output_directory(target) / snapshot_filename(snapshots[snapshot_id])
        write_bytes(path, body)
        written.append(path)
    return written
