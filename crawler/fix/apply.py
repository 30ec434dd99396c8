"""Writing edited files in place, each atomically.

A file is written as every output of linkhealth is (``crawler.core.output_files``): a
temporary file in its own directory, created with ``O_EXCL``, flushed to disk, given the old
file's permission bits, and renamed over it: a reader sees the old bytes or the new ones,
never half a file, and a crash leaves at most a stray ``.NAME.*.partial`` beside it. Before anything is
written, every file must still hold the bytes the edits were made from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from crawler.core.output_files import write_bytes
from crawler.fix.unified_diff import FileChange


class StaleFile(Exception):
    """A file no longer holds the bytes an edit was made from (or is not a regular file)."""


def apply_changes(root: str | os.PathLike[str], changes: Iterable[FileChange]) -> list[str]:
    """Write each change's new bytes over ``root/path``; the paths written, in order.

    Every file is checked first: ``StaleFile`` (and nothing written) when one of them is
    not a regular file, is a symbolic link, or no longer holds ``change.old``. ``ValueError``
    for a path that leaves the root. Each file is replaced atomically, one after the other
    (not all of them as one transaction).
    """
    todo = [change for change in changes if change.old != change.new]
    root_path = Path(root)
    for change in todo:
        path = _inside(root_path, change.path)
        if path.is_symlink() or not path.is_file():
            raise StaleFile(f"{change.path}: not a regular file (a symbolic link is not "
                            "written through)")
        if path.read_bytes() != change.old:
            raise StaleFile(f"{change.path}: changed since the edit was made; not written")
    for change in todo:
        write_atomically(_inside(root_path, change.path), change.new)
    return [change.path for change in todo]


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at ``path`` with ``data`` in one rename, synced to disk, keeping its
    permission bits (a new file gets 0o666 minus the umask, as ``open`` would give it)."""
    write_bytes(path, data, keep_mode=True, durable=True)


def _inside(root: Path, relative: str) -> Path:
    parts = relative.split("/")
    if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{relative!r} is not a plain path relative to the site root")
    return root.joinpath(*parts)
