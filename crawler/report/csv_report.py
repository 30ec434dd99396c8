"""The CSV report: one row per reference (or URL), a spreadsheet never runs a cell of it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from crawler.core.control_chars import CONTROLS, REPLACEMENT
from crawler.report.model import Report
from crawler.report.text import status_text

CSV_COLUMNS = ("path", "field", "kind", "url", "outcome", "status", "final_url", "error",
               "checked_at", "first_failed_at", "consecutive_failures", "permanent_redirect",
               "last_snapshot_id", "wayback", "failing_streak", "confirmed", "change")


def render_csv(report: Report) -> str:
    return "".join(csv_chunks(report))


CSV_CHUNK_ROWS = 10_000


CSV_FORMULA_START = "=+-@\t\r"


def csv_text(value: str | None) -> str:
    """A text cell that no spreadsheet runs: one starting like a formula gets a leading
    single quote (OWASP's advice; every cell is quoted), control characters are replaced.
    Written out: called for every text cell of a report of every URL."""
    if not value:
        return ""
    if value[0] in CSV_FORMULA_START:
        value = "'" + value
    return value if value.isprintable() else CONTROLS.sub(REPLACEMENT, value)


def csv_chunks(report: Report) -> Iterator[str]:
    """One row per (URL, reference); a URL without references gets one row. In pieces of
    ``CSV_CHUNK_ROWS`` rows. Text from the site or the web goes through ``csv_text``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for entry in report.urls:
        url_cells = [csv_text(entry.url), csv_text(entry.outcome), status_text(entry.status),
                     csv_text(entry.final_url), csv_text(entry.error), csv_text(entry.checked_at),
                     csv_text(entry.first_failed_at), entry.consecutive_failures,
                     int(entry.permanent_redirect),
                     entry.last_snapshot["id"] if entry.last_snapshot else "",
                     csv_text(entry.wayback), entry.failing_streak, int(entry.confirmed),
                     csv_text(entry.change)]
        for ref in entry.refs or (None,):
            writer.writerow([csv_text(ref.path), csv_text(ref.field), csv_text(ref.kind),
                             *url_cells] if ref else ["", "", "", *url_cells])
            rows += 1
            if rows % CSV_CHUNK_ROWS == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
    yield out.getvalue()
