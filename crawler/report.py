"""The report of a run, read from the SQLite store with plain SQL.

``build_report`` judges one run (the latest by default) and returns a
``Report``; the groupings below (``by_document``, ``by_domain``,
``redirect_updates``) are what maintainers act on. Renderers live in
``crawler.report_render``. No Scrapy here: the module works on any copy of the
database.

History is exact for the run being reported: ``checks`` holds one row per URL
per run, ``refs`` remember the runs they were seen in. The failure streak
(``first_failed_at``, ``consecutive_failures``) comes from ``urls`` when the
URL was last checked in that run, and is recomputed from ``checks`` for an
older run. Parse errors are those of documents last read in that run.

Failing URLs (``ARCHIVED_COPY_OUTCOMES``) carry where a copy of them can still
be read: our own newest snapshot taken in that run or before, and the Wayback
capture found for them (the latest lookup wins). A database written before the
archive tables existed (opened read-only, so not migrated) reports without them.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from crawler.items import FAILING_OUTCOMES, OUTCOMES
from crawler.store import Store
from crawler.wayback import WAYBACK_OUTCOMES

RUN_COLUMNS = (
    "id", "started_at", "finished_at", "status", "source", "base_url", "documents",
    "parse_errors", "skipped_files", "refs", "unique_urls", "requested", "summary", "error",
    "skipped", "archived_bytes",
)

ARCHIVED_COPY_OUTCOMES = WAYBACK_OUTCOMES
"""Outcomes for which the report looks up an archived copy (ours and the Wayback Machine's)."""


class ReportError(Exception):
    """The report cannot be built (no run, unreadable database); the message says why."""


@dataclass(slots=True)
class Ref:
    path: str
    field: str
    kind: str | None
    raw: str | None  # the URL as written in the document
    title: str | None = None


@dataclass(slots=True)
class UrlEntry:
    url: str
    outcome: str
    status: int | None
    final_url: str | None
    redirects: list[dict[str, Any]]
    error: str | None
    checked_at: str | None
    first_failed_at: str | None
    consecutive_failures: int
    permanent_redirect: bool
    refs: list[Ref] = field(default_factory=list)
    domain: str | None = None
    failing_for: str = ""  # "3 days", "first failure", or "" when not failing
    # our newest snapshot up to this run: id, fetched_at, content_type, size, truncated
    last_snapshot: dict[str, Any] | None = None
    wayback: str | None = None  # capture URL of the Wayback Machine copy
    wayback_timestamp: str | None = None  # its 14-digit capture time (YYYYMMDDhhmmss)


@dataclass(slots=True)
class ParseError:
    path: str
    error: str
    line: int | None


@dataclass(slots=True)
class Report:
    run: dict[str, Any]
    summary: dict[str, int]
    urls: list[UrlEntry]
    parse_errors: list[ParseError]
    include_all: bool = False

    @property
    def checked(self) -> int:
        return sum(self.summary.values())

    @property
    def problems(self) -> list[UrlEntry]:
        return [u for u in self.urls if is_problem(u)]


@dataclass(slots=True)
class DocumentRow:
    field: str
    entry: UrlEntry


@dataclass(slots=True)
class DocumentGroup:
    path: str
    title: str | None
    rows: list[DocumentRow]


@dataclass(slots=True)
class DomainGroup:
    domain: str
    urls: list[UrlEntry]
    outcomes: dict[str, int]


@dataclass(slots=True)
class RedirectUpdate:
    path: str
    field: str
    old_url: str
    new_url: str


def is_problem(entry: UrlEntry) -> bool:
    return entry.outcome != "ok"


def outcome_rank(outcome: str) -> int:
    return OUTCOMES.index(outcome) if outcome in OUTCOMES else len(OUTCOMES)


# -- building ------------------------------------------------------------------


def build_report(source: Store | sqlite_utils.Database, run_id: int | None = None,
                 include_all: bool = False) -> Report:
    """The report of ``run_id`` (default: the latest run); raises ``ReportError``."""
    db = source.db if isinstance(source, Store) else source
    try:
        run = _load_run(db, run_id)
        urls = _load_urls(db, run, include_all)
        return Report(run=run, summary=_load_summary(db, run["id"]), urls=urls,
                      parse_errors=_load_parse_errors(db, run["id"]), include_all=include_all)
    except sqlite3.Error as exc:
        raise ReportError(f"cannot read the database: {exc}") from exc


def _load_run(db: sqlite_utils.Database, run_id: int | None) -> dict[str, Any]:
    existing = set(db["runs"].columns_dict)  # an unmigrated database lacks the newer ones
    columns = [c if c in existing else f"NULL AS {c}" for c in RUN_COLUMNS]
    sql = f"SELECT {', '.join(columns)} FROM runs"
    rows = list(db.query(sql + " ORDER BY id DESC LIMIT 1") if run_id is None
                else db.query(sql + " WHERE id = ?", [run_id]))
    if not rows:
        raise ReportError("no runs in the database (run a crawl first)" if run_id is None
                          else f"no run {run_id} in the database")
    run = rows[0]
    run["summary"] = _json_or(run["summary"], {})
    run["permanent_redirects"] = db.execute(
        "SELECT COUNT(*) FROM checks WHERE run_id = ? AND permanent_redirect = 1",
        [run["id"]]).fetchone()[0]
    return run


def _load_summary(db: sqlite_utils.Database, run_id: int) -> dict[str, int]:
    counts = dict(db.execute(
        "SELECT outcome, COUNT(*) FROM checks WHERE run_id = ? GROUP BY outcome", [run_id]))
    return {o: counts[o] for o in sorted(counts, key=lambda o: (outcome_rank(o), o))}


URLS_SQL = """
SELECT c.url_id, coalesce(u.request_url, u.url) AS url, u.domain, u.last_run_id,
       u.first_failed_at, u.consecutive_failures, c.outcome, c.status, c.final_url,
       c.redirects, c.error, c.checked_at, c.permanent_redirect
FROM checks c JOIN urls u ON u.id = c.url_id
WHERE c.run_id = :run {where}
"""

STREAK_SQL = """
WITH last_ok AS (
    SELECT url_id, MAX(run_id) AS run_id FROM checks
    WHERE run_id <= :run AND outcome = 'ok' GROUP BY url_id)
SELECT f.url_id, MIN(f.checked_at) AS first_failed_at, COUNT(*) AS consecutive_failures
FROM checks f LEFT JOIN last_ok o ON o.url_id = f.url_id
WHERE f.run_id <= :run AND f.run_id > coalesce(o.run_id, 0) AND f.outcome IN ({failing})
GROUP BY f.url_id
"""

REFS_SQL = """
SELECT r.url_id, d.path, d.title, r.field, r.kind, r.raw
FROM refs r JOIN documents d ON d.id = r.document_id
WHERE r.first_run_id <= :run AND r.last_run_id >= :run
ORDER BY d.path, r.field, r.id
"""


def _load_urls(db: sqlite_utils.Database, run: dict[str, Any],
               include_all: bool) -> list[UrlEntry]:
    where = "" if include_all else "AND (c.outcome != 'ok' OR c.permanent_redirect = 1)"
    rows = list(db.query(URLS_SQL.format(where=where), {"run": run["id"]}))
    if any(row["last_run_id"] != run["id"] for row in rows):
        _apply_history_streaks(db, run["id"], rows)
    refs = _load_refs(db, run["id"])
    entries = [_url_entry(row, refs.get(row["url_id"], []), run) for row in rows]
    _attach_archived_copies(db, run["id"], rows, entries)
    return sorted(entries, key=lambda e: (outcome_rank(e.outcome), e.outcome, e.url))


def _apply_history_streaks(db: sqlite_utils.Database, run_id: int,
                           rows: list[dict[str, Any]]) -> None:
    """For URLs checked again after ``run_id``, the streak as it stood in that run."""
    failing = ", ".join(f"'{o}'" for o in sorted(FAILING_OUTCOMES))
    streaks = {r["url_id"]: r for r in db.query(STREAK_SQL.format(failing=failing),
                                                {"run": run_id})}
    for row in rows:
        if row["last_run_id"] != run_id:
            streak = streaks.get(row["url_id"], {})
            row["first_failed_at"] = streak.get("first_failed_at")
            row["consecutive_failures"] = streak.get("consecutive_failures", 0)


def _load_refs(db: sqlite_utils.Database, run_id: int) -> dict[int, list[Ref]]:
    refs: dict[int, list[Ref]] = defaultdict(list)
    for row in db.query(REFS_SQL, {"run": run_id}):
        refs[row["url_id"]].append(
            Ref(row["path"], row["field"], row["kind"], row["raw"], row["title"]))
    return refs


def _url_entry(row: dict[str, Any], refs: list[Ref], run: dict[str, Any]) -> UrlEntry:
    entry = UrlEntry(
        url=row["url"], outcome=row["outcome"], status=row["status"],
        final_url=row["final_url"], redirects=_hops(row["redirects"]), error=row["error"],
        checked_at=row["checked_at"], first_failed_at=row["first_failed_at"],
        consecutive_failures=row["consecutive_failures"] or 0,
        permanent_redirect=bool(row["permanent_redirect"]), refs=refs, domain=row["domain"])
    if entry.outcome != "ok" and entry.first_failed_at:
        entry.failing_for = failing_for(entry.first_failed_at,
                                        entry.checked_at or run["started_at"],
                                        run["started_at"])
    return entry


def _hops(value: str | None) -> list[dict[str, Any]]:
    hops = _json_or(value, [])
    if not isinstance(hops, list):
        return []
    return [{"url": h.get("url"), "status": h.get("status")} for h in hops if isinstance(h, dict)]


def _json_or(value: str | None, default: Any) -> Any:
    if not value:
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


SNAPSHOTS_SQL = """
SELECT url_id, id, fetched_at, content_type, size, truncated FROM (
    SELECT s.*, ROW_NUMBER() OVER (
        PARTITION BY s.url_id ORDER BY s.fetched_at DESC, s.id DESC) AS newest
    FROM snapshots s JOIN checks c ON c.url_id = s.url_id
    WHERE c.run_id = :run AND c.outcome IN ({outcomes}) AND s.run_id <= :run)
WHERE newest = 1
"""

WAYBACK_SQL = """
SELECT url_id, capture_url, timestamp FROM (
    SELECT w.*, ROW_NUMBER() OVER (
        PARTITION BY w.url_id ORDER BY w.looked_up_at DESC, w.around DESC) AS latest
    FROM wayback w JOIN checks c ON c.url_id = w.url_id
    WHERE c.run_id = :run AND c.outcome IN ({outcomes})
      AND w.status = 'found' AND w.capture_url IS NOT NULL)
WHERE latest = 1
"""


def _attach_archived_copies(db: sqlite_utils.Database, run_id: int,
                            rows: list[dict[str, Any]], entries: list[UrlEntry]) -> None:
    """Fill ``last_snapshot`` and ``wayback`` of the failing entries (rows and entries align)."""
    if not any(entry.outcome in ARCHIVED_COPY_OUTCOMES for entry in entries):
        return
    outcomes = ", ".join(f"'{o}'" for o in sorted(ARCHIVED_COPY_OUTCOMES))
    snapshots: dict[int, dict[str, Any]] = {}
    if db["snapshots"].exists():
        for s in db.query(SNAPSHOTS_SQL.format(outcomes=outcomes), {"run": run_id}):
            snapshots[s["url_id"]] = {
                "id": s["id"], "fetched_at": s["fetched_at"], "content_type": s["content_type"],
                "size": s["size"], "truncated": bool(s["truncated"])}
    captures: dict[int, dict[str, Any]] = {}
    if db["wayback"].exists():
        captures = {w["url_id"]: w
                    for w in db.query(WAYBACK_SQL.format(outcomes=outcomes), {"run": run_id})}
    for row, entry in zip(rows, entries, strict=True):
        if entry.outcome not in ARCHIVED_COPY_OUTCOMES:
            continue
        entry.last_snapshot = snapshots.get(row["url_id"])
        capture = captures.get(row["url_id"])
        if capture is not None:
            entry.wayback, entry.wayback_timestamp = capture["capture_url"], capture["timestamp"]


def _load_parse_errors(db: sqlite_utils.Database, run_id: int) -> list[ParseError]:
    rows = db.query(
        "SELECT path, parse_error, error_line FROM documents"
        " WHERE last_run_id = ? AND parse_error IS NOT NULL ORDER BY path", [run_id])
    return [ParseError(r["path"], r["parse_error"], r["error_line"]) for r in rows]


# -- how long ------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def failing_for(first_failed_at: str, until: str | None, run_started_at: str | None = None) -> str:
    """How long a URL has been failing, as of ``until`` (default: now).

    "first failure" when the streak began with this check or within this run.
    """
    start, end = parse_time(first_failed_at), parse_time(until) or datetime.now(UTC)
    if start is None:
        return ""
    run_start = parse_time(run_started_at)
    if start >= end or (run_start is not None and start >= run_start):
        return "first failure"
    return human_duration((end - start).total_seconds())


def human_duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count = int(seconds // size)
        if count >= 1:
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "under a minute"


# -- groupings -----------------------------------------------------------------


def by_document(report: Report) -> list[DocumentGroup]:
    """Problem URLs (every URL with ``include_all``) per referring document, by path."""
    groups: dict[str, DocumentGroup] = {}
    for entry in report.urls:
        if not (report.include_all or is_problem(entry)):
            continue
        for ref in entry.refs:
            group = groups.setdefault(ref.path, DocumentGroup(ref.path, ref.title, []))
            group.rows.append(DocumentRow(ref.field, entry))
    for group in groups.values():
        group.rows.sort(key=lambda r: (r.field, r.entry.url))
    return [groups[path] for path in sorted(groups)]


def by_domain(report: Report) -> list[DomainGroup]:
    """Problem URLs per registrable domain, most problems first."""
    urls: dict[str, list[UrlEntry]] = defaultdict(list)
    for entry in report.problems:
        urls[entry.domain or "(no domain)"].append(entry)
    groups = [DomainGroup(domain, entries, _ordered_counts(e.outcome for e in entries))
              for domain, entries in urls.items()]
    return sorted(groups, key=lambda g: (-len(g.urls), g.domain))


def _ordered_counts(outcomes: Any) -> dict[str, int]:
    counts = Counter(outcomes)
    return {o: counts[o] for o in sorted(counts, key=lambda o: (outcome_rank(o), o))}


def redirect_updates(report: Report) -> list[RedirectUpdate]:
    """One row per reference to a permanently redirected URL: what to write instead."""
    updates = [RedirectUpdate(ref.path, ref.field, ref.raw or entry.url, entry.final_url)
               for entry in report.urls if entry.permanent_redirect and entry.final_url
               for ref in entry.refs]
    return sorted(updates, key=lambda u: (u.path, u.field, u.old_url))


def failing_urls(report: Report, outcomes: set[str] | frozenset[str]) -> list[UrlEntry]:
    """The report's URLs whose outcome is one of ``outcomes`` (for ``--fail-on``)."""
    return [entry for entry in report.urls if entry.outcome in outcomes]
