"""The report of a run, read from the SQLite store with plain SQL.

``build_report`` judges one run (the latest by default) and returns a
``Report``; the groupings below (``by_document``, ``by_domain``,
``redirect_updates``) are what maintainers act on. The formats are rendered by
``crawler.report.formats``. No Scrapy here: the module works on any copy of the
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

Run-to-run change comes from the ``check_changes`` view (``crawler.store.schema``,
migration m003), the single definition: per check, its ``failing_streak``
(failing checks since the URL was last ok; blocked and excluded are neutral) and
its ``change`` (newly_failing, still_failing, fixed, unchanged). On a database
too old to have the view, the same definition is installed as a TEMP view.

The confirmation rule: a failing URL counts as *broken* (``confirmed``) once its
streak reaches ``broken_after`` (the ``LINKHEALTH_BROKEN_AFTER`` setting); newer
failures are "failing, not yet confirmed". The people-facing sections partition
the failing URLs by it: newly broken (streak == broken_after, confirmed in this
run), still broken (streak > broken_after), failing but not yet confirmed
(streak < broken_after); plus fixed (ok now, failing in its previous judged
check). The JSON ``comparison`` lists are the view's own changes.

The files an HTML report links to are written by ``crawler.report.snapshot_files``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from operator import attrgetter, itemgetter
from typing import Any

import sqlite_utils

from crawler.archive.wayback import WAYBACK_OUTCOMES
from crawler.core import clock
from crawler.core.items import FAILING_OUTCOMES, outcome_rank
from crawler.defaults import DEFAULTS
from crawler.report.fixes import FixCount, confirmed_dead, confirmed_moves, references_to
from crawler.store.database import Store

RUN_COLUMNS = (
    "id", "started_at", "finished_at", "status", "source", "base_url", "documents",
    "parse_errors", "skipped_files", "refs", "unique_urls", "requested", "summary", "error",
    "skipped", "archived_bytes",
)

ARCHIVED_COPY_OUTCOMES = WAYBACK_OUTCOMES
"""Outcomes for which the report looks up an archived copy (ours and the Wayback Machine's)."""

DEFAULT_BROKEN_AFTER: int = DEFAULTS["LINKHEALTH_BROKEN_AFTER"]
HISTORY_RUNS = 30
"""How many runs (the reported one and those before it) the outcome history covers."""

CHANGES = ("newly_failing", "still_failing", "fixed", "unchanged")


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
    # run-to-run change, from the check_changes view
    failing_streak: int = 0  # failing checks since the URL was last ok (this one included)
    change: str = "unchanged"  # newly_failing, still_failing, fixed or unchanged
    previous_outcome: str | None = None  # of its previous judged check (not blocked/excluded)
    previous_streak: int = 0  # for a fixed URL: how many checks in a row it had failed
    confirmed: bool = False  # failing, in at least broken_after consecutive checks

    @property
    def failing(self) -> bool:
        return self.outcome in FAILING_OUTCOMES


@dataclass(slots=True)
class ParseError:
    path: str
    error: str
    line: int | None


@dataclass(slots=True)
class HostRow:
    """What one host needed in the run (the ``host_runs`` table)."""
    host: str
    rate_limited: int
    slowest_rate: float | None
    longest_wait: float
    state: str | None
    reopened: bool
    settled: int
    probes: int

    def text(self) -> str:
        """``slowed to 4.2 requests/s by 57 rate-limit answers (longest wait 10 s)``, and/or
        ``unresponsive: 12 consecutive timeouts; 148 URLs settled without a request``."""
        parts = []
        if self.rate_limited:
            pace = f"slowed to {self.slowest_rate:.2g} requests/s" if self.slowest_rate else "paused"
            parts.append(f"{pace} by {self.rate_limited} rate-limit answer"
                         f"{'s' if self.rate_limited != 1 else ''}"
                         f" (longest wait {self.longest_wait:.3g} s)")
        if self.state:
            settled = (f"; {self.settled} URL{'s' if self.settled != 1 else ''} settled without"
                       " a request or a retry" if self.settled else "")
            parts.append(self.state + settled + ("; it answered again later" if self.reopened else ""))
        return "; ".join(parts)


@dataclass(slots=True)
class RunOutcomes:
    """One run of the outcome history: counts per outcome, URLs skipped as recently ok."""
    run_id: int
    started_at: str | None
    status: str | None
    outcomes: dict[str, int]
    skipped: int | None = None

    @property
    def checked(self) -> int:
        return sum(self.outcomes.values())


@dataclass(slots=True)
class Report:
    run: dict[str, Any]
    summary: dict[str, int]
    urls: list[UrlEntry]
    parse_errors: list[ParseError]
    include_all: bool = False
    broken_after: int = DEFAULT_BROKEN_AFTER
    previous_run: dict[str, Any] | None = None  # id and started_at of the run before this one
    history: list[RunOutcomes] = field(default_factory=list)  # oldest first, this run last
    snapshots_taken: int | None = None  # snapshots stored in this run (None: no archive)
    hosts: list[HostRow] = field(default_factory=list)  # hosts paced, unresponsive or refusing
    fixable: dict[str, FixCount] = field(default_factory=dict)  # what `scrapy fix` would change

    @property
    def checked(self) -> int:
        return sum(self.summary.values())

    @property
    def problems(self) -> list[UrlEntry]:
        return [u for u in self.urls if is_problem(u)]

    # -- the comparison: the view's changes, and the confirmation rule on top of them --

    def changed(self, change: str) -> list[UrlEntry]:
        """URLs whose check in this run has ``change`` (as the check_changes view says)."""
        return [u for u in self.urls if u.change == change]

    @property
    def confirmed_broken(self) -> list[UrlEntry]:
        """Failing in at least ``broken_after`` consecutive checks: what the headline counts."""
        return [u for u in self.urls if u.confirmed]

    @property
    def newly_broken(self) -> list[UrlEntry]:
        """Confirmed in this run: the streak reached ``broken_after`` just now."""
        return [u for u in self.urls if u.confirmed and u.failing_streak == self.broken_after]

    @property
    def still_broken(self) -> list[UrlEntry]:
        """Confirmed before this run and failing again."""
        return [u for u in self.urls if u.confirmed and u.failing_streak > self.broken_after]

    @property
    def unconfirmed(self) -> list[UrlEntry]:
        """Failing, not yet confirmed: fewer than ``broken_after`` failures in a row."""
        return [u for u in self.urls if u.failing and not u.confirmed]

    @property
    def fixed(self) -> list[UrlEntry]:
        return self.changed("fixed")

    def headline(self) -> dict[str, int]:
        return {
            "broken_after": self.broken_after,
            "broken_confirmed": len(self.confirmed_broken),
            "newly_broken": len(self.newly_broken),
            "still_broken": len(self.still_broken),
            "failing_unconfirmed": len(self.unconfirmed),
            "newly_failing": len(self.changed("newly_failing")),
            "still_failing": len(self.changed("still_failing")),
            "fixed": len(self.fixed),
        }

    def comparison(self) -> dict[str, Any]:
        return {
            "previous_run": self.previous_run["id"] if self.previous_run else None,
            **{change: sorted(u.url for u in self.changed(change))
               for change in ("newly_failing", "fixed", "still_failing")},
        }


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


# -- building ------------------------------------------------------------------


def build_report(source: Store | sqlite_utils.Database, run_id: int | None = None,
                 include_all: bool = False, broken_after: int = DEFAULT_BROKEN_AFTER) -> Report:
    """The report of ``run_id`` (default: the latest run); raises ``ReportError``.

    A failing URL is ``confirmed`` broken once it has failed in ``broken_after``
    consecutive checks (at least 1).
    """
    if broken_after < 1:
        raise ValueError(f"broken_after must be at least 1, not {broken_after}")
    db = source.db if isinstance(source, Store) else source
    try:
        run = _load_run(db, run_id)
        _ensure_changes_view(db)
        urls = _load_urls(db, run, include_all, broken_after)
        return Report(run=run, summary=_load_summary(db, run["id"]), urls=urls,
                      parse_errors=_load_parse_errors(db, run["id"]), include_all=include_all,
                      broken_after=broken_after, previous_run=_previous_run(db, run["id"]),
                      history=_load_history(db, run["id"]),
                      snapshots_taken=_snapshots_taken(db, run["id"]),
                      hosts=_load_hosts(db, run["id"]),
                      fixable=_fixable(db, run["id"], broken_after))
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
    run["source"] = shown_path(run["source"])
    run["permanent_redirects"] = db.execute(
        "SELECT COUNT(*) FROM checks WHERE run_id = ? AND permanent_redirect = 1",
        [run["id"]]).fetchone()[0]
    return run


def shown_path(path: str | None, cwd: str | None = None, home: str | None = None) -> str | None:
    """A local path as a report shows it: as the crawl was given it when that was relative;
    an absolute one relative to the current directory when inside it, else with the home
    directory as ``~``. A published report need not tell where the site lay on disk (the
    user name in ``/home/NAME``, a CI runner's workspace)."""
    if not path or not os.path.isabs(path):
        return path
    for base, prefix in ((cwd or os.getcwd(), ""), (home or os.path.expanduser("~"), "~/")):
        base = base.rstrip(os.sep)
        if base and base != os.sep and (path + os.sep).startswith(base + os.sep):
            relative = path[len(base) + 1:]
            return prefix + relative if relative else (prefix.rstrip("/") or ".")
    return path


def _load_summary(db: sqlite_utils.Database, run_id: int) -> dict[str, int]:
    return _sorted_counts(dict(db.execute(
        "SELECT outcome, COUNT(*) FROM checks WHERE run_id = ? GROUP BY outcome", [run_id])))


URLS_SQL = """
SELECT c.url_id, coalesce(u.request_url, u.url) AS url, u.domain, u.last_run_id,
       u.first_failed_at, u.consecutive_failures, c.outcome, c.status, c.final_url,
       c.redirects, c.error, c.checked_at, c.permanent_redirect,
       cc.failing_streak, cc.change, cc.previous_outcome
FROM check_changes cc JOIN checks c ON c.id = cc.check_id JOIN urls u ON u.id = c.url_id
WHERE cc.run_id = :run {where}
"""

PREVIOUS_STREAK_SQL = """
SELECT cc.url_id, cc.failing_streak FROM check_changes cc
WHERE cc.url_id IN ({ids}) AND cc.run_id = (
    SELECT max(p.run_id) FROM checks p
    WHERE p.url_id = cc.url_id AND p.run_id < :run AND p.outcome NOT IN ('blocked', 'excluded'))
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
SELECT r.url_id, d.path, d.title, r.field, r.kind, r.raw, r.id
FROM refs r JOIN documents d ON d.id = r.document_id
WHERE r.first_run_id <= :run AND r.last_run_id >= :run {only}
"""
# Sorted in Python (by path, field, id): SQLite's sort of 300,000 references through a
# temporary B-tree took 1.3 s of the 2.1 s this query took at 100,000 URLs.
REFS_ORDER = itemgetter(1, 3, 6)
# Only the references of the URLs reported (a JSON list of ids): without --all, a run of
# 100,000 healthy URLs has a few thousand to report, not 300,000 references to read.
REFS_OF_URLS = "AND r.url_id IN (SELECT value FROM json_each(:ids))"


def _load_urls(db: sqlite_utils.Database, run: dict[str, Any], include_all: bool,
               broken_after: int) -> list[UrlEntry]:
    """Problems, permanent redirects and fixed URLs (every URL with ``include_all``)."""
    where = "" if include_all else (
        "AND (c.outcome != 'ok' OR c.permanent_redirect = 1 OR cc.change = 'fixed')")
    rows = list(db.query(URLS_SQL.format(where=where), {"run": run["id"]}))
    if any(row["last_run_id"] != run["id"] for row in rows):
        _apply_history_streaks(db, run["id"], rows)
    refs = _load_refs(db, run["id"], None if include_all else [row["url_id"] for row in rows])
    entries = [_url_entry(row, refs.get(row["url_id"], []), run, broken_after) for row in rows]
    _attach_previous_streaks(db, run["id"], rows, entries)
    _attach_archived_copies(db, run["id"], rows, entries)
    return sorted(entries, key=lambda e: (outcome_rank(e.outcome), e.outcome, e.url))


def _attach_previous_streaks(db: sqlite_utils.Database, run_id: int,
                             rows: list[dict[str, Any]], entries: list[UrlEntry]) -> None:
    """For fixed URLs: the streak of the failure they recovered from (rows and entries align)."""
    fixed = {row["url_id"]: entry for row, entry in zip(rows, entries, strict=True)
             if entry.change == "fixed"}
    if not fixed:
        return
    ids = ", ".join(str(int(url_id)) for url_id in fixed)
    for row in db.query(PREVIOUS_STREAK_SQL.format(ids=ids), {"run": run_id}):
        fixed[row["url_id"]].previous_streak = row["failing_streak"] or 0


@cache
def _changes_view_body() -> str:
    """The ``check_changes`` view's SELECT, as the migrations define it."""
    from crawler.store.schema import migrations

    scratch = sqlite_utils.Database(memory=True)
    migrations.apply(scratch)
    (sql,) = scratch.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'check_changes'").fetchone()
    scratch.conn.close()
    return sql.split(" AS ", 1)[1]


def _ensure_changes_view(db: sqlite_utils.Database) -> None:
    """A database from before migration m003 (opened read-only, so not migrated) lacks the
    view: install the same definition as a TEMP view, which a read-only connection allows."""
    present = db.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name = 'check_changes'"
        " UNION ALL SELECT count(*) FROM sqlite_temp_master"
        " WHERE type = 'view' AND name = 'check_changes'").fetchall()
    if not any(count for (count,) in present):
        db.execute(f"CREATE TEMP VIEW check_changes AS {_changes_view_body()}")


def _previous_run(db: sqlite_utils.Database, run_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT id, started_at FROM runs WHERE id < ? ORDER BY id DESC LIMIT 1",
                         [run_id]))
    return rows[0] if rows else None


HISTORY_SQL = """
SELECT r.id, r.started_at, r.status, {skipped} AS skipped, c.outcome, count(c.id) AS n
FROM (SELECT * FROM runs WHERE id <= :run ORDER BY id DESC LIMIT :limit) r
LEFT JOIN checks c ON c.run_id = r.id
GROUP BY r.id, c.outcome
ORDER BY r.id
"""


def _load_history(db: sqlite_utils.Database, run_id: int,
                  limit: int = HISTORY_RUNS) -> list[RunOutcomes]:
    """Outcome counts of the last ``limit`` runs up to ``run_id``, oldest first."""
    skipped = "r.skipped" if "skipped" in db["runs"].columns_dict else "NULL"
    runs: dict[int, RunOutcomes] = {}
    for row in db.query(HISTORY_SQL.format(skipped=skipped), {"run": run_id, "limit": limit}):
        entry = runs.setdefault(row["id"], RunOutcomes(
            row["id"], row["started_at"], row["status"], {}, row["skipped"]))
        if row["outcome"] is not None:
            entry.outcomes[row["outcome"]] = row["n"]
    for entry in runs.values():
        entry.outcomes = _sorted_counts(entry.outcomes)
    return list(runs.values())


def _snapshots_taken(db: sqlite_utils.Database, run_id: int) -> int | None:
    if not db["snapshots"].exists():
        return None
    return db.execute("SELECT count(*) FROM snapshots WHERE run_id = ?", [run_id]).fetchone()[0]


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


def _load_refs(db: sqlite_utils.Database, run_id: int,
               url_ids: list[int] | None = None) -> dict[int, list[Ref]]:
    """The run's references by URL id (only those of ``url_ids`` when given). Rows are read
    as tuples: hundreds of thousands of them at 100,000 URLs."""
    refs: dict[int, list[Ref]] = defaultdict(list)
    if url_ids is None:
        cursor = db.execute(REFS_SQL.format(only=""), {"run": run_id})
    else:
        cursor = db.execute(REFS_SQL.format(only=REFS_OF_URLS),
                            {"run": run_id, "ids": json.dumps(url_ids)})
    rows = cursor.fetchall()
    rows.sort(key=REFS_ORDER)
    for url_id, path, title, field_path, kind, raw, _ in rows:
        refs[url_id].append(Ref(path, field_path, kind, raw, title))
    return refs


def _url_entry(row: dict[str, Any], refs: list[Ref], run: dict[str, Any],
               broken_after: int) -> UrlEntry:
    entry = UrlEntry(
        url=row["url"], outcome=row["outcome"], status=row["status"],
        final_url=row["final_url"], redirects=_hops(row["redirects"]), error=row["error"],
        checked_at=row["checked_at"], first_failed_at=row["first_failed_at"],
        consecutive_failures=row["consecutive_failures"] or 0,
        permanent_redirect=bool(row["permanent_redirect"]), refs=refs, domain=row["domain"],
        failing_streak=row["failing_streak"] or 0, change=row["change"] or "unchanged",
        previous_outcome=row["previous_outcome"])
    entry.confirmed = entry.failing and entry.failing_streak >= broken_after
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


def _fixable(db: sqlite_utils.Database, run_id: int, runs: int) -> dict[str, FixCount]:
    """References ``scrapy fix`` would rewrite (confirmed moves), and those ``--dead`` would
    replace (confirmed dead links), as the report's confirmation rule counts runs."""
    return {"moved": references_to(db, run_id, confirmed_moves(db, run_id, runs)),
            "dead": references_to(db, run_id, confirmed_dead(db, run_id, runs))}


def _load_hosts(db: sqlite_utils.Database, run_id: int) -> list[HostRow]:
    if not db["host_runs"].exists():  # a database not yet migrated
        return []
    return [HostRow(r["host"], r["rate_limited"] or 0, r["slowest_rate"], r["longest_wait"] or 0.0,
                    r["state"], bool(r["reopened"]), r["settled"] or 0, r["probes"] or 0)
            for r in db.query("SELECT * FROM host_runs WHERE run_id = ?"
                              " ORDER BY settled DESC, rate_limited DESC, host", [run_id])]


def _load_parse_errors(db: sqlite_utils.Database, run_id: int) -> list[ParseError]:
    rows = db.query(
        "SELECT path, parse_error, error_line FROM documents"
        " WHERE last_run_id = ? AND parse_error IS NOT NULL ORDER BY path", [run_id])
    return [ParseError(r["path"], r["parse_error"], r["error_line"]) for r in rows]


# -- how long ------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    """A stored time, or None when there is none or it is not in the stored form (a report
    never fails on a hand-edited database)."""
    try:
        return clock.parse_time(value)
    except ValueError:
        return None


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
            group = groups.get(ref.path)
            if group is None:
                group = groups[ref.path] = DocumentGroup(ref.path, ref.title, [])
            group.rows.append(DocumentRow(ref.field, entry))
    by_field_and_url = attrgetter("field", "entry.url")
    for group in groups.values():
        group.rows.sort(key=by_field_and_url)
    return [groups[path] for path in sorted(groups)]


def has_document_rows(report: Report) -> bool:
    """Whether ``by_document`` has anything, without grouping."""
    return any(entry.refs and (report.include_all or is_problem(entry)) for entry in report.urls)


def by_domain(report: Report) -> list[DomainGroup]:
    """Problem URLs per registrable domain, most problems first."""
    urls: dict[str, list[UrlEntry]] = defaultdict(list)
    for entry in report.problems:
        urls[entry.domain or "(no domain)"].append(entry)
    groups = [DomainGroup(domain, entries, _ordered_counts(e.outcome for e in entries))
              for domain, entries in urls.items()]
    return sorted(groups, key=lambda g: (-len(g.urls), g.domain))


def _ordered_counts(outcomes: Any) -> dict[str, int]:
    return _sorted_counts(Counter(outcomes))


def _sorted_counts(counts: dict[str, int]) -> dict[str, int]:
    """Counts per outcome in the order of ``OUTCOMES`` (unknown outcomes last, by name)."""
    return {o: counts[o] for o in sorted(counts, key=lambda o: (outcome_rank(o), o))}


def redirect_updates(report: Report) -> list[RedirectUpdate]:
    """One row per reference to a permanently redirected URL: what to write instead."""
    updates = [RedirectUpdate(ref.path, ref.field, ref.raw or entry.url, entry.final_url)
               for entry in report.urls if entry.permanent_redirect and entry.final_url
               for ref in entry.refs]
    return sorted(updates, key=lambda u: (u.path, u.field, u.old_url))


def failing_urls(report: Report, outcomes: set[str] | frozenset[str]) -> list[UrlEntry]:
    """The report's URLs whose outcome is one of ``outcomes``."""
    return [entry for entry in report.urls if entry.outcome in outcomes]


def fail_on_counts(report: Report, outcomes: set[str] | frozenset[str],
                   confirmed: bool = True) -> dict[str, int]:
    """What ``--fail-on outcomes`` matches, per outcome: for the failing outcomes only the
    confirmed URLs count (``confirmed=False``: only the not yet confirmed ones); blocked,
    excluded and ok have no confirmation and count as they are (not at all when
    ``confirmed=False``)."""
    counts: dict[str, int] = {}
    for outcome, total in report.summary.items():
        if outcome not in outcomes:
            continue
        if outcome in FAILING_OUTCOMES:
            n = sum(1 for e in report.urls if e.outcome == outcome and e.confirmed == confirmed)
        else:
            n = total if confirmed else 0
        if n:
            counts[outcome] = n
    return counts


def fail_on_urls(report: Report, outcomes: set[str] | frozenset[str]) -> list[UrlEntry]:
    """The URLs ``--fail-on outcomes`` matches (confirmed ones, for the failing outcomes)."""
    return [e for e in failing_urls(report, outcomes) if e.confirmed or not e.failing]
