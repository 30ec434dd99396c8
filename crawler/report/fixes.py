"""Which references a reviewed fix may change, judged from the history like the report's
confirmed failures: never on one odd night.

* a **confirmed move**: the URL's last ``runs`` checks (up to the run) were all ``ok``
  answers reached through permanent redirects only (301/308), to one and the same final
  URL. A redirect to the home page, a login or a consent page is a ``soft_404``, never ``ok``,
  so it is never a move;
* a **confirmed dead link**: its last ``runs`` checks all failed (not found, gone, no such
  host, refused, timed out, a bad certificate, a soft 404, a redirect loop).

``scrapy fix`` (``crawler.fix.plan``) writes the edits; the reports count what it would change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlite_utils

DEAD_OUTCOMES = ("broken", "timeout", "dns_error", "connection_error", "tls_error",
                 "too_many_redirects", "soft_404")
"""Failures a fix may replace: not ``invalid_url`` (no URL to look up), ``forbidden_address``
or ``excluded`` (not checked), nor ``blocked`` (the link may well be alive)."""


@dataclass(frozen=True, slots=True)
class Confirmed:
    """A URL whose last checks agree: where it moved, or how it failed last."""

    url_id: int
    url: str  # its key
    final_url: str | None  # a move: where it ends
    outcome: str
    status: int | None
    error: str | None


def confirmed_moves(db: sqlite_utils.Database, run_id: int, runs: int) -> dict[int, Confirmed]:
    """The referenced URLs confirmed moved by run ``run_id``, by id."""
    return _confirmed(db, run_id, runs,
                      "sum(r.outcome = 'ok' AND r.permanent_redirect = 1) = :runs"
                      " AND count(DISTINCT r.final_url) = 1 AND count(r.final_url) = :runs")


def confirmed_dead(db: sqlite_utils.Database, run_id: int, runs: int) -> dict[int, Confirmed]:
    """The referenced URLs confirmed dead by run ``run_id``, by id."""
    dead = ", ".join(f"'{outcome}'" for outcome in DEAD_OUTCOMES)
    return _confirmed(db, run_id, runs, f"sum(r.outcome IN ({dead})) = :runs")


def _confirmed(db: sqlite_utils.Database, run_id: int, runs: int, rule: str
               ) -> dict[int, Confirmed]:
    if runs < 1:
        raise ValueError(f"runs must be at least 1, not {runs}")
    rows = db.query(f"""
        WITH referenced AS (
          SELECT DISTINCT url_id FROM refs WHERE first_run_id <= :run AND last_run_id >= :run),
        recent AS (
          SELECT c.url_id, c.run_id, c.outcome, c.permanent_redirect, c.final_url, c.status,
            c.error, row_number() OVER (PARTITION BY c.url_id ORDER BY c.run_id DESC) AS n
          FROM checks c JOIN referenced USING (url_id) WHERE c.run_id <= :run)
        SELECT r.url_id, u.url, max(r.final_url) AS final_url,
          max(CASE WHEN r.n = 1 THEN r.outcome END) AS outcome,
          max(CASE WHEN r.n = 1 THEN r.status END) AS status,
          max(CASE WHEN r.n = 1 THEN r.error END) AS error
        FROM recent r JOIN urls u ON u.id = r.url_id
        WHERE r.n <= :runs
        GROUP BY r.url_id HAVING count(*) = :runs AND {rule}""", {"run": run_id, "runs": runs})
    return {row["url_id"]: Confirmed(row["url_id"], row["url"], row["final_url"], row["outcome"],
                                     row["status"], row["error"]) for row in rows}


@dataclass(frozen=True, slots=True)
class FixCount:
    references: int
    documents: int


def references_to(db: sqlite_utils.Database, run_id: int, url_ids: Iterable[int]) -> FixCount:
    """How many references of run ``run_id`` (and in how many documents) point at these URLs."""
    ids = sorted(set(url_ids))
    if not ids:
        return FixCount(0, 0)
    row: dict[str, Any] = next(db.query(
        "SELECT count(*) AS refs, count(DISTINCT document_id) AS documents FROM refs"
        " WHERE first_run_id <= :run AND last_run_id >= :run AND url_id IN"
        " (SELECT value FROM json_each(:ids))",
        {"run": run_id, "ids": "[" + ",".join(map(str, ids)) + "]"}))
    return FixCount(row["refs"], row["documents"])
