"""Replacing one link of a document's body, found by its line (``body:line N``).

The reader records body links (Markdown links and images, HTML ``href``/``src``) with the
file line they start on, and a URL linked twice on one line as one reference (a CMS writes a
whole body on one line of HTML). An edit replaces every link to the old URL that the reader
finds on that line, where the reader finds it; the same URL written as plain text, or as a
link's text, is not a link and stays.
"""

from __future__ import annotations

import re

from crawler.fix.document_text import DocumentText, split_document
from crawler.fix.edits import (
    BAD_NEW_VALUE,
    BODY_FIELD_PREFIX,
    BODY_LINK_NOT_FOUND,
    NO_SUCH_FIELD,
    EditRefused,
    shorten,
)
from crawler.fix.readback import body_links, check_body
from crawler.site.references import body_link_spans

# A URL with these would break its line or its markup, whatever the link syntax.
_UNWRITABLE = re.compile("[\x00-\x20\x7f-\x9f\u2028\u2029\ufeff]|[\ud800-\udfff]")


def body_line(field: str) -> int:
    """N from ``body:line N`` (``EditRefused(NO_SUCH_FIELD)`` for anything else)."""
    number = field.removeprefix(BODY_FIELD_PREFIX)
    if not field.startswith(BODY_FIELD_PREFIX) or not number.isdigit() or int(number) < 1:
        raise EditRefused(NO_SUCH_FIELD, f"{field!r} is not a body field (body:line N)")
    return int(number)


def body_link_spans_of(document: DocumentText, field: str, old: str, new: str
                      ) -> list[tuple[int, int]]:
    """Where in ``document.text`` the links to ``old`` of ``field`` are written: the spans to
    replace with ``new``. ``EditRefused`` when the reader found no such link on that line,
    or when ``new`` cannot be written there."""
    if _UNWRITABLE.search(new) or not new:
        raise EditRefused(BAD_NEW_VALUE, f"the new URL {shorten(new)} has spaces or control "
                                         "characters; not written into the body")
    line = body_line(field)
    start = document.body_start
    spans = sorted((start + offset, start + offset + len(old))  # Markdown's and HTML's links,
                   for ref, offset in body_link_spans(document.body, document.body_first_line)
                   if ref.field == field and ref.value == old)  # in the order they are written
    if not spans:
        raise EditRefused(BODY_LINK_NOT_FOUND, f"no link to {shorten(old)} starts on line {line}")
    if any(document.text[a:b] != old for a, b in spans):  # the reader's offsets, proven
        raise EditRefused(BODY_LINK_NOT_FOUND, f"{shorten(old)} is not written on line {line} itself")
    return spans


def replace_in_body(data: bytes, field: str, old: str, new: str) -> bytes:
    """A file's bytes with the body link ``old`` on ``field`` (``body:line N``) replaced by
    ``new``, every other byte kept; proven by finding the body's links again.

    ``EditRefused`` (see ``body_link_spans_of``, and ``READBACK_MISMATCH`` when the new URL would
    not read back as that link: a ``)`` ends a Markdown link, a quote an HTML attribute).
    ``edit_document`` does the same among other edits of the file.
    """
    document = split_document(data)
    text = document.text
    for start, end in reversed(body_link_spans_of(document, field, old, new)):
        text = text[:start] + new + text[end:]
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
