"""A document file's bytes as the reader (``crawler.site.sources``) sees them, and back.

The reader decodes UTF-8, drops one leading BOM, and splits front matter from body with
python-frontmatter's YAML boundary (``^-{3,}\\s*$``). This module finds the same two
boundaries, but keeps their offsets, so an edit of the front matter or the body can be
placed in the file's text and the file written back with its BOM, its line endings and every
other byte as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.fix.edits import (
    FRONT_MATTER_NOT_CLOSED,
    NO_FRONT_MATTER,
    UNREADABLE,
    EditRefused,
)
from crawler.site.sources import _YAML  # the reader's own front-matter handler: one definition

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class DocumentText:
    """One file's text (BOM removed) and where its front matter and body lie in it.

    ``text[front_start:front_end]`` is exactly the string the reader hands to YAML, and
    ``text[body_start:]`` the body it scans for links. Indexes count code points, as
    Python strings and PyYAML's marks both do.
    """

    text: str
    bom: bool
    front_start: int
    front_end: int
    body_start: int

    @property
    def front(self) -> str:
        return self.text[self.front_start:self.front_end]

    @property
    def body(self) -> str:
        return self.text[self.body_start:]

    @property
    def body_first_line(self) -> int:
        """File line (1-based) of the body's first character, as the reader numbers it."""
        return self.text.count("\n", 0, self.body_start) + 1

    def encode(self, text: str | None = None) -> bytes:
        """The file's bytes for ``text`` (this document's own by default), BOM kept."""
        encoded = (self.text if text is None else text).encode("utf-8")
        return BOM + encoded if self.bom else encoded


def split_document(data: bytes) -> DocumentText:
    """A file's bytes split as the reader splits them; ``EditRefused`` when the reader would
    record no front matter for it (not UTF-8, no front matter, front matter never closed)."""
    bom = data.startswith(BOM)
    try:
        text = data[len(BOM):].decode("utf-8") if bom else data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EditRefused(UNREADABLE, f"the file is not UTF-8 (byte {exc.start})") from exc
    return split_text(text, bom)


def split_text(text: str, bom: bool = False) -> DocumentText:
    """Like ``split_document``, for text already decoded (``bom``: whether to write one)."""
    boundaries = _YAML.FM_BOUNDARY.finditer(text)
    opening = next(boundaries, None)
    if opening is None or opening.start() != 0:
        raise EditRefused(NO_FRONT_MATTER, "the file does not start with front matter ('---')")
    closing = next(boundaries, None)
    if closing is None:
        raise EditRefused(FRONT_MATTER_NOT_CLOSED,
                          "the front matter is not closed (no second '---' line)")
    return DocumentText(text, bom, opening.end(), closing.start(), closing.end())
