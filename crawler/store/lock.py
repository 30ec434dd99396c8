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
import stat
from pathlib import Path
from typing import IO, Self

from crawler.core.clock import utc_now


class LockHeld(Exception):
    """The lock cannot be taken: another live process holds it (the message names it), or
    the lock file is not one to write to (``LockUnusable``)."""


class LockUnusable(LockHeld):
    """The lock file is a symbolic link or not a regular file: it is never written through."""


class CrawlLock:
    def __init__(self, db_path: str | os.PathLike[str]):
        self.path = Path(f"{db_path}.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        handle = self._open()
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

    def _open(self) -> IO[str]:
        """The lock file, opened without following a link: its name is predictable, and the
        holder's details are written into it (a link planted there would have them
        overwrite whatever it points to)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                         | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            if os.path.islink(self.path):
                raise LockUnusable(f"the lock file {self.path} is a symbolic link: not "
                                   "writing through it (remove it)") from None
            raise LockUnusable(f"cannot open the lock file {self.path}: {exc.strerror}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise LockUnusable(f"the lock file {self.path} is not a regular file (remove it)")
        return os.fdopen(fd, "a+", encoding="utf-8")

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock; the file stays, unlocked
            self._file = None

    def __enter__(self) -> Self:
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
