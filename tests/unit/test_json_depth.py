"""The nesting-depth scan of api.guard: brackets in strings do not count, no recursion."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api.guard import json_depth


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=25,
)


@given(_JSON)
def test_depth_matches_the_parsed_value(value: Any) -> None:
    assert json_depth(json.dumps(value).encode()) == _depth(value)


def test_deep_and_tricky_bodies() -> None:
    assert json_depth(b"[" * 1_000_000) == 1_000_000  # flat scan: no RecursionError
    assert json_depth(b"[" * 1_000_000, stop_above=32) == 33
    assert json_depth(b'{"a": "[[[[\\"[[[", "b": [1]}') == 2
    assert json_depth(b'"unterminated [[[') == 3  # invalid JSON: counted, never fewer
    assert json_depth(b"") == 0
