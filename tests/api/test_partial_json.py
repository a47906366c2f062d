"""The partial JSON parser agrees with jiter's partial mode (what the SDK uses) on every prefix."""

from __future__ import annotations

import json

import jiter
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from megachat.api.partial_json import parse_partial_json

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def _jiter(text: str) -> object:
    try:
        return jiter.from_json(text.encode(), partial_mode=True)
    except ValueError:
        return ValueError


def _ours(text: str) -> object:
    try:
        return parse_partial_json(text)
    except ValueError:
        return ValueError


@settings(max_examples=60, deadline=None)
@given(json_values, st.booleans())
def test_every_prefix_matches_jiter(value: object, indent: bool) -> None:
    text = json.dumps(value, indent=2 if indent else None, ensure_ascii=False)
    for end in range(len(text) + 1):
        prefix = text[:end]
        assert _ours(prefix) == _jiter(prefix), prefix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"location": "P', {}),
        ('{"a": [1, 2', {"a": [1, 2]}),
        ('{"a": [1, {"b": "x', {"a": [1, {}]}),
        ('{"a": 1.', {}),
        ('{"a": tr', {}),
        ('{"a": true', {"a": True}),
        ('["a", "b', ["a"]),
        ('{"a": "\\u00', {}),
        ("{", {}),
    ],
)
def test_documented_examples(text: str, expected: object) -> None:
    assert parse_partial_json(text) == expected


@pytest.mark.parametrize("text", ["", "  ", '"abc', "tr", '{"a" 1}', "[1,]", "{1: 2}"])
def test_invalid_or_empty_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_partial_json(text)
