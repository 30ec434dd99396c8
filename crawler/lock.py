"""One crawl at a time per database: an advisory lock file next to it.

``fcntl.flock`` locks belong to the open file of a live process: the kernel
drops them when the holder exits, however it dies (``kill -9``, power loss
followed by a reboot), so a dead holder's lock is simply taken over and can
never go stale. The file also says who holds it, for the refusal message.
Not for databases on network file systems, where flock may not be shared.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path
from typing import IO

from crawler.store import utc_now


class LockHeld(Exception):
    """Another live process holds the lock; the message names it."""


class CrawlLock:
    def __init__(self, db_path: str | os.PathLike[str]):
        self.path = Path(f"{db_path}.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(self.path)
            handle.close()
            raise LockHeld(f"another crawl is running on this database: {holder} "
                           f"(lock {self.path})") from None
        handle.seek(0)
        handle.truncate()
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": utc_now()}, handle)
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock; the file stays, unlocked
            self._file = None

    def __enter__(self) -> CrawlLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _describe(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "a process that did not say who it is"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
