"""The snapshot policy: what of a fetched body is stored, decided before the batch is written.

* served at another URL than the last snapshot (the link now redirects elsewhere, or
  no longer does): a new snapshot, whatever its age, since it is a copy of another page;
* same bytes as the URL's last snapshot: nothing new (the check points at it);
* changed, but the last snapshot is younger than ``LINKHEALTH_SNAPSHOT_MIN_AGE``:
  nothing new;
* otherwise a new snapshot; its blob is compressed only when those bytes are
  not in the database yet (content addressing: one blob per SHA-256);
* truncated bodies are kept and flagged, or dropped with
  ``LINKHEALTH_ARCHIVE_TRUNCATED = False``.

Hashing and compressing a large body run in a worker thread, off the reactor.
Nothing is ever deleted here: the last good snapshot of a URL stays forever.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.utils.asyncio import run_in_thread

from crawler.core.clock import epoch_seconds
from crawler.store.history import History, LastSnapshot
from crawler.store.snapshots import compress, sha256_hex

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.statscollectors import StatsCollector

    from crawler.core.items import CheckItem
    from crawler.store.database import Store

# Below this, hashing/compressing inline costs less than a thread hop (measured with
# bench/archive_bench.py: moving 50-100 KB bodies to threads made run 1 ~10% slower);
# above it the work runs in a worker thread, where zstd and hashlib release the GIL.
INLINE_BYTES = 256 * 1024


async def _offload(function: Callable[..., Any], body: bytes, *args: Any) -> Any:
    if len(body) < INLINE_BYTES:
        return function(body, *args)
    return await run_in_thread(function, body, *args)


class Archiver:
    def __init__(self, store: Store, history: History, stats: StatsCollector, *,
                 min_age: float, level: int, keep_truncated: bool):
        self.store = store
        self.history = history
        self.stats = stats
        self.min_age = min_age
        self.level = level
        self.keep_truncated = keep_truncated

    def not_modified(self, item: CheckItem) -> None:
        """A 304 to our conditional request: the check already points at the snapshot whose
        validators were sent (``crawler.policy.conditional``); nothing to store."""
        self.stats.inc_value("linkhealth/archive/not_modified")

    async def prepare(self, item: CheckItem) -> None:
        """Decide what to store for this check; leaves ``item.capture`` set only for a new snapshot."""
        capture = item.capture
        if item.not_modified or capture is None or capture.body is None:
            return
        last = self.history.snapshots.get(item.url)
        body, capture.body = capture.body, None
        self.stats.inc_value("linkhealth/archive/bytes_fetched", len(body))
        if capture.truncated and not self.keep_truncated:
            item.capture = None
            self.stats.inc_value("linkhealth/archive/truncated_dropped")
            return
        capture.size = len(body)
        capture.digest = await _offload(sha256_hex, body)
        if last is not None and last.final_url != capture.final_url:
            self.stats.inc_value("linkhealth/archive/moved")  # a copy of another page: kept
        elif last is not None and last.digest == capture.digest:
            item.snapshot_id, item.capture = last.id, None
            self.stats.inc_value("linkhealth/archive/unchanged")
            return
        elif last is not None and (epoch_seconds(capture.fetched_at) or 0.0) - last.fetched_at < self.min_age:
            item.capture = None
            self.stats.inc_value("linkhealth/archive/changed_too_recent")
            return
        if not self.store.has_blob(capture.digest):
            capture.compressed = await _offload(compress, body, self.level)
            self.stats.inc_value("linkhealth/archive/bytes_stored", len(capture.compressed))
        else:
            self.stats.inc_value("linkhealth/archive/deduplicated")
        self.stats.inc_value("linkhealth/archive/stored")
        if capture.truncated:
            self.stats.inc_value("linkhealth/archive/truncated")

    def stored(self, item: CheckItem) -> None:
        """After the batch is committed: the new snapshot is now the URL's last one."""
        capture = item.capture
        if capture is None or item.snapshot_id is None:
            return
        self.history.snapshots[item.url] = LastSnapshot(
            item.snapshot_id, capture.digest or "", epoch_seconds(capture.fetched_at) or 0.0,
            capture.etag, capture.last_modified, capture.final_url)
        capture.compressed = None
