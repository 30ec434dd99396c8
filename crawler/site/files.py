"""Which files of a site are read, and how: regular files inside the site only.

A site is untrusted input, and so is the shape of its tree. A ``*.md`` that is a
symbolic link to ``/dev/zero`` reports size 0 and never ends; a FIFO blocks the
reader until someone writes to it; a link to ``~/.ssh/config`` or to another
checkout would have its URLs requested. So a file is read only when:

* ``lstat`` shows a regular file, or a symbolic link whose target, fully
  resolved, is a regular file inside the site's root (any target with
  ``follow_symlinks``);
* it is opened with ``O_NOFOLLOW | O_NONBLOCK`` and ``fstat`` of the open file
  still shows a regular file (the tree may change between the checks);
* at most ``max_bytes + 1`` bytes are read, whatever its size said.

Anything else raises ``ReadError`` with the reason, which the reader records as
the document's error: the maintainer sees each skipped file in the database and
the report.

Directories reached through a symbolic link are not entered unless
``follow_symlinks`` is on; the link is then listed among the files, so that its
reason is recorded too. When links are followed, the whole real tree is walked
first, then the linked directories, each real directory (by device and inode)
once: a link loop (``loop -> ..``) ends, no file is read twice through a
directory, and a file inside the site keeps its real path.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
from collections import deque
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".html"})
SKIPPED_DIRS = frozenset({"_site", "node_modules", "vendor", ".git", ".jekyll-cache", ".sass-cache"})
MAX_FILE_BYTES = 16 * 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_READ_CHUNK = 1024 * 1024
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISDIR, "a directory"))


class ReadError(Exception):
    """A file that cannot be read as a document; the message says why."""


def iter_document_paths(root: str | os.PathLike[str], follow_symlinks: bool = False
                        ) -> Iterator[Path]:
    """Candidate files under root in sorted order, without building the whole list: each
    directory's files, then its subdirectories one by one, depth first (``os.walk``'s order).
    A symbolic link to a directory is listed as a file when it is not followed; followed,
    it is entered after the whole real tree, unless its directory was entered already."""
    root = Path(root)
    entered: set[tuple[int, int]] = set()
    links: deque[Path] = deque()
    if follow_symlinks:
        _first_visit(root, entered)
    start: Path | None = root
    while start is not None:
        stack = [start]
        while stack:
            directory = stack.pop()
            files, subdirectories = _list(directory, follow_symlinks, entered, links)
            yield from files
            stack.extend(reversed(subdirectories))
        start = _next_link(links, entered)


def _next_link(links: deque[Path], entered: set[tuple[int, int]]) -> Path | None:
    """The next linked directory not entered yet, in the order the links were met."""
    while links:
        link = links.popleft()
        if _first_visit(link, entered):
            return link
    return None


def _list(directory: Path, follow_symlinks: bool, entered: set[tuple[int, int]],
          links: deque[Path]) -> tuple[list[Path], list[Path]]:
    """The directory's candidate files and the subdirectories to enter, sorted; the links to
    directories to follow later are added to ``links``."""
    files: list[str] = []  # names, in the directory
    names: list[str] = []  # of the subdirectories
    linked: list[str] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if _wanted_dir(entry.name):
                        names.append(entry.name)
                elif entry.is_symlink() and _wanted_dir(entry.name) and _is_dir(entry):
                    (linked if follow_symlinks else files).append(entry.name)
                elif os.path.splitext(entry.name)[1].lower() in DOCUMENT_SUFFIXES:
                    files.append(entry.name)
    except OSError as exc:
        logger.warning("Cannot list %s: %s", exc.filename, exc.strerror)
    links.extend(directory / name for name in sorted(linked))
    subdirectories = [directory / name for name in sorted(names)]
    if follow_symlinks:  # a bind mount or a hard-linked tree is entered once too
        subdirectories = [path for path in subdirectories if _first_visit(path, entered)]
    return [directory / name for name in sorted(files)], subdirectories


def _wanted_dir(name: str) -> bool:
    return name not in SKIPPED_DIRS and not name.startswith(".")


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows the link; a dangling one is not a directory
    except OSError:
        return False


def _first_visit(directory: Path, entered: set[tuple[int, int]]) -> bool:
    """Whether the directory (or the one a link leads to) was not entered yet; from now on
    it counts as entered."""
    try:
        info = os.stat(directory)
    except OSError:
        return False
    key = (info.st_dev, info.st_ino)
    if key in entered:
        return False
    entered.add(key)
    return True


def read_site_file(path: Path, root: Path, max_bytes: int = MAX_FILE_BYTES,
                   follow_symlinks: bool = False) -> bytes:
    """The bytes of one file of the site, under the rules above; ``ReadError`` otherwise."""
    try:
        target, info = _target(path, root, follow_symlinks)
        if info.st_size > max_bytes:
            raise ReadError(_too_large(max_bytes))
        data = _read_regular(target, max_bytes)
    except OSError as exc:
        raise ReadError(f"cannot read file: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise ReadError(_too_large(max_bytes))  # it grew, or its size lied
    return data


def _target(path: Path, root: Path, follow_symlinks: bool) -> tuple[str, os.stat_result]:
    """What to open: the path itself, or a link's resolved target; ``ReadError`` when it is
    not a regular file, or a link leads out of the site. (``stat`` raises for a link loop;
    the target is opened with ``O_NOFOLLOW`` all the same.)"""
    info = os.lstat(path)
    if not stat.S_ISLNK(info.st_mode):
        _check_regular(info)
        return str(path), info
    target = os.path.realpath(path)
    info = os.stat(target)
    if not stat.S_ISDIR(info.st_mode):
        _check_regular(info)
    if not follow_symlinks and not _inside(target, _real_root(str(root))):
        raise ReadError("a symbolic link to outside the site: not read "
                        "(LINKHEALTH_FOLLOW_SYMLINKS=1 reads it)")
    if stat.S_ISDIR(info.st_mode):
        raise ReadError("a symbolic link to a directory: not followed "
                        "(LINKHEALTH_FOLLOW_SYMLINKS=1 follows it)")
    return target, info


def _check_regular(info: os.stat_result) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "a special file")
    raise ReadError(f"not a regular file ({kind}): not read")


def _read_regular(target: str, max_bytes: int) -> bytes:
    fd = os.open(target, _OPEN_FLAGS)
    try:
        _check_regular(os.fstat(fd))  # what was opened, if the tree changed since lstat
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, _READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


@functools.lru_cache(maxsize=8)
def _real_root(root: str) -> str:
    return os.path.realpath(root)


def _too_large(max_bytes: int) -> str:
    return f"file larger than {max_bytes} bytes, not read"
