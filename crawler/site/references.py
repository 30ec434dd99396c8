"""Finding the link references in a document: front-matter fields and body links.

A reference is one place a URL is written: the field path (``related[2].images[0].url``)
and the string found there. Which strings count:

* any string, in any field, that starts with a URL scheme (``https://``, ``mailto:``...)
  or ``//``;
* anything at all in a URL field (a key ending in ``url``, or ``website``, ``href``, ``src``,
  ``link``), so that site-relative paths, typos and non-string values are reported
  rather than silently skipped.

``secured`` and other non-URL strings are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

URL_KEYS = frozenset({"website", "href", "src", "link", "homepage"})
IGNORED_KEYS = frozenset({"secured"})
PAGE_KEYS = frozenset({"originalurl", "weburl"})
AMP_KEYS = frozenset({"ampweburl", "cdnampweburl"})
KINDS = ("page", "amp", "image", "other")
MAX_KEY_CHARS = 100  # a key longer than this is cut in field paths (a path is stored per ref)

_KNOWN_SCHEMES = re.compile(r"^(?:https?|ftps?|mailto|javascript|data|file|tel|sftp|ssh):", re.I)
_PROTOCOL_RELATIVE = re.compile(r"^//[^\s/]")
# Both patterns run over a body of up to 16 MiB that anyone may have written: each part
# stops at the next '[' (Markdown) or '<' (HTML) and never gives back what it matched
# (possessive quantifiers), so no start scans past the next link's start. ``[a](`` repeated
# took 7 s for 32 KB before, growing with the square of the size. A link text or URL with a
# raw '[' or ']' (an IPv6 host) is not found.
_MARKDOWN_LINK = re.compile(
    r"!?\[[^\[\]\n]*+\]\(\s*+<?([^)\s>\[\]]++)>?(?:\s++\"[^\"\n\[]*+\")?\s*+\)")
_HTML_ATTR = re.compile(r"""<(\w++)[^<>]*?\s(href|src)\s*+=\s*+(["'])(.*?)\3""", re.I | re.S)


@dataclass(frozen=True, slots=True)
class Reference:
    field: str
    value: str
    kind: str
    not_a_string: str | None = None  # type name when the field held a non-string

    def __reduce__(self) -> tuple[type, tuple]:
        """Pickled as a plain tuple (see ``Document.__reduce__``)."""
        return (Reference, (self.field, self.value, self.kind, self.not_a_string))


class TooManyNodes(ValueError):
    """The walk met more values than its budget (aliases expanded); the message says so."""


def front_matter_references(metadata: Mapping[str, Any], max_nodes: int = 1_000_000
                            ) -> Iterator[Reference]:
    """Every URL reference in a parsed front-matter mapping, in document order.

    A YAML alias that contains itself (``a: &x [*x]``) is walked once, not forever. Shared
    (aliased) values are walked each time they are used, so the walk stops with
    ``TooManyNodes`` after ``max_nodes`` values: ``crawler.site.bounded_yaml`` refuses such a
    document before it is built, and this is the walk's own guard.
    """
    found: list[Reference] = []
    _collect(metadata, "", "", set(), found, [max_nodes])
    return iter(found)


def body_references(body: str, first_line: int) -> Iterator[Reference]:
    """Markdown links and HTML ``href``/``src`` in a body; field is ``body:line N``."""
    for reference, _ in body_link_spans(body, first_line):
        yield reference


def body_link_spans(body: str, first_line: int) -> Iterator[tuple[Reference, int]]:
    """``body_references``, each with the offset in ``body`` where its URL is written (the
    URL is ``len(reference.value)`` characters from there): where ``scrapy fix`` edits it."""
    line = _LineCounter(body, first_line)
    for match in _MARKDOWN_LINK.finditer(body):
        url = match.group(1)
        if _looks_like_link(url):
            kind = "image" if match.group(0).startswith("!") else "page"
            yield Reference(line.field(match.start(1)), url, kind), match.start(1)
    line = _LineCounter(body, first_line)
    for match in _HTML_ATTR.finditer(body):
        written = match.group(4)
        url = written.strip()
        if _looks_like_link(url):
            kind = "image" if match.group(1).lower() == "img" else "page"
            start = match.start(4) + len(written) - len(written.lstrip())
            yield Reference(line.field(match.start(4)), url, kind), start


def kind_of(field_path: str) -> str:
    """``page`` / ``amp`` / ``image`` / ``other`` from a field path."""
    last = field_path.rsplit(".", 1)[-1].lower()
    if last in AMP_KEYS:
        return "amp"
    if last in PAGE_KEYS:
        return "page"
    if re.search(r"(?:^|\.)images\[\d+\]\.url$", field_path, re.I):
        return "image"
    if last in {"url", "website", "homepage", "link"}:
        return "page"
    return "other"


def _collect(node: Any, path: str, parent_key: str, open_containers: set[int],
             found: list[Reference], budget: list[int]) -> None:
    """Append the references under ``node`` (at ``path``) to ``found``.

    The hot loop of reading a site: string values, the common case, are judged in place,
    and a field path is only built for a URL or a container."""
    if isinstance(node, str):
        if (_is_url_key(parent_key) or _has_scheme(node)) and node.strip():
            found.append(Reference(path, node, kind_of(path)))
        return
    is_mapping = isinstance(node, (dict, Mapping))
    if not (is_mapping or isinstance(node, list)):
        if node is not None and _is_url_key(parent_key):
            found.append(Reference(path, str(node), kind_of(path), not_a_string=type(node).__name__))
        return
    if id(node) in open_containers:
        return
    budget[0] -= len(node) + 1
    if budget[0] < 0:
        raise TooManyNodes("more values to walk than LINKHEALTH_MAX_YAML_NODES "
                           "(aliases expanded)")
    open_containers.add(id(node))
    if is_mapping:
        for raw_key, value in node.items():
            key = raw_key if type(raw_key) is str else str(raw_key)
            if len(key) > MAX_KEY_CHARS:
                key = key[:MAX_KEY_CHARS] + "…"
            lowered = key.lower()
            if lowered in IGNORED_KEYS:
                continue
            if type(value) is str and not (_is_lowered_url_key(lowered) or _has_scheme(value)):
                continue  # most values: not a URL, no path built
            _collect(value, f"{path}.{key}" if path else key, key, open_containers, found,
                     budget)
    else:
        for index, value in enumerate(node):
            if type(value) is str and not (_is_url_key(parent_key) or _has_scheme(value)):
                continue
            _collect(value, f"{path}[{index}]", parent_key, open_containers, found, budget)
    open_containers.discard(id(node))


def _is_url_key(key: str) -> bool:
    return _is_lowered_url_key(key.lower())


def _is_lowered_url_key(lowered: str) -> bool:
    return lowered.endswith("url") or lowered in URL_KEYS


def _has_scheme(text: str) -> bool:
    stripped = text.lstrip()
    if ":" not in stripped[:12] and not stripped.startswith("//"):
        return False  # no scheme can start this string (the longest known one is 10 characters)
    return bool(_KNOWN_SCHEMES.match(stripped) or _PROTOCOL_RELATIVE.match(stripped))


def _looks_like_link(url: str) -> bool:
    """Body links worth checking: absolute or site-relative (not page-relative, not templates)."""
    if "{{" in url or "{%" in url:
        return False
    return _has_scheme(url) or url.startswith("/")


class _LineCounter:
    """``body:line N`` of offsets met in increasing order, counting each newline once (a count
    from the start of the body for every link was quadratic in a body full of links)."""

    def __init__(self, body: str, first_line: int):
        self.body, self.offset, self.line = body, 0, first_line

    def field(self, offset: int) -> str:
        self.line += self.body.count("\n", self.offset, offset)
        self.offset = offset
        return f"body:line {self.line}"
