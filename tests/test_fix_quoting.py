"""crawler.fix.quoting (issue 18): any string, written in any old scalar's style, reads back.

The written scalar is parsed with the reader's own parser in each context a field can be in
(block mapping value with a comment after it, block sequence item, item of a block mapping
inside a sequence; flow sequence, flow mapping, flow mapping inside a flow sequence).
"""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.fix.quoting import fits_plain, render_scalar
from crawler.site.bounded_yaml import BoundedSafeLoader
from tests.fix_front_matter_gen import NEEDS_QUOTES, urls

YAML_MINDED_TEXT = st.text(st.one_of(st.sampled_from(":#-?,[]{}&*!|>'\"%@` \t\r\n\\.~<="),
                                     st.characters(exclude_categories=("Cs",))))


def read_back(text: str, flow: bool) -> list[object]:
    if flow:
        probes = {f"k: [{text}, x]\n": lambda d: d["k"][0], f"k: {{a: {text}, b: x}}\n": lambda d: d["k"]["a"],
                  f"k: [{{a: {text}}}]\n": lambda d: d["k"][0]["a"]}
    else:
        probes = {f"k: {text}  # c\n": lambda d: d["k"], f"- {text}\n": lambda d: d[0],
                  f"a:\n  - k: {text}\n    j: 1\n": lambda d: d["a"][0]["k"]}
    return [get(yaml.load(probe, Loader=BoundedSafeLoader)) for probe, get in probes.items()]


@settings(max_examples=500, deadline=None)
@given(value=st.one_of(YAML_MINDED_TEXT, urls(), st.sampled_from(NEEDS_QUOTES)),
       style=st.sampled_from([None, "", "'", '"']), flow=st.booleans())
def test_any_string_in_any_style_reads_back(value, style, flow):
    text = render_scalar(value, style, flow=flow)
    assert "\n" not in text and "\r" not in text
    for got in read_back(text, flow):
        assert type(got) is str and got == value, (text, got)


@pytest.mark.parametrize("value", NEEDS_QUOTES)
def test_values_yaml_would_misread_are_not_plain(value):
    assert not fits_plain(value, flow=False)


@pytest.mark.parametrize("value", ["https://a.example/x?q=1", "https://a.example/a,b", "https://a.example/[x]"])
def test_flow_indicators_are_quoted_only_in_flow(value):
    assert fits_plain(value, flow=False) and not fits_plain(value, flow=True)


def test_block_styles_are_not_written():
    with pytest.raises(ValueError):
        render_scalar("x", "|", flow=False)
