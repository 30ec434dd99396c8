"""Checks of an applied ``scrapy fix`` patch, made apart from crawler.fix's own proofs.

``file_problems`` reads a patched file and its committed original with the crawler's reader
(``crawler.site.sources``: the same front-matter split, YAML loader and reference rules)
and says what differs from "the same data, types and order, but for the changed values",
"the same body" (with body links changed: the same lines but the changed ones) and "the same
references, with the changed values". The changes are those ``crawler.fix.plan`` lists for
the file (``Change``: a field with its new value, or removed; a body link's field is
``body:line N``, N its line in the file).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from frontmatter.default_handlers import YAMLHandler

from crawler.fix.edits import BODY_FIELD_PREFIX
from crawler.site import bounded_yaml
from crawler.site.sources import DEFAULT_LIMITS, read_document

_HANDLER = YAMLHandler()
SHOWN = 5  # problems shown per file


def file_problems(root: Path, relative: str, old: bytes, new: bytes, changes: Iterable[Any],
                  body_links: bool = False) -> list[str]:
    """What is wrong with ``new`` as ``old`` with ``changes`` made (nothing: ``[]``);
    ``body_links``: the references compared include the body's links."""
    changes = list(changes)
    in_body = {(c.field, c.old): c.new for c in changes if c.field.startswith(BODY_FIELD_PREFIX)}
    front = [c for c in changes if not c.field.startswith(BODY_FIELD_PREFIX)]
    replaced = {c.field: c.new for c in front if c.new is not None}
    removed = {c.field for c in front if c.new is None}
    (old_data, old_body), (new_data, new_body) = _load(old), _load(new)
    problems = _differences(old_data, new_data, "", replaced, removed)
    problems += _body_problems(old, new, old_body, new_body,
                               {int(f.removeprefix(BODY_FIELD_PREFIX)) for f, _ in in_body})
    expected = [(f, in_body.get((f, v), replaced.get(f, v)))
                for f, v in _refs(root, relative, old, body_links) if f not in removed]
    if _refs(root, relative, new, body_links) != expected:
        problems.append("the references read back differ from the old ones with the changes made")
    if old.count(b"\r\n") and new.count(b"\r\n") != new.count(b"\n"):
        problems.append("a CRLF file got LF lines")
    return problems[:SHOWN]


def _load(data: bytes) -> tuple[Any, str]:
    text = data.decode("utf-8").removeprefix("\ufeff")
    front, body = _HANDLER.split(text)
    return bounded_yaml.load(front, DEFAULT_LIMITS.max_yaml_nodes), body


def _body_problems(old: bytes, new: bytes, old_body: str, new_body: str, lines: set[int]
                   ) -> list[str]:
    """The body unchanged but for its lines ``lines`` (numbers in the file)."""
    if not lines:
        return [] if new_body == old_body else ["the body changed"]
    old_lines, new_lines = old.split(b"\n"), new.split(b"\n")
    if len(old_lines) != len(new_lines):
        return [f"{len(new_lines)} lines, not {len(old_lines)}"]
    text = old.decode("utf-8")
    body_first = text.count("\n", 0, len(text) - len(old_body)) + 1 if text.endswith(old_body) else 1
    other = [n for n, (a, b) in enumerate(zip(old_lines, new_lines, strict=True), 1)
             if a != b and n >= body_first and n not in lines]
    return [f"body lines changed that no change names: {other[:SHOWN]}"] if other else []


def _refs(root: Path, relative: str, data: bytes, body_links: bool = False) -> list[tuple[str, str]]:
    """The references the reader finds in these bytes, as if they were the file's."""
    scratch = root / relative
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.write_bytes(data)
    document = read_document(scratch, root, body_links=body_links)
    assert document is not None and document.error is None, relative
    return [(ref.field, ref.value) for ref in document.refs]


def _differences(old: Any, new: Any, path: str, replaced: dict[str, str], removed: set[str]
                 ) -> list[str]:
    if path in replaced:
        return [] if new == replaced[path] and type(new) is str else \
            [f"{path}: {new!r}, not the new value {replaced[path]!r}"]
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{path}: no longer a mapping"]
        keys = [k for k in old if _child(path, k) not in removed]
        if list(new) != keys:
            return [f"{path or 'top level'}: keys {list(new)!r}, expected {keys!r}"]
        return [p for k in keys for p in _differences(old[k], new[k], _child(path, k), replaced, removed)]
    if isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            return [f"{path}: no longer a list of {len(old)}"]
        return [p for i, (a, b) in enumerate(zip(old, new, strict=True))
                for p in _differences(a, b, f"{path}[{i}]", replaced, removed)]
    same = type(old) is type(new) and (old == new or _both_nan(old, new))
    return [] if same else [f"{path}: {old!r} became {new!r}"]


def _child(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _both_nan(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
