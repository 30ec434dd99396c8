"""From a field path to the YAML node written for it, and where that node's text lies.

The front matter is composed with the reader's own parser (libyaml when PyYAML has it, as in
``crawler.site.sources``), so a field is found exactly where the crawler found it. Field paths are
made here the way ``crawler.site.references`` makes them from the loaded data (``a.b``,
``a[2].b``; keys that are not strings through ``str()``), which means:

* merge keys (``<<``) are applied first: a field brought in by a merge is reached at the
  merging mapping's path, as in the data, but its text is where the merged mapping has it;
* a duplicate key reads as its last occurrence, as in the data;
* only plain ``!!map`` and ``!!seq`` nodes are walked into (``!!set``, ``!!omap`` and
  ``!!pairs`` do not load as dicts and lists, so the references walk does not enter them);
* a node reached through an alias is the anchor's node: ``paths_of`` lists every path that
  reaches it, so an edit can be refused rather than silently change every alias user.

Spans are indexes into the front-matter string (code points, like Python's and libyaml's).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from crawler.core.text import one_line
from crawler.fix.edits import FRONT_MATTER_INVALID, EditRefused
from crawler.site.bounded_yaml import BoundedSafeLoader  # the reader's parser, bounded

MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
STR_TAG = "tag:yaml.org,2002:str"
_FLOW_OPENERS = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)
_FLOW_CLOSERS = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)

Pair = tuple[Node, Node]


@dataclass(frozen=True, slots=True)
class Field:
    """One place of the loaded data: its path, its node, and how it hangs in its parent.

    ``pair`` is the ``(key, value)`` node pair when the parent is a mapping; ``own`` says the
    pair is written in that mapping rather than merged into it with ``<<``; ``key_count``
    is how many pairs of the (merged) mapping have that key (more than one: duplicates).
    """

    path: str
    node: Node
    parent: Node | None
    pair: Pair | None
    own: bool
    key_count: int


@dataclass(frozen=True, slots=True)
class ScalarSpan:
    """The characters of one scalar (quotes included, anchor and tag excluded), and whether
    it sits inside a flow collection."""

    start: int
    end: int
    flow: bool


class FrontMatterIndex:
    """Every field path of one front-matter text, and the text spans of its scalars.

    ``EditRefused(FRONT_MATTER_INVALID)`` when the text does not load as a mapping, the
    reader's own verdict on the document.
    """

    def __init__(self, front: str) -> None:
        self.front = front
        self._loader = BoundedSafeLoader(front)
        try:
            root = self._loader.get_single_node()
            self._own_pairs = _own_pairs(root)
            self._loader.construct_document(root)  # applies merge keys to the nodes
            self._scalars = _scalar_spans(front)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            raise EditRefused(FRONT_MATTER_INVALID,
                              f"the front matter does not load: {one_line(exc)}") from exc
        finally:
            self._loader.dispose()
        if root is not None and not isinstance(root, MappingNode):
            raise EditRefused(FRONT_MATTER_INVALID, "the front matter is not a mapping of fields")
        self._fields: dict[str, Field] = {}
        self._ambiguous: set[str] = set()
        self._paths: dict[int, list[str]] = {}
        self._keys: dict[int, Any] = {}
        if root is not None:
            self._walk(root, "", None, None, True, 1, set())

    def field(self, path: str) -> Field | None:
        """The field at ``path``, or None when there is none. ``is_ambiguous`` first."""
        return self._fields.get(path)

    def is_ambiguous(self, path: str) -> bool:
        """Whether two different nodes have this path (``{"a.b": 1, a: {b: 2}}``)."""
        return path in self._ambiguous

    def paths_of(self, node: Node) -> list[str]:
        """Every path that reaches ``node``: more than one when it is reached through an
        alias (or a merge key) as well as where it is written."""
        return self._paths.get(id(node), [])

    def own_pairs(self, mapping: MappingNode) -> list[Pair]:
        """The pairs written in ``mapping``, in text order (merge-key pairs included)."""
        return self._own_pairs.get(id(mapping), [])

    def scalar_span(self, node: ScalarNode) -> ScalarSpan:
        """Where a scalar's own characters are: its node marks start at its anchor or tag,
        so the span is the scanner's scalar token ending where the node ends."""
        return self._scalars[node.end_mark.index]

    def _walk(self, node: Node, path: str, parent: Node | None, pair: Pair | None, own: bool,
              key_count: int, open_nodes: set[int]) -> None:
        if path:
            self._record(Field(path, node, parent, pair, own, key_count))
        if id(node) in open_nodes:
            return  # an alias of a node that contains it; the reader walks it once too
        if isinstance(node, MappingNode) and node.tag == MAP_TAG:
            open_nodes.add(id(node))
            self._walk_mapping(node, path, open_nodes)
            open_nodes.discard(id(node))
        elif isinstance(node, SequenceNode) and node.tag == SEQ_TAG:
            open_nodes.add(id(node))
            for index, item in enumerate(node.value):
                self._walk(item, f"{path}[{index}]", node, None, True, 1, open_nodes)
            open_nodes.discard(id(node))

    def _walk_mapping(self, node: MappingNode, path: str, open_nodes: set[int]) -> None:
        """The pairs as the loaded dict has them: first key's place, last value wins."""
        by_key: dict[Any, Pair] = {}
        counts: Counter[Any] = Counter()
        for pair in node.value:
            key = self._key(pair[0])
            by_key[key] = pair
            counts[key] += 1
        own = {id(p) for p in self._own_pairs.get(id(node), [])}
        for key, pair in by_key.items():
            name = key if type(key) is str else str(key)
            child = f"{path}.{name}" if path else name
            self._walk(pair[1], child, node, pair, id(pair) in own, counts[key], open_nodes)

    def _key(self, key_node: Node) -> Any:
        if id(key_node) not in self._keys:
            self._keys[id(key_node)] = self._loader.construct_object(key_node, deep=True)
        return self._keys[id(key_node)]

    def _record(self, field: Field) -> None:
        self._paths.setdefault(id(field.node), []).append(field.path)
        known = self._fields.get(field.path)
        if known is not None and known.node is not field.node:
            self._ambiguous.add(field.path)
        self._fields.setdefault(field.path, field)


def _own_pairs(root: Node | None) -> dict[int, list[Pair]]:
    """Each mapping's pairs as written, before merge keys rewrite them (by node id)."""
    pairs: dict[int, list[Pair]] = {}
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            pairs[id(node)] = list(node.value)
            stack.extend(n for pair in node.value for n in pair)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return pairs


def _scalar_spans(front: str) -> dict[int, ScalarSpan]:
    """Every scalar token of the text by its end index (no two scalars end at one place)."""
    spans: dict[int, ScalarSpan] = {}
    depth = 0
    for token in yaml.scan(front, Loader=BoundedSafeLoader):
        if isinstance(token, _FLOW_OPENERS):
            depth += 1
        elif isinstance(token, _FLOW_CLOSERS):
            depth -= 1
        elif isinstance(token, yaml.ScalarToken):
            end = token.end_mark.index
            spans[end] = ScalarSpan(token.start_mark.index, end, depth > 0)
    return spans
