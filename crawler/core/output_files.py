"""Writing an output file: a new file beside it, renamed over it at the end.

Every file linkhealth writes for a user (reports, WARC exports, snapshot bodies, the
archived copies next to a report) goes through ``atomic_output``:

* The temporary file is made by ``tempfile.mkstemp`` in the target's directory: a random
  name, created with ``O_EXCL``, so never through a symbolic link that someone planted at
  a predictable name such as ``.report.md.partial``.
* It is renamed over the target with ``os.replace``. A link at the target's own name is
  replaced by the new file; what it pointed to is left alone.
* Its mode is what ``open()`` gives a new file (``0o666`` less the umask), not mkstemp's
  ``0o600``; or, with ``keep_mode``, the permission bits of the file it replaces (an edited
  file of the site stays executable or group-writable as it was).
* With ``durable``, the data and then the rename are synced to disk before returning.
* A write that fails half-way (a full disk) removes the temporary file and leaves the
  previous target as it was.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: str = "wb", encoding: str | None = None,
                  *, keep_mode: bool = False, durable: bool = False) -> Iterator[IO[Any]]:
    """A file object to write ``path`` with (``mode`` "wb" or "w"); the parent directories
    are created. ``path`` appears, complete, only when the block ends without an error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    permissions = _kept_mode(target) if keep_mode else None
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                     suffix=".partial")
    try:
        os.fchmod(fd, permissions if permissions is not None else 0o666 & ~current_umask())
        with os.fdopen(fd, mode, encoding=encoding) as out:
            fd = -1  # closed with ``out`` from here on
            yield out
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if durable:
        _sync_directory(target.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, keep_mode: bool = False,
                durable: bool = False) -> None:
    with atomic_output(path, keep_mode=keep_mode, durable=durable) as out:
        out.write(data)


def _kept_mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


def _sync_directory(directory: Path) -> None:
    """The rename itself reaches the disk (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename is done anyway
    finally:
        os.close(fd)


def output_directory(path: str | os.PathLike[str]) -> Path:
    """A directory linkhealth names and fills itself (``snapshots/`` beside a report),
    created if missing. One that is a symbolic link is refused (``OSError``): files with
    predictable names would be written wherever it points."""
    directory = Path(path)
    if directory.is_symlink():
        raise OSError(f"{directory} is a symbolic link: not writing through it")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def current_umask() -> int:
    """The process's umask, read without changing it where Linux says it (4.7+)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # set and put back: not safe against other threads, hence last
    os.umask(mask)
    return mask
