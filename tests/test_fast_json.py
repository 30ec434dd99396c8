"""crawler.core.fast_json writes exactly what json.dumps(indent=N, ensure_ascii=False) writes."""

from __future__ import annotations

import json
from enum import IntEnum

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.core.fast_json import dumps_indented


def reference(value, indent=2):
    return json.dumps(value, indent=indent, ensure_ascii=False)


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text())
keys = st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.tuples(children, children),
                               st.dictionaries(keys, children, max_size=5)),
    max_leaves=30)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values, st.sampled_from([0, 1, 2, 4]))
def test_same_text_as_json_dumps(value, indent):
    assert dumps_indented(value, indent) == reference(value, indent)


@pytest.mark.parametrize("value", [
    {}, [], (), {"a": [], "b": {}}, "", "line\nbreak \u2028 \"quoted\" \\ é 例 \x00 \U0001f600",
    [float("nan"), float("inf"), float("-inf"), -0.0, 1e100, 5e-324],
    {True: 1, False: 2, None: 3, 1.5: 4, 7: 5},  # keys json turns into strings
    [IntEnum("Level", "LOW HIGH").HIGH, True, False, None],  # int subclass, written as int
])
def test_edge_cases(value):
    assert dumps_indented(value) == reference(value)


@pytest.mark.parametrize("value", [object(), {"k": {1, 2}}, {(1, 2): "tuple key"}, b"bytes"])
def test_what_json_refuses_is_refused(value):
    with pytest.raises(TypeError):
        reference(value)
    with pytest.raises(TypeError):
        dumps_indented(value)
