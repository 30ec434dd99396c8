"""Every edit of one document file, applied together and proven by reading the file back.

``edit_document`` takes the file's bytes and its edits (front-matter fields and body links,
all named by the field paths the crawler recorded), and returns the new bytes with only the
characters of the edited scalars, removed entries and body links changed. How:

1. Each edit is located on the original text: a front-matter field through the YAML node the
   reader's parser built for it (``yaml_spans``), a body link on its line (``body_links``).
   The value found there must be the one expected (``refs.raw``), or the edit is refused.
2. Each becomes a splice of the original text: a scalar rewritten in its own quoting style
   (``quoting``), an entry cut (``entry_removal``), a URL swapped in the body. Splices that
   would touch the same characters are refused; the rest are applied from the end.
3. The result is read back (``readback``) the way the crawler reads it: the same front
   matter boundaries, the same data but for the edited fields, the same body links but for
   the edited ones. If that fails, each edit is tried alone so that one bad edit does not
   sink the others.

Nothing is reordered, reflowed or re-serialised: line endings, BOM, comments, indentation
and every byte outside the splices stay as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from yaml.nodes import MappingNode, ScalarNode

from crawler.fix.body_links import body_link_spans_of
from crawler.fix.document_text import DocumentText, split_document, split_text
from crawler.fix.edits import (
    AMBIGUOUS_FIELD,
    BAD_NEW_VALUE,
    BLOCK_SCALAR,
    CONFLICT,
    DUPLICATE_KEY,
    MERGED_ENTRY,
    NO_SUCH_FIELD,
    NOT_A_STRING,
    NOT_AN_ENTRY,
    OVERLAP,
    READBACK_MISMATCH,
    SHARED_VALUE,
    VALUE_CHANGED,
    Edit,
    EditRefused,
    Refusal,
    Remove,
    Replace,
    is_body_field,
    shorten,
)
from crawler.fix.entry_removal import removal_cuts
from crawler.fix.quoting import render_scalar
from crawler.fix.readback import body_links, check_body, check_front, load_front
from crawler.fix.yaml_spans import STR_TAG, Field, FrontMatterIndex

_BLOCK_STYLES = {"|": "literal", ">": "folded"}


@dataclass(frozen=True, slots=True)
class EditResult:
    """The file's new bytes (its old bytes when nothing was applied), and what happened to
    each edit: ``applied`` or ``refused`` (with a code and a reason), in the given order."""

    data: bytes
    applied: tuple[Edit, ...]
    refused: tuple[Refusal, ...]

    @property
    def changed(self) -> bool:
        """Whether an edit was applied (``data`` may still equal the input when an edit
        wrote what was there already: compare bytes to decide whether to diff)."""
        return bool(self.applied)


@dataclass(frozen=True, slots=True)
class _Splice:
    """Replace ``text[start:end]`` of the document with ``new``, for ``edits``."""

    start: int
    end: int
    new: str
    edits: tuple[Edit, ...]


def edit_document(data: bytes, edits: Iterable[Edit]) -> EditResult:
    """Apply ``edits`` to one file's bytes, together, byte-exact; never raises for an edit.

    ``Replace(field, old, new)`` writes ``new`` where ``field`` holds ``old``: a front-matter
    path such as ``related[3].webUrl`` or ``provider.images[0].url``, or ``body:line N`` for a
    body link. ``Remove(field, old)`` drops the front-matter entry whose value is at
    ``field`` (``related[0].ampWebUrl``). Identical edits count once. Spans are computed on
    the original bytes, so edits do not shift each other (a removed line does not move
    the body lines that body edits name).

    A value that is not there verbatim, a field reached through an alias without all its
    other paths, a block scalar, overlapping edits, and whatever does not read back exactly
    are refused (``Refusal.code``: the constants of ``crawler.fix.edits``).
    """
    wanted, refused = _distinct(edits)
    try:
        document = split_document(data)
    except EditRefused as exc:
        return EditResult(data, (), tuple(refused + [_refusal(e, exc) for e in wanted]))
    splices, refusals = _plan(document, wanted)
    splices, overlapping = _without_overlaps(splices)
    refused += refusals + overlapping
    applied_splices, failed = _apply_proven(document, splices)
    refused += failed
    applied = {edit for splice in applied_splices for edit in splice.edits}
    new = _apply(document.text, applied_splices)
    order = {id(edit): i for i, edit in enumerate(wanted)}
    return EditResult(
        data if not applied else document.encode(new),
        tuple(edit for edit in wanted if edit in applied),
        tuple(sorted(refused, key=lambda r: order.get(id(r.edit), -1))),
    )


# -- which edits ------------------------------------------------------------------------

def _distinct(edits: Iterable[Edit]) -> tuple[list[Edit], list[Refusal]]:
    """One edit per place: repeats of one edit count once; different edits of one place
    are all refused (which one is meant is not ours to guess). A front-matter field is one
    place; a body line holds one place per URL written on it."""
    by_place: dict[tuple[str, str | None], list[Edit]] = {}
    for edit in edits:
        place = (edit.field, edit.old if is_body_field(edit.field) else None)
        same = by_place.setdefault(place, [])
        if edit not in same:
            same.append(edit)
    wanted: list[Edit] = []
    refused: list[Refusal] = []
    for same in by_place.values():
        if len(same) == 1:
            wanted.append(same[0])
        else:
            reason = f"{len(same)} different edits of this field; none made"
            refused += [Refusal(edit, CONFLICT, reason) for edit in same]
    return wanted, refused


def _refusal(edit: Edit, exc: EditRefused) -> Refusal:
    return Refusal(edit, exc.code, exc.reason)


# -- where each edit goes ---------------------------------------------------------------

def _plan(document: DocumentText, edits: list[Edit]) -> tuple[list[_Splice], list[Refusal]]:
    """The splices of the edits that can be located, and the refusals of the others."""
    splices: list[_Splice] = []
    refused: list[Refusal] = []
    front_edits = [edit for edit in edits if not is_body_field(edit.field)]
    for edit in edits:
        if is_body_field(edit.field):
            try:
                splices.extend(_body_splices(document, edit))
            except EditRefused as exc:
                refused.append(_refusal(edit, exc))
    if not front_edits:
        return splices, refused
    try:
        index = FrontMatterIndex(document.front)
    except EditRefused as exc:
        return splices, refused + [_refusal(edit, exc) for edit in front_edits]
    front_splices, front_refused = _front_splices(document, index, front_edits)
    return splices + front_splices, refused + front_refused


def _front_splices(document: DocumentText, index: FrontMatterIndex, edits: list[Edit]
                   ) -> tuple[list[_Splice], list[Refusal]]:
    """Replacements grouped by scalar (an anchor and its aliases are one scalar), removals
    grouped by mapping (the last entry left makes it ``{}``)."""
    splices: list[_Splice] = []
    refused: list[Refusal] = []
    fields: dict[int, Field] = {}
    replaced: dict[int, list[Edit]] = {}
    removed: dict[int, list[Edit]] = {}
    for edit in edits:
        try:
            field = _located(index, edit)
            if isinstance(edit, Remove):
                _check_removable(index, field)
        except EditRefused as exc:
            refused.append(_refusal(edit, exc))
            continue
        fields[id(edit)] = field
        if isinstance(edit, Replace):
            replaced.setdefault(id(field.node), []).append(edit)
        else:
            removed.setdefault(id(field.parent), []).append(edit)
    for group in replaced.values():
        _add(splices, refused, group, lambda g: [_scalar_splice(document, index, fields, g)])
    for group in removed.values():
        _add(splices, refused, group, lambda g: _removal_splices(document, index, fields, g))
    return splices, refused


def _add(splices: list[_Splice], refused: list[Refusal], group: list[Edit],
         make: Callable[[list[Edit]], list[_Splice]]) -> None:
    """The splices ``make(group)`` returns, or a refusal of every edit of ``group``."""
    try:
        splices.extend(make(group))
    except EditRefused as exc:
        refused.extend(_refusal(edit, exc) for edit in group)


def _located(index: FrontMatterIndex, edit: Edit) -> Field:
    """The field an edit names, holding the string it expects, in a form we can edit."""
    if index.is_ambiguous(edit.field):
        raise EditRefused(AMBIGUOUS_FIELD, "several fields of the front matter have this path "
                                           "(a key with '.' or '[' in it?)")
    field = index.field(edit.field)
    if field is None:
        raise EditRefused(NO_SUCH_FIELD, "the front matter has no such field")
    node = field.node
    if not isinstance(node, ScalarNode):
        kind = "mapping" if isinstance(node, MappingNode) else "list"
        raise EditRefused(NOT_A_STRING, f"the field holds a {kind}, not a string")
    if node.tag != STR_TAG:
        raise EditRefused(NOT_A_STRING, f"the field holds a YAML {node.tag.rsplit(':', 1)[-1]} "
                                        f"({shorten(node.value)}), not a string")
    if node.value != edit.old:
        raise EditRefused(VALUE_CHANGED, f"the field holds {shorten(node.value)}, not "
                                         f"{shorten(edit.old)} (changed since the crawl?)")
    if node.style in _BLOCK_STYLES:
        raise EditRefused(BLOCK_SCALAR, f"the value is a {_BLOCK_STYLES[node.style]} block "
                                        f"scalar ({node.style}); not edited, change it by hand")
    if isinstance(edit, Replace):
        _check_new_value(edit.new)
    return field


def _check_new_value(new: str) -> None:
    try:
        new.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EditRefused(BAD_NEW_VALUE, "the new value has a lone surrogate, which a UTF-8 "
                                         "file cannot hold") from exc


def _scalar_splice(document: DocumentText, index: FrontMatterIndex, fields: dict[int, Field],
                   group: list[Edit]) -> _Splice:
    """One scalar rewritten: edited at every path that reaches it, or not at all."""
    node = fields[id(group[0])].node
    assert isinstance(node, ScalarNode)  # _located refuses any other
    others = [path for path in index.paths_of(node) if path not in {e.field for e in group}]
    if others:
        raise EditRefused(SHARED_VALUE, "the value is shared through a YAML alias with "
                                        f"{', '.join(others)}; replace it there too, or by hand")
    news = {edit.new for edit in group if isinstance(edit, Replace)}
    if len(news) > 1:
        raise EditRefused(CONFLICT, "one YAML value (an anchor and its aliases) would get "
                                    "different new values")
    span = index.scalar_span(node)
    text = render_scalar(news.pop(), node.style, flow=span.flow)
    start = document.front_start
    return _Splice(start + span.start, start + span.end, text, tuple(group))


def _check_removable(index: FrontMatterIndex, field: Field) -> None:
    """A ``key: value`` entry written in its mapping, once, its value used nowhere else."""
    if field.pair is None or not isinstance(field.parent, MappingNode):
        raise EditRefused(NOT_AN_ENTRY, "the field is a list item, not a key: value entry")
    if not field.own:
        raise EditRefused(MERGED_ENTRY, "the entry comes from a YAML merge key (<<); not removed")
    if field.key_count > 1:
        raise EditRefused(DUPLICATE_KEY, f"the key is written {field.key_count} times in its "
                                         "mapping; not removed")
    others = [path for path in index.paths_of(field.node) if path != field.path]
    if others:
        raise EditRefused(SHARED_VALUE, f"the value is also reached at {', '.join(others)} "
                                        "through a YAML alias; not removed")


def _removal_splices(document: DocumentText, index: FrontMatterIndex, fields: dict[int, Field],
                     group: list[Edit]) -> list[_Splice]:
    """The cuts of the removed entries of one mapping, made together."""
    parent = fields[id(group[0])].parent
    assert isinstance(parent, MappingNode)
    pairs = [pair for edit in group if (pair := fields[id(edit)].pair) is not None]
    start = document.front_start
    return [_Splice(start + cut.start, start + cut.end, cut.text, tuple(group))
            for cut in removal_cuts(index, parent, pairs)]


def _body_splices(document: DocumentText, edit: Edit) -> list[_Splice]:
    """One splice per link to the old URL on the line (the reader's one reference)."""
    if not isinstance(edit, Replace):
        raise EditRefused(NOT_AN_ENTRY, "a body link can be replaced, not removed")
    return [_Splice(start, end, edit.new, (edit,))
            for start, end in body_link_spans_of(document, edit.field, edit.old, edit.new)]


def _without_overlaps(splices: list[_Splice]) -> tuple[list[_Splice], list[Refusal]]:
    """Splices that touch the same characters are all refused; touching ends is fine."""
    ordered = sorted(splices, key=lambda s: (s.start, s.end))
    clashing: set[int] = set()
    reach = -1
    reacher = -1
    for i, splice in enumerate(ordered):
        if splice.start < reach:
            clashing.update({i, reacher})
        if splice.end > reach:
            reach, reacher = splice.end, i
    kept = [s for i, s in enumerate(ordered) if i not in clashing]
    refused = []
    for i in sorted(clashing):
        others = {e.field for j in clashing if j != i for e in ordered[j].edits}
        reason = f"it would change the same text as the edit of {', '.join(sorted(others))}"
        refused += [Refusal(edit, OVERLAP, reason) for edit in ordered[i].edits]
    return kept, refused


# -- applying and proving ---------------------------------------------------------------

def _apply(text: str, splices: list[_Splice]) -> str:
    for splice in sorted(splices, key=lambda s: s.start, reverse=True):
        text = text[:splice.start] + splice.new + text[splice.end:]
    return text


def _apply_proven(document: DocumentText, splices: list[_Splice]
                  ) -> tuple[list[_Splice], list[Refusal]]:
    """The splices whose result reads back as intended: all of them, or, when together
    they do not, those that do alone and then together."""
    if not splices:
        return [], []
    try:
        _prove(document, splices)
        return splices, []
    except EditRefused as together:
        if len(splices) == 1:
            return [], [_refusal(edit, together) for edit in splices[0].edits]
    good, refused = [], []
    for group in _edit_groups(splices):
        try:
            _prove(document, group)
            good.extend(group)
        except EditRefused as exc:
            refused += [_refusal(edit, exc) for splice in group for edit in splice.edits]
    try:
        _prove(document, good)
        return good, refused
    except EditRefused as exc:
        return [], refused + [_refusal(edit, exc) for s in good for edit in s.edits]


def _edit_groups(splices: list[_Splice]) -> list[list[_Splice]]:
    """Splices made for the same edits belong together (an entry removal may be two cuts)."""
    groups: dict[tuple[int, ...], list[_Splice]] = {}
    for splice in splices:
        groups.setdefault(tuple(id(e) for e in splice.edits), []).append(splice)
    return list(groups.values())


def _prove(document: DocumentText, splices: list[_Splice]) -> None:
    """``EditRefused(READBACK_MISMATCH)`` unless the spliced text reads back as intended."""
    new = _apply(document.text, splices)
    front_shift = sum(len(s.new) - (s.end - s.start) for s in splices
                      if s.end <= document.front_end)
    try:
        edited = split_text(new, document.bom)
    except EditRefused as exc:
        raise EditRefused(READBACK_MISMATCH, f"the edited file has lost its front matter: {exc}") from exc
    if (edited.front_start, edited.front_end) != (document.front_start, document.front_end + front_shift):
        raise EditRefused(READBACK_MISMATCH, "the edit would move the front matter's '---' lines")
    edits = [edit for splice in splices for edit in splice.edits]
    front_edits = [edit for edit in edits if not is_body_field(edit.field)]
    if front_edits:
        check_front(load_front(document.front), load_front(edited.front),
                    {e.field: e.new for e in front_edits if isinstance(e, Replace)},
                    {e.field for e in front_edits if isinstance(e, Remove)})
    body_edits = [e for e in edits if is_body_field(e.field) and isinstance(e, Replace)]
    if body_edits:
        check_body(body_links(document.body, document.body_first_line),
                   body_links(edited.body, edited.body_first_line),
                   {(e.field, e.old): e.new for e in body_edits},
                   edited.body_first_line - document.body_first_line)
