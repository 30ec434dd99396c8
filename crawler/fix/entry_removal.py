"""Cutting ``key: value`` entries out of one front-matter mapping, byte-exact.

Block mappings lose whole lines: the key's line through the line its value ends on, with
any comment on that line and its line break. Comment lines and blank lines around the entry
stay. Two layouts need more than a line cut:

* the entry is the first of a sequence item (``- ampWebUrl: x``): the cut runs from its key
  to the next kept key, which moves up behind the ``-`` at the same column;
* every entry of the mapping goes: the first becomes ``{}`` (an empty mapping, which is what
  the data becomes; an empty line would read as null), the others lose their lines.

Flow mappings (``{url: a, ampWebUrl: b}``) lose the entry and one separating comma.

Whatever this module cannot cut exactly is refused (``UNSUPPORTED_LAYOUT``): an entry that
does not start its line (``? key``), a comment or blank line between a first item entry and
the next key, a comment inside a flow entry, a key or value that is an alias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yaml.nodes import MappingNode

from crawler.fix.edits import UNSUPPORTED_LAYOUT, EditRefused
from crawler.fix.yaml_spans import FrontMatterIndex, Pair


@dataclass(frozen=True, slots=True)
class Cut:
    """Replace ``front[start:end]`` with ``text`` (``""`` or ``"{}"``)."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class _Entry:
    key_start: int
    key_end: int
    value_start: int
    value_end: int


_INDENT = re.compile(r"[ \t]*")
_ITEM_INDICATORS = re.compile(r"[ \t]*(?:-[ \t]+)+")
_KEY_VALUE_GAP = re.compile(r"[ \t]*:(?:[ \t]|\r\n|\n|\r)*")
_TRAILING_COMMENT = re.compile(r"[ \t]*(?:#[^\r\n\x85\u2028\u2029]*)?")
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_FLOW_SEPARATORS = re.compile(r"[ \t\r\n,:?]*")


def removal_cuts(index: FrontMatterIndex, mapping: MappingNode, removed: list[Pair]) -> list[Cut]:
    """The cuts that drop ``removed`` (pairs written in ``mapping``) from the text.

    ``EditRefused(UNSUPPORTED_LAYOUT)`` when they cannot be cut exactly.
    """
    own = index.own_pairs(mapping)
    position = {id(pair): i for i, pair in enumerate(own)}
    indexes = sorted(position[id(pair)] for pair in removed)
    entries = _entries(own, mapping.start_mark.index)
    if mapping.flow_style:
        return _flow_cuts(index.front, entries, indexes)
    return _block_cuts(index.front, entries, indexes)


def _entries(own: list[Pair], mapping_start: int) -> list[_Entry | None]:
    """Each pair's text positions, or None for one that is not written in place (an alias
    key or value: its node's marks are the anchor's, elsewhere)."""
    entries: list[_Entry | None] = []
    bound = mapping_start
    for key, value in own:
        entry = _Entry(key.start_mark.index, key.end_mark.index,
                       value.start_mark.index, value.end_mark.index)
        in_place = bound <= entry.key_start and entry.key_end <= entry.value_start
        entries.append(entry if in_place else None)
        bound = max(bound, entry.value_end if in_place else entry.key_start)
    return entries


def _entry(entries: list[_Entry | None], i: int) -> _Entry:
    entry = entries[i]
    if entry is None:
        raise EditRefused(UNSUPPORTED_LAYOUT,
                          "an entry involved is written with a YAML alias; not cut")
    return entry


# -- block mappings ---------------------------------------------------------------------

def _block_cuts(front: str, entries: list[_Entry | None], indexes: list[int]) -> list[Cut]:
    if len(indexes) == len(entries):
        first = _entry(entries, indexes[0])
        _check_key_value_gap(front, first)
        emptied = Cut(first.key_start, _content_end(front, first), "{}")
        return [emptied] + [_line_cut(front, _entry(entries, i)) for i in indexes[1:]]
    cuts: list[Cut] = []
    covered: set[int] = set()
    for i in indexes:
        if i in covered:
            continue
        entry = _entry(entries, i)
        prefix = front[_line_start(front, entry.key_start):entry.key_start]
        if _INDENT.fullmatch(prefix):
            cuts.append(_line_cut(front, entry))
        elif i == 0 and _ITEM_INDICATORS.fullmatch(prefix):
            kept = next(j for j in range(len(entries)) if j not in indexes)
            cuts.append(_item_head_cut(front, entries, kept))
            covered.update(range(kept))
        else:
            raise EditRefused(UNSUPPORTED_LAYOUT,
                              f"the entry does not start its line (it follows {prefix.strip()!r})")
    return cuts


def _line_cut(front: str, entry: _Entry) -> Cut:
    """The entry's lines, from the key's line start to after the value's line break."""
    start = _line_start(front, entry.key_start)
    if not _INDENT.fullmatch(front, start, entry.key_start):
        raise EditRefused(UNSUPPORTED_LAYOUT, "the entry does not start its line")
    _check_key_value_gap(front, entry)
    return Cut(start, _line_end(front, _content_end(front, entry)), "")


def _item_head_cut(front: str, entries: list[_Entry | None], kept: int) -> Cut:
    """From the first key of a ``- `` item to the first kept key, which takes its place.

    Only when the cut entries are on consecutive lines: a comment or blank line between
    them would be lost (or left behind the ``-``)."""
    for i in range(kept):
        entry = _entry(entries, i)
        _check_key_value_gap(front, entry)
        following = _entry(entries, i + 1)
        end = _line_end(front, _content_end(front, entry))
        if not _INDENT.fullmatch(front, end, following.key_start):
            raise EditRefused(UNSUPPORTED_LAYOUT,
                              "the first entry of a '- ' item is followed by a comment or a "
                              "blank line; not cut")
    return Cut(_entry(entries, 0).key_start, _entry(entries, kept).key_start, "")


def _check_key_value_gap(front: str, entry: _Entry) -> None:
    """Only ``:`` and spacing between key and value (no comment, no explicit-key layout)."""
    if not _KEY_VALUE_GAP.fullmatch(front, entry.key_end, entry.value_start):
        raise EditRefused(UNSUPPORTED_LAYOUT,
                          "something else than ':' lies between the key and its value")


def _content_end(front: str, entry: _Entry) -> int:
    """End of the value's last line without its line break: the value, then spaces and a
    comment. Anything else on that line is refused."""
    spaces_and_comment = _TRAILING_COMMENT.match(front, entry.value_end)  # matches, maybe nothing
    end = spaces_and_comment.end() if spaces_and_comment else entry.value_end
    if end < len(front) and not _LINE_BREAK.match(front, end):
        raise EditRefused(UNSUPPORTED_LAYOUT, "more text follows the value on its line")
    return end


def _line_start(front: str, index: int) -> int:
    return max(front.rfind("\n", 0, index), front.rfind("\r", 0, index)) + 1


def _line_end(front: str, content_end: int) -> int:
    match = _LINE_BREAK.match(front, content_end)
    return match.end() if match else content_end


# -- flow mappings ----------------------------------------------------------------------

def _flow_cuts(front: str, entries: list[_Entry | None], indexes: list[int]) -> list[Cut]:
    """Each run of consecutive removed entries goes with the comma after it, or, at the
    end of the mapping, with the comma before it."""
    cuts = []
    for first, last in _runs(indexes):
        if last + 1 < len(entries):
            start, end = _entry(entries, first).key_start, _entry(entries, last + 1).key_start
        elif first > 0:
            start, end = _entry(entries, first - 1).value_end, _entry(entries, last).value_end
        else:
            start, end = _entry(entries, 0).key_start, _entry(entries, last).value_end
            if not front[:start].rstrip(" \t\r\n").endswith("{"):
                raise EditRefused(UNSUPPORTED_LAYOUT,
                                  "a single-pair mapping without braces cannot be emptied")
        _check_flow_gaps(front, start, end, [_entry(entries, i) for i in range(first, last + 1)])
        cuts.append(Cut(start, end, ""))
    return cuts


def _runs(indexes: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in indexes:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _check_flow_gaps(front: str, start: int, end: int, entries: list[_Entry]) -> None:
    """Between the cut entries' keys and values only separators: a comment would be lost."""
    position = start
    for entry in entries:
        for node_start, node_end in ((entry.key_start, entry.key_end),
                                     (entry.value_start, entry.value_end)):
            if node_start > position and not _FLOW_SEPARATORS.fullmatch(front, position, node_start):
                raise EditRefused(UNSUPPORTED_LAYOUT, "a comment lies inside the flow entry; not cut")
            position = max(position, node_end)
    if position < end and not _FLOW_SEPARATORS.fullmatch(front, position, end):
        raise EditRefused(UNSUPPORTED_LAYOUT, "a comment lies inside the flow entry; not cut")
