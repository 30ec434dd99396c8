"""What an edit of a document is, and how a refused one is reported.

An edit names a field the way ``crawler.site.references`` does (``related[2].images[0].url``, or
``body:line 12`` for a body link), the value expected there (``refs.raw``: the URL as written)
and what to do with it. An edit that cannot be made exactly is refused with a ``Refusal``: a
stable ``code`` for grouping and a ``reason`` a maintainer can read.
"""

from __future__ import annotations

from dataclasses import dataclass

# Refusal codes. The reasons carry the details.
UNREADABLE = "unreadable"                    # the file is not UTF-8
NO_FRONT_MATTER = "no_front_matter"          # no '---' first line
FRONT_MATTER_NOT_CLOSED = "front_matter_not_closed"
FRONT_MATTER_INVALID = "front_matter_invalid"  # YAML that does not parse, or not a mapping
NO_SUCH_FIELD = "no_such_field"              # nothing at that path (or not a field path at all)
AMBIGUOUS_FIELD = "ambiguous_field"          # two different fields write the same path
VALUE_CHANGED = "value_changed"              # the field holds something else than expected
NOT_A_STRING = "not_a_string"                # the field holds a number, a date, a list...
BLOCK_SCALAR = "block_scalar"                # a literal (|) or folded (>) block scalar
SHARED_VALUE = "shared_value"                # reached through a YAML alias as well
MERGED_ENTRY = "merged_entry"                # the entry comes from a merge key (<<)
DUPLICATE_KEY = "duplicate_key"              # the mapping has that key more than once
NOT_AN_ENTRY = "not_an_entry"                # Remove of something that is not key: value
UNSUPPORTED_LAYOUT = "unsupported_layout"    # an entry written in a way not cut exactly
CONFLICT = "conflict"                        # two different edits of one field
OVERLAP = "overlap"                          # two edits would change the same characters
BODY_LINK_NOT_FOUND = "body_link_not_found"  # the URL is not a link on that line
BAD_NEW_VALUE = "bad_new_value"              # the new URL cannot be written there
READBACK_MISMATCH = "readback_mismatch"      # the edited file does not read back as intended


@dataclass(frozen=True, slots=True)
class Replace:
    """Write ``new`` where the field ``field`` holds ``old``; nothing else changes."""

    field: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Remove:
    """Drop the front-matter entry ``key: old`` whose value is at ``field`` (for instance
    ``related[0].ampWebUrl``), with any comment on its line."""

    field: str
    old: str


Edit = Replace | Remove


@dataclass(frozen=True, slots=True)
class Refusal:
    """An edit that was not made: ``code`` (one of this module's constants) and why."""

    edit: Edit
    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.edit.field}: {self.reason}"


class EditRefused(Exception):
    """Raised inside the package (and by ``replace_in_body``) when an edit cannot be made
    exactly. ``edit_document`` turns it into a ``Refusal``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


BODY_FIELD_PREFIX = "body:line "


def is_body_field(field: str) -> bool:
    """Whether a field path names a body link (``body:line N``) rather than front matter."""
    return field.startswith(BODY_FIELD_PREFIX)


def shorten(value: str, limit: int = 120) -> str:
    """A value quoted for a reason, cut when long (reasons stay one readable line)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 1]}…"
