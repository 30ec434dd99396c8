"""C0 and C1 control characters kept out of what linkhealth writes for people.

A page title, a file name, a server's header or an error message can carry ESC (``\\x1b``),
BEL (``\\x07``) or CSI (``\\x9b``). Written raw to a terminal, they move the cursor, rewrite
earlier lines, retitle the window or worse. Every text report (Markdown, HTML, CSV), the
messages of the commands and the crawl's log lines replace them with U+FFFD; tab and line
feed stay where they are part of the text's own format. The JSON report keeps every
character and escapes the controls JSON itself leaves raw (DEL and C1): ``\\u009b``.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
# C0 but tab and line feed, DEL, C1.
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What JSON's own escaping leaves raw: DEL and C1 (it escapes all of C0).
_JSON_RAW = re.compile("[\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with its control characters (tab and line feed excepted) replaced."""
    if text.isprintable():  # the usual case, checked in C: no regular expression run
        return text
    return CONTROLS.sub(REPLACEMENT, text)


def json_safe(chunk: str) -> str:
    """A piece of JSON text with DEL and C1 characters escaped: the same value once parsed
    (outside strings JSON text is ASCII, so any such character is inside one)."""
    if chunk.isascii():
        return chunk.replace("\x7f", "\\u007f") if "\x7f" in chunk else chunk
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", chunk)
