"""Writing an output file: a new file beside it, renamed over it at the end.

Every file linkhealth writes for a user (reports, WARC exports, snapshot bodies, the
archived copies next to a report) goes through ``atomic_output``:

* The temporary file is made by ``tempfile.mkstemp`` in the target's directory: a random
  name, created with ``O_EXCL``, so never through a symbolic link that someone planted at
  a predictable name such as ``.report.md.partial``.
* It is renamed over the target with ``os.replace``. A link at the target's own name is
  replaced by the new file; what it pointed to is left alone.
* Its mode is what ``open()`` gives a new file (``0o666`` less the umask), not mkstemp's
  ``0o600``.
* A write that fails half-way (a full disk) removes the temporary file and leaves the
  previous target as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: str = "wb",
                  encoding: str | None = None) -> Iterator[IO[Any]]:
    """A file object to write ``path`` with (``mode`` "wb" or "w"); the parent directories
    are created. ``path`` appears, complete, only when the block ends without an error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                     suffix=".partial")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, mode, encoding=encoding) as out:
            fd = -1  # closed with ``out`` from here on
            yield out
        os.replace(temporary, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_output(path) as out:
        out.write(data)


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
