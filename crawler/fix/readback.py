"""The proof that an edited document reads as intended, and that nothing else changed.

An edited file is split and loaded again with the reader's own front-matter handler and
YAML parser (``crawler.site.sources``), and its body links found again with
``crawler.site.references``. The new data must equal the old data with exactly the edited fields
changed: replaced values are the new strings, removed entries are gone, and every other
key, value, type and order is the same. The comparison is strict about types (``1``,
``1.0`` and ``True`` are not equal here) and takes NaN as equal to itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import yaml

from crawler.fix.edits import READBACK_MISMATCH, EditRefused, shorten
from crawler.site.bounded_yaml import BoundedSafeLoader
from crawler.site.references import Reference, body_references


def load_front(front: str) -> Any:
    """Front matter as the reader loads it (``EditRefused`` when it does not load)."""
    try:
        return yaml.load(front, Loader=BoundedSafeLoader)
    except (yaml.YAMLError, ValueError) as exc:
        raise EditRefused(READBACK_MISMATCH,
                          f"the edited front matter does not load: {' '.join(str(exc).split())}"
                          ) from exc


def check_front(old: Any, new: Any, replaced: Mapping[str, str], removed: set[str]) -> None:
    """``EditRefused(READBACK_MISMATCH)`` unless ``new`` is ``old`` with the paths in
    ``replaced`` holding their new strings and the entries in ``removed`` gone."""
    problem = _difference(old, new, "", replaced, removed, set())
    if problem is not None:
        raise EditRefused(READBACK_MISMATCH, f"the edited file does not read back as intended: {problem}")


def check_body(old: list[Reference], new: list[Reference], replaced: Mapping[tuple[str, str], str],
               line_shift: int) -> None:
    """``EditRefused(READBACK_MISMATCH)`` unless the body links read back the same, in the
    same order, on lines shifted by ``line_shift`` (front matter that lost lines), but for
    ``replaced``: (field, old URL) → new URL."""
    if len(old) != len(new):
        raise EditRefused(READBACK_MISMATCH,
                          f"the body has {len(new)} links after the edit, {len(old)} before")
    for before, after in zip(old, new, strict=True):
        expected = replaced.get((before.field, before.value), before.value)
        if (_line(after.field) != _line(before.field) + line_shift or after.value != expected
                or after.kind != before.kind):
            raise EditRefused(READBACK_MISMATCH,
                              f"the body link {before.field} ({shorten(before.value)}) reads back "
                              f"as {shorten(after.value)} on {after.field}")


def body_links(body: str, first_line: int) -> list[Reference]:
    """The body's links as the reader finds them with ``body_links`` on."""
    return list(body_references(body, first_line))


def _line(field: str) -> int:
    return int(field.rsplit(" ", 1)[1])


def _difference(old: Any, new: Any, path: str, replaced: Mapping[str, str], removed: set[str],
                open_nodes: set[int]) -> str | None:
    """What differs first between ``old`` (with the edits applied) and ``new``, or None."""
    if path in replaced:
        if type(new) is str and new == replaced[path]:
            return None
        return f"{path} is {shorten(repr(new))}, not {shorten(replaced[path])}"
    if id(old) in open_nodes:
        return None  # a recursive alias, compared where it started
    if isinstance(old, dict):
        return _mapping_difference(old, new, path, replaced, removed, open_nodes | {id(old)})
    if isinstance(old, list):
        if type(new) is not list or len(new) != len(old):
            return f"{path or 'the front matter'} is no longer the same list"
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            problem = _difference(a, b, f"{path}[{index}]", replaced, removed, open_nodes | {id(old)})
            if problem:
                return problem
        return None
    return None if _same_scalar(old, new) else f"{path} changed ({shorten(repr(old))} → {shorten(repr(new))})"


def _mapping_difference(old: dict, new: Any, path: str, replaced: Mapping[str, str],
                        removed: set[str], open_nodes: set[int]) -> str | None:
    if type(new) is not dict:
        return f"{path or 'the front matter'} is no longer a mapping"
    kept = [key for key in old if _child(path, key) not in removed]
    if len(kept) != len(new) or not all(_same_scalar(a, b) for a, b in zip(kept, new, strict=True)):
        return f"the keys of {path or 'the front matter'} are not the ones expected"
    for key in kept:
        problem = _difference(old[key], new[key], _child(path, key), replaced, removed, open_nodes)
        if problem:
            return problem
    return None


def _child(path: str, key: Any) -> str:
    name = key if type(key) is str else str(key)
    return f"{path}.{name}" if path else name


def _same_scalar(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)
