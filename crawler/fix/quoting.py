"""Writing a new scalar in the style of the one it replaces.

The style of the old scalar is kept: plain stays plain, 'single' stays single-quoted,
"double" stays double-quoted. A value is re-quoted only where its style cannot hold it:
plain gives way to double quotes, single quotes give way to double quotes (they cannot
escape a line break or a control character). Double quotes hold any string.

The checks for plain are deliberately stricter than YAML: a value that is not plainly safe
is double-quoted, which is always right. The caller still proves each edit by reading the
edited document back (``crawler.fix.readback``), so a mistake here is a refusal, never a
wrong file.
"""

from __future__ import annotations

import re

import yaml

PLAIN_STYLES = (None, "")  # PyYAML writes None for plain, libyaml ""
SINGLE = "'"
DOUBLE = '"'

STR_TAG = "tag:yaml.org,2002:str"
# YAML 1.1 printable characters (what PyYAML's and libyaml's readers accept unescaped).
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Characters a one-line scalar must not hold unescaped: line breaks (YAML 1.1 counts NEL, LS
# and PS as line breaks), and the BOM, which a reader may drop.
_BREAKS_AND_BOM = re.compile("[\r\n\x85\u2028\u2029\ufeff]")
# A plain scalar may not start with an indicator (some are allowed when followed by a
# non-space; never mind, those are quoted).
_PLAIN_FIRST = frozenset("-?:,[]{}#&*!|>'\"%@` \t")
_FLOW_INDICATORS = re.compile(r"[,\[\]{}?]")  # '?' too: pure-Python PyYAML stops there in flow
_RESOLVER = yaml.resolver.Resolver()

_ESCAPES = {
    "\\": "\\\\", '"': '\\"', "\x00": "\\0", "\x07": "\\a", "\x08": "\\b", "\t": "\\t",
    "\n": "\\n", "\x0b": "\\v", "\x0c": "\\f", "\r": "\\r", "\x1b": "\\e", "\x85": "\\N",
    "\u2028": "\\L", "\u2029": "\\P", "\ufeff": "\\uFEFF",
}
_TO_ESCAPE = re.compile('[\\\\"\t\r\n\x85\u2028\u2029\ufeff]|' + _NON_PRINTABLE.pattern)


def render_scalar(value: str, style: str | None, *, flow: bool) -> str:
    """``value`` as YAML scalar text in ``style`` (None or "" plain, "'" or '"'), on one line.

    ``flow`` says whether the scalar sits inside a flow collection (``[...]``, ``{...}``),
    where more characters end a plain scalar. Block styles (``|``, ``>``) are not written
    here: ``ValueError``.
    """
    if style in PLAIN_STYLES:
        return value if fits_plain(value, flow=flow) else double_quoted(value)
    if style == SINGLE:
        return single_quoted(value) if fits_single(value) else double_quoted(value)
    if style == DOUBLE:
        return double_quoted(value)
    raise ValueError(f"no one-line rendering for YAML scalar style {style!r}")


def fits_plain(value: str, *, flow: bool) -> bool:
    """Whether ``value`` written plain, on one line, reads back as this very string.

    Refused: empty values, an indicator first, spaces or ``:`` last, ``": "`` and ``" #"``
    inside, tabs, line breaks and non-printable characters, document markers, flow
    indicators inside flow collections, and anything YAML would resolve to another type
    (``true``, ``null``, ``1.5``, ``2020-01-01``, ``~``, ``<<``...).
    """
    if not value or value[0] in _PLAIN_FIRST or value[-1] in " \t:":
        return False
    if ": " in value or " #" in value or "\t" in value or value.startswith("..."):
        return False
    if _NON_PRINTABLE.search(value) or _BREAKS_AND_BOM.search(value):
        return False
    if flow and _FLOW_INDICATORS.search(value):
        return False
    return _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == STR_TAG


def fits_single(value: str) -> bool:
    """Whether ``value`` can be written single-quoted on one line (no escapes exist there)."""
    return not (_NON_PRINTABLE.search(value) or _BREAKS_AND_BOM.search(value))


def single_quoted(value: str) -> str:
    """``value`` single-quoted: the only escape is ``''`` for ``'``."""
    return "'" + value.replace("'", "''") + "'"


def double_quoted(value: str) -> str:
    """``value`` double-quoted on one line: ``\\`` and ``"`` escaped, and every line break,
    tab and non-printable character written as an escape."""
    return '"' + _TO_ESCAPE.sub(_escape, value) + '"'


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"
