"""Replacing one link of a document's body, found by its line (``body:line N``).

The reader records body links (Markdown links and images, HTML ``href``/``src``) with the
file line they start on. An edit replaces the one occurrence of the old URL on that line of
the body, and only when it is a link the reader found there and written there exactly once:
otherwise which occurrence is meant would be a guess.
"""

from __future__ import annotations

import re

from crawler.fix.document_text import DocumentText, split_document
from crawler.fix.edits import (
    BAD_NEW_VALUE,
    BODY_FIELD_PREFIX,
    BODY_LINK_AMBIGUOUS,
    BODY_LINK_NOT_FOUND,
    NO_SUCH_FIELD,
    EditRefused,
    shorten,
)
from crawler.fix.readback import body_links, check_body

# A URL with these would break its line or its markup, whatever the link syntax.
_UNWRITABLE = re.compile("[\x00-\x20\x7f-\x9f\u2028\u2029\ufeff]|[\ud800-\udfff]")


def body_line(field: str) -> int:
    """N from ``body:line N`` (``EditRefused(NO_SUCH_FIELD)`` for anything else)."""
    number = field.removeprefix(BODY_FIELD_PREFIX)
    if not field.startswith(BODY_FIELD_PREFIX) or not number.isdigit() or int(number) < 1:
        raise EditRefused(NO_SUCH_FIELD, f"{field!r} is not a body field (body:line N)")
    return int(number)


def body_link_span(document: DocumentText, field: str, old: str, new: str) -> tuple[int, int]:
    """Where in ``document.text`` the link ``old`` of ``field`` is written: the span to
    replace with ``new``. ``EditRefused`` when the reader found no such link on that line,
    when the URL is written more than once on it, or when ``new`` cannot be written there."""
    if _UNWRITABLE.search(new) or not new:
        raise EditRefused(BAD_NEW_VALUE, f"the new URL {shorten(new)} has spaces or control "
                                         "characters; not written into the body")
    line = body_line(field)
    if not any(ref.field == field and ref.value == old
               for ref in body_links(document.body, document.body_first_line)):
        raise EditRefused(BODY_LINK_NOT_FOUND, f"no link to {shorten(old)} starts on line {line}")
    start, end = _line_span(document, line)
    found = document.text.find(old, start, end)
    if found == -1:
        raise EditRefused(BODY_LINK_NOT_FOUND, f"{shorten(old)} is not written on line {line} itself")
    if document.text.find(old, found + 1, end) != -1:
        raise EditRefused(BODY_LINK_AMBIGUOUS,
                          f"{shorten(old)} is written more than once on line {line}")
    return found, found + len(old)


def replace_in_body(data: bytes, field: str, old: str, new: str) -> bytes:
    """A file's bytes with the body link ``old`` on ``field`` (``body:line N``) replaced by
    ``new``, every other byte kept; proven by finding the body's links again.

    ``EditRefused`` (see ``body_link_span``, and ``READBACK_MISMATCH`` when the new URL would
    not read back as that link: a ``)`` ends a Markdown link, a quote an HTML attribute).
    ``edit_document`` does the same among other edits of the file.
    """
    document = split_document(data)
    start, end = body_link_span(document, field, old, new)
    text = document.text[:start] + new + document.text[end:]
    before = body_links(document.body, document.body_first_line)
    after = body_links(text[document.body_start:], document.body_first_line)
    check_body(before, after, {(field, old): new}, 0)
    return document.encode(text)


def _line_span(document: DocumentText, line: int) -> tuple[int, int]:
    """The body's part of file line ``line``, without its line break."""
    text = document.text
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            raise EditRefused(BODY_LINK_NOT_FOUND, f"the file has no line {line}")
    end = text.find("\n", start)
    return max(start, document.body_start), len(text) if end == -1 else end
