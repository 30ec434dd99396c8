"""What earlier runs left behind, in memory for the crawl: last checks, last snapshots,
cached Wayback lookups.

Loaded once when the run opens (one query per table) and updated as the run records new
snapshots. Components reach it through the run context
(``RunContext.of(crawler).history``, ``crawler.run.context``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.core.clock import epoch_seconds
from crawler.store.snapshots import latest_per_url
from crawler.core.urls import normalise

if TYPE_CHECKING:
    from crawler.store.database import Store


@dataclass(slots=True)
class LastSnapshot:
    id: int
    digest: str
    fetched_at: float
    etag: str | None
    last_modified: str | None
    final_url: str  # where the body was served: the validators are that URL's only

    @property
    def has_validators(self) -> bool:
        return bool(self.etag or self.last_modified)

    def served_at(self, url: str, key: str) -> bool:
        """Was this copy served at ``url`` (whose deduplication key is ``key``)?"""
        return self.final_url == url or normalise(self.final_url) == key


@dataclass(slots=True)
class LastCheck:
    outcome: str | None
    checked_at: float | None


class History:
    def __init__(self) -> None:
        self.checks: dict[str, LastCheck] = {}
        self.snapshots: dict[str, LastSnapshot] = {}
        self.wayback: dict[tuple[str, str], tuple[str, float]] = {}
        self.done_in_run: set[str] = set()  # URLs with a check in this (resumed) run already

    @classmethod
    def load(cls, store: Store) -> History:
        history = cls()
        for key, outcome, checked_at in store.db.execute(
                "SELECT url, outcome, last_checked_at FROM urls WHERE last_checked_at IS NOT NULL"):
            history.checks[key] = LastCheck(outcome, epoch_seconds(checked_at))
        for row in latest_per_url(store.db.conn):
            history.snapshots[row["key"]] = LastSnapshot(
                row["id"], row["digest"], epoch_seconds(row["fetched_at"]) or 0.0,
                row["etag"], row["last_modified"], row["final_url"] or "")
        for key, around, status, looked_up_at in store.db.execute(
                "SELECT u.url, w.around, w.status, w.looked_up_at FROM wayback w"
                " JOIN urls u ON u.id = w.url_id"):
            history.wayback[(key, around)] = (status, epoch_seconds(looked_up_at) or 0.0)
        return history

    def recently_healthy(self, key: str, within: float, now: float) -> bool:
        """Checked ``ok`` less than ``within`` seconds ago (so it may be skipped)."""
        last = self.checks.get(key)
        return (within > 0 and last is not None and last.outcome == "ok"
                and last.checked_at is not None and now - last.checked_at < within)

    def wayback_known(self, key: str, around: str, recheck_none_after: float, now: float) -> bool:
        """A capture was found before, or none was found recently: no new lookup."""
        cached = self.wayback.get((key, around))
        if cached is None:
            return False
        status, looked_up_at = cached
        return status == "found" or (status == "none" and now - looked_up_at < recheck_none_after)
