"""A unified diff of edited files that ``git apply`` accepts from the site's root.

Written as git writes one: ``diff --git a/PATH b/PATH``, ``--- a/PATH``, ``+++ b/PATH``,
hunks with three lines of context, ``\\ No newline at end of file`` after a last line
without one. Lines are split on ``\\n`` only, as git does, so a CRLF file keeps its ``\\r``
in every line of the patch, byte for byte. Paths are quoted the way git quotes them
(``core.quotePath``, its default): a path with a control character, ``"``, ``\\`` or a byte
above 0x7F is written in double quotes with C escapes and octal bytes; a path with a space
gets a tab after it on the ``---``/``+++`` lines, as git writes it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass

CONTEXT = 3
_NO_NEWLINE = b"\\ No newline at end of file\n"
_C_ESCAPES = {0x07: b"\\a", 0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0B: b"\\v",
              0x0C: b"\\f", 0x0D: b"\\r", 0x22: b'\\"', 0x5C: b"\\\\"}


@dataclass(frozen=True, slots=True)
class FileChange:
    """One edited file: its path relative to the site root (forward slashes), its bytes
    before and after."""

    path: str
    old: bytes
    new: bytes


def unified_diff(changes: Iterable[FileChange], context: int = CONTEXT) -> bytes:
    """The patch of ``changes`` (unchanged files are left out), in the order given.

    ``ValueError`` for a path that is not a plain relative path inside the root (absolute,
    ``..``, ``.`` or empty parts), and for a file with a NUL byte (git would take it for
    binary and refuse a text hunk).
    """
    return b"".join(file_diff(change, context) for change in changes if change.old != change.new)


def file_diff(change: FileChange, context: int = CONTEXT) -> bytes:
    """The patch of one file (empty when its bytes did not change)."""
    if change.old == change.new:
        return b""
    name = _checked_path(change.path)
    if b"\0" in change.old or b"\0" in change.new:
        raise ValueError(f"{change.path}: has a NUL byte; git takes it for a binary file")
    old_name, new_name = quote_path(b"a/" + name), quote_path(b"b/" + name)
    tab = b"\t" if b" " in name else b""
    parts = [b"diff --git " + old_name + b" " + new_name + b"\n",
             b"--- " + old_name + tab + b"\n", b"+++ " + new_name + tab + b"\n"]
    old, new = split_lines(change.old), split_lines(change.new)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    parts.extend(_hunk(old, new, group) for group in matcher.get_grouped_opcodes(context))
    return b"".join(parts)


def split_lines(data: bytes) -> list[bytes]:
    """Lines as git sees them: each ends with ``\\n`` (the last may not); ``\\r`` is data."""
    lines = data.split(b"\n")
    last = lines.pop()
    return [line + b"\n" for line in lines] + ([last] if last else [])


def quote_path(name: bytes) -> bytes:
    """``name`` as git writes it in a patch header: as is, or C-quoted when it holds a
    control character, ``"``, ``\\``, DEL or a non-ASCII byte."""
    if not any(byte < 0x20 or byte >= 0x7F or byte in (0x22, 0x5C) for byte in name):
        return name
    out = bytearray(b'"')
    for byte in name:
        if byte in _C_ESCAPES:
            out += _C_ESCAPES[byte]
        elif byte < 0x20 or byte >= 0x7F:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    return bytes(out + b'"')


def _checked_path(path: str) -> bytes:
    parts = path.split("/")
    if path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{path!r} is not a plain path relative to the site root")
    return os.fsencode(path)


def _hunk(old: list[bytes], new: list[bytes], group: list[tuple[str, int, int, int, int]]) -> bytes:
    first, last = group[0], group[-1]
    old_start, old_end, new_start, new_end = first[1], last[2], first[3], last[4]
    parts = [b"@@ -" + _range(old_start, old_end) + b" +" + _range(new_start, new_end) + b" @@\n"]
    for tag, i1, i2, j1, j2 in group:
        if tag == "equal":
            parts += [_line(b" ", line) for line in old[i1:i2]]
            continue
        parts += [_line(b"-", line) for line in old[i1:i2]]
        parts += [_line(b"+", line) for line in new[j1:j2]]
    return b"".join(parts)


def _range(start: int, end: int) -> bytes:
    """``start,count`` with 1-based lines; one line is ``start``; none is the line before."""
    count = end - start
    if count == 1:
        return b"%d" % (start + 1)
    return b"%d,%d" % (start if count == 0 else start + 1, count)


def _line(prefix: bytes, line: bytes) -> bytes:
    return prefix + line if line.endswith(b"\n") else prefix + line + b"\n" + _NO_NEWLINE
