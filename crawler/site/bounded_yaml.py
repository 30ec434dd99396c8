"""Loading front matter with a bound on what its aliases expand to.

PyYAML shares an aliased node: ``a1: &a1 [*a0, *a0, ...]`` builds one list, not
copies. The cost comes later, from whatever walks the result as a tree: seven
levels of nine aliases in 452 bytes are 4.8 million leaves to the code that
finds references, and ``str()`` of such a title is megabytes long. Merge keys
(``<<: *a``) are worse: PyYAML copies the merged pairs while it builds, so the
blow-up happens inside the loader itself.

``load`` therefore measures the composed node graph before anything is built:
the number of nodes with every alias expanded, and the depth. A document over
either limit is refused with a ``YamlTooLarge`` error that says which, and
nothing of it is constructed. The measure is linear in the size of the graph
(each node is measured once and its size remembered), so it costs little on the
documents that pass; an alias that contains itself counts once, as the walk in
``crawler.site.references`` visits it once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from yaml.nodes import CollectionNode, MappingNode, Node

# libyaml's parser when PyYAML was built with it: ten times faster than the pure-Python one
# (0.7 against 6.7 ms of CPU per synthetic article).
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 64
"""Deepest nesting of front matter accepted: real pages nest a few levels; Python's own
recursion (PyYAML's constructor, the reference walk) fails near a thousand."""


class YamlTooLarge(yaml.YAMLError):
    """Front matter whose aliases expand beyond the limit, or nested too deeply."""


class BoundedSafeLoader(_BASE_LOADER):
    """The safe loader, refusing a document over ``max_nodes`` (aliases expanded) or
    ``max_depth`` before constructing it."""

    max_nodes = 100_000
    max_depth = MAX_DEPTH

    def construct_document(self, node: Node) -> Any:
        measure(node, self.max_nodes, self.max_depth)
        return super().construct_document(node)


def load(text: str, max_nodes: int, max_depth: int = MAX_DEPTH) -> Any:
    """The one YAML document in ``text``, as ``yaml.safe_load`` builds it, within the limits."""
    loader = BoundedSafeLoader(text)
    loader.max_nodes, loader.max_depth = max_nodes, max_depth
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def measure(root: Node, max_nodes: int, max_depth: int) -> int:
    """Nodes under ``root`` with every alias expanded; raises ``YamlTooLarge`` over a limit.

    Iterative (a deep document must not exhaust Python's stack here): a post-order walk
    over the collections that remembers each one's expanded size, so a shared node is
    measured once. Scalars are counted in bulk: most nodes are scalars."""
    if not isinstance(root, CollectionNode):
        return 1
    sizes: dict[int, int] = {}
    open_nodes = {id(root)}
    stack: list[tuple[Node, Iterator[Node], list[int]]] = [(root, *_split(root))]
    while stack:
        node, collections, total = stack[-1]
        for child in collections:
            if id(child) in open_nodes:
                total[0] += 1  # an alias of an enclosing node: walked once, not forever
            elif (known := sizes.get(id(child))) is not None:
                total[0] += known
            else:
                if len(stack) >= max_depth:
                    raise YamlTooLarge(f"nested deeper than {max_depth} levels")
                open_nodes.add(id(child))
                stack.append((child, *_split(child)))
                break
            if total[0] > max_nodes:
                raise _too_large(max_nodes)
        else:
            stack.pop()
            open_nodes.discard(id(node))
            sizes[id(node)] = total[0]
            if stack:
                stack[-1][2][0] += total[0]
            if total[0] > max_nodes or (stack and stack[-1][2][0] > max_nodes):
                raise _too_large(max_nodes)
    return sizes[id(root)]


def _split(node: Node) -> tuple[Iterator[Node], list[int]]:
    """A collection's child collections, and its own count: itself and its scalars."""
    if isinstance(node, MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = node.value
    collections = [child for child in children if isinstance(child, CollectionNode)]
    return iter(collections), [1 + len(children) - len(collections)]


def _too_large(max_nodes: int) -> YamlTooLarge:
    return YamlTooLarge(f"more than {max_nodes:,} nodes with its aliases expanded "
                        "(an alias bomb? LINKHEALTH_MAX_YAML_NODES)")
