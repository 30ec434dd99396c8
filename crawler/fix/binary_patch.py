"""A new file of any bytes as a git binary patch, which ``git apply`` takes from the site's root.

``scrapy fix --dead local`` writes archived copies (images, pages) into the site; in a patch
they are new files, and git carries arbitrary bytes only as a *binary patch*:

    diff --git a/P b/P
    new file mode 100644
    index 0000000000000000000000000000000000000000..<the new blob's SHA-1>
    GIT binary patch
    literal <size>
    <the zlib-compressed bytes, base85, up to 52 bytes a line>

    literal 0
    <the same for the reverse: no bytes>

``git apply`` needs the full index line for a binary patch and checks the result against it.
Each line starts with its length (``A``-``Z`` for 1-26 bytes, ``a``-``z`` for 27-52); base85 is
git's alphabet, which is Python's ``b85encode``'s, big-endian, the last group zero-padded.
"""

from __future__ import annotations

import base64
import hashlib
import zlib

from crawler.fix.unified_diff import quote_path

LINE_BYTES = 52
NO_OBJECT = b"0" * 40


def new_file_patch(path: str, data: bytes) -> bytes:
    """The binary patch creating ``path`` (relative to the site root) with ``data``."""
    name = path.encode("utf-8")
    old_name, new_name = quote_path(b"a/" + name), quote_path(b"b/" + name)
    return b"".join((
        b"diff --git " + old_name + b" " + new_name + b"\n",
        b"new file mode 100644\n",
        b"index " + NO_OBJECT + b".." + blob_id(data).encode("ascii") + b"\n",
        b"GIT binary patch\n",
        _literal(data), b"\n",
        _literal(b""), b"\n",
    ))


def blob_id(data: bytes) -> str:
    """The SHA-1 git gives a file of ``data`` (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _literal(data: bytes) -> bytes:
    deflated = zlib.compress(data, 9)
    lines = [b"literal %d\n" % len(data)]
    for start in range(0, len(deflated), LINE_BYTES):
        chunk = deflated[start:start + LINE_BYTES]
        size = len(chunk)
        mark = (ord("A") + size - 1) if size <= 26 else (ord("a") + size - 27)
        lines.append(bytes([mark]) + base64.b85encode(chunk, pad=True) + b"\n")
    return b"".join(lines)
