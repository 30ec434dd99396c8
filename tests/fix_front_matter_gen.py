"""Random front matter for the property tests of crawler.fix, with the place of every scalar.

A hypothesis strategy draws a tree of mappings, sequences and scalars, each container block
or flow, each scalar plain, single-quoted, double-quoted, quoted over two lines, folded over
two lines or a block scalar, with comments on lines and between entries, LF or CRLF, with or
without a BOM. The renderer writes it as YAML and records, for every field path (as
crawler.site.references writes them), where its scalar's text is and where its entry's lines are.
Scalar text is checked against the reader's parser as it is chosen, so the drawn data is
what the file holds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import yaml
from hypothesis import strategies as st

from crawler.site.bounded_yaml import BoundedSafeLoader

URL_KEYS = ["url", "webUrl", "ampWebUrl", "originalUrl", "cdnAmpWebUrl", "link", "href"]
OTHER_KEYS = ["title", "name", "caption", "width", "images", "related", "provider", "tags"]
_NOT_STR_WORDS = re.compile(r"(?i)(yes|no|true|false|on|off|null|y|n|nan|inf)$")
# Characters of URLs as sites write them, and some that force quoting in YAML.
URL_CHARS = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789-._~/?#&=%:,;+!*'()[]@$ é\"\\{}"
# Values YAML would misread written plain: they must come back quoted.
NEEDS_QUOTES = ["true", "null", "~", "1.5", "0x1F", "2020-01-02", "<<", "=", "- x", "a: b", "x #y",
                "*a", "&b", "!c", "%d", "@e", "`f", "[g", "{h", "? i", "trailing ", " leading",
                "ends:", "", "tab\there", "line\nbreak", "...", "#x", "|x", ">x", "'x", '"x']
PLAIN_WORDS = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)


@dataclass
class Scalar:
    value: str | int | bool | None
    style: str  # plain, single, double, double2 (over two lines), folded (plain/single over two), block


@dataclass
class Map:
    pairs: list[tuple[str, object]]
    flow: bool


@dataclass
class Seq:
    items: list[object]
    flow: bool


@dataclass
class Layout:
    """Choices that change the text, not the data."""

    eol: str
    bom: bool
    comments: list[bool]   # consumed in order: a comment here or not
    indent_seqs: bool      # "key:\n  - a" or "key:\n- a"


@dataclass
class Rendered:
    """The front matter text and, by field path, its scalar spans and entry spans."""

    front: str
    scalars: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # path: start, end, style
    entries: dict[str, tuple[int, bool]] = field(default_factory=dict)      # path: key start, in flow


def urls() -> st.SearchStrategy[str]:
    """URLs as written in front matter: ``//`` paths, escapes, queries, fragments, and
    characters YAML cares about (``: ``, `` #``, ``,``, quotes, brackets)."""
    tail = st.text(URL_CHARS, max_size=24).map(lambda s: s.strip())
    host = st.sampled_from(["a.example", "b.example:8080", "ünï.example", "c.example"])
    return st.builds(lambda scheme, h, t: f"{scheme}{h}/{t}", st.sampled_from(["https://", "http://", "//"]),
                     host, tail)


def keys() -> st.SearchStrategy[str]:
    own = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).filter(
        lambda k: not _NOT_STR_WORDS.match(k))
    return st.one_of(st.sampled_from(URL_KEYS), st.sampled_from(OTHER_KEYS), own)


@st.composite
def scalars(draw, key: str, flow: bool) -> Scalar:
    is_url_key = key.lower().endswith("url") or key in ("link", "href")
    kind = draw(st.sampled_from(["url", "url", "text", "int", "bool"] if not is_url_key else ["url", "url", "text"]))
    if kind == "int":
        return Scalar(draw(st.integers(-5, 99)), "plain")
    if kind == "bool":
        return Scalar(draw(st.booleans()), "plain")
    value = draw(urls()) if kind == "url" else " ".join(draw(st.lists(PLAIN_WORDS, min_size=2, max_size=4)))
    styles = ["plain", "single", "double"] + ([] if flow else ["double2", "folded", "block"])
    if kind == "text" and not flow:
        styles += ["folded", "folded"]  # multi-line plain scalars need a space to fold
    return Scalar(value, draw(st.sampled_from(styles)))


@st.composite
def nodes(draw, key: str, depth: int, flow: bool):
    kind = draw(st.sampled_from(["scalar", "scalar", "map", "seq"] if depth < 3 else ["scalar"]))
    if kind == "scalar":
        return draw(scalars(key, flow))
    flow = flow or draw(st.integers(0, 3)) == 0
    if kind == "map":
        names = draw(st.lists(keys(), min_size=0 if flow else 1, max_size=4, unique=True))
        return Map([(name, draw(nodes(name, depth + 1, flow))) for name in names], flow)
    items = draw(st.lists(nodes(key, depth + 1, flow), min_size=0 if flow else 1, max_size=4))
    return Seq(items, flow)


@st.composite
def documents(draw) -> tuple[Map, Layout]:
    names = draw(st.lists(keys(), min_size=1, max_size=6, unique=True))
    root = Map([(name, draw(nodes(name, 1, False))) for name in names], False)
    layout = Layout(draw(st.sampled_from(["\n", "\r\n"])), draw(st.booleans()),
                    draw(st.lists(st.booleans(), min_size=64, max_size=64)), draw(st.booleans()))
    return root, layout


def data_of(node) -> object:
    if isinstance(node, Map):
        return {k: data_of(v) for k, v in node.pairs}
    if isinstance(node, Seq):
        return [data_of(v) for v in node.items]
    return node.value


class Renderer:
    """Writes a tree as YAML, recording spans (indexes into the front-matter string)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.eol = layout.eol
        self.parts: list[str] = []
        self.pos = 0
        self.out = Rendered("")
        self._comment = 0

    def render(self, root: Map) -> Rendered:
        self.block_map(root, "", 0, None)
        self.out.front = "".join(self.parts)
        return self.out

    def put(self, text: str) -> None:
        self.parts.append(text)
        self.pos += len(text)

    def wants_comment(self) -> bool:
        self._comment += 1
        return self.layout.comments[self._comment % len(self.layout.comments)]

    def end_line(self) -> None:
        if self.wants_comment():
            self.put("  # note: a, b: c")
        self.put(self.eol)

    # -- block --------------------------------------------------------------------------

    def block_map(self, node: Map, path: str, indent: int, first_prefix: str | None) -> None:
        for i, (key, value) in enumerate(node.pairs):
            if i == 0 and first_prefix is not None:
                self.put(first_prefix)
            else:
                if first_prefix is None and self.wants_comment():  # items: see removal
                    self.put(" " * indent + "# between entries" + self.eol + self.eol)
                self.put(" " * indent)
            child = f"{path}.{key}" if path else key
            self.out.entries[child] = (self.pos, False)
            self.put(f"{key}:")
            self.block_value(value, child, indent)

    def block_value(self, value, path: str, indent: int) -> None:
        if isinstance(value, Scalar):
            self.put(" ")
            self.scalar(value, path, indent + 2, False)
        elif value.flow or not (value.pairs if isinstance(value, Map) else value.items):
            self.put(" ")
            self.flow(value, path)
            self.end_line()
        elif isinstance(value, Map):
            self.end_line()
            self.block_map(value, path, indent + 2, None)
        else:
            self.end_line()
            self.block_seq(value, path, indent + 2 if self.layout.indent_seqs else indent)

    def block_seq(self, node: Seq, path: str, indent: int) -> None:
        for i, item in enumerate(node.items):
            child = f"{path}[{i}]"
            prefix = " " * indent + "- "
            if isinstance(item, Map) and not item.flow and item.pairs:
                self.block_map(item, child, indent + 2, prefix)
            elif isinstance(item, Seq) and not item.flow and item.items:
                self.put(" " * indent + "-")
                self.end_line()
                self.block_seq(item, child, indent + 2)
            elif isinstance(item, Scalar):
                self.put(prefix)
                self.scalar(item, child, indent + 2, False)
            else:
                self.put(prefix)
                self.flow(item, child)
                self.end_line()

    def scalar(self, node: Scalar, path: str, indent: int, flow: bool) -> None:
        """The scalar's text, then (block context) its line's end."""
        start = self.pos
        text, style = scalar_text(node, flow, self.eol, " " * indent)
        self.put(text)
        self.out.scalars[path] = (start, self.pos, style)
        if not flow:
            if style == "block":
                return  # a block scalar ends with its line break
            self.end_line()

    # -- flow ---------------------------------------------------------------------------

    def flow(self, node, path: str) -> None:
        if isinstance(node, Scalar):
            self.scalar(node, path, 0, True)
        elif isinstance(node, Map):
            self.put("{")
            for i, (key, value) in enumerate(node.pairs):
                if i:
                    self.put(", ")
                child = f"{path}.{key}" if path else key
                self.out.entries[child] = (self.pos, True)
                self.put(f"{key}: ")
                self.flow(value, child)
            self.put("}")
        else:
            self.put("[")
            for i, item in enumerate(node.items):
                if i:
                    self.put(", ")
                self.flow(item, f"{path}[{i}]")
            self.put("]")


def scalar_text(node: Scalar, flow: bool, eol: str, indent: str) -> tuple[str, str]:
    """The scalar as YAML text in its style (or double quotes where that style cannot
    hold it), and the style it got."""
    value = node.value
    if not isinstance(value, str):
        return (json.dumps(value) if value is not None else "null"), "plain"
    if node.style == "block" and value and value == value.strip() and _printable(value):
        return f"|-{eol}{indent}{value}{eol}", "block"
    folded = value.replace(" ", eol + indent, 1)
    if node.style == "folded" and " " in value.strip() and _printable(value) and _reads(folded, value, flow):
        return folded, "folded"
    if node.style == "double2" and len(value) > 2 and value[len(value) // 2] not in " \t":
        half = len(value) // 2
        return f'"{_json(value[:half])}\\{eol}{indent}{_json(value[half:])}"', "double2"
    if node.style in ("plain", "folded") and _reads(value, value, flow):
        return value, "plain"
    if node.style == "single" and _printable(value):
        return "'" + value.replace("'", "''") + "'", "single"
    return f'"{_json(value)}"', "double"


def _json(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _printable(value: str) -> bool:
    return all(" " <= c <= "~" or "\xa0" <= c <= "\ud7ff" for c in value)


def _reads(text: str, value: str, flow: bool) -> bool:
    """Whether ``text`` reads as ``value`` (a str) where it will be written, with the reader's parser."""
    probes = [f"k: [{text}, x]", f"k: {{a: {text}}}"] if flow else [f"k: {text}  # c", f"- {text}"]
    try:
        loaded = [yaml.load(p, Loader=BoundedSafeLoader) for p in probes]
    except yaml.YAMLError:
        return False
    got = [loaded[0]["k"][0], loaded[1]["k"]["a"]] if flow else [loaded[0]["k"], loaded[1][0]]
    return all(type(g) is str and g == value for g in got)
