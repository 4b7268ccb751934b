"""The engine's fast paths give exactly what the general code gives."""

from __future__ import annotations

import json
from typing import Any

import jmespath
from hypothesis import given
from hypothesis import strategies as st

from pollwise.engine.answers import canonical
from pollwise.engine.profile import Profile

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(json_values)
def test_canonical_is_the_sorted_compact_json_text(value: Any) -> None:
    """The fast paths for strings and whole numbers change no text."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"))
    assert canonical(value) == expected


@given(st.text())
def test_canonical_of_any_string_is_its_json_text(value: str) -> None:
    assert canonical(value) == json.dumps(value)


@given(st.sampled_from(["status", "messages", "state", "id"]), json_values)
def test_a_bare_name_path_finds_what_jmespath_finds(name: str, document: Any) -> None:
    profile = Profile(status_path=name)
    assert profile.search("status_path", document) == jmespath.search(name, document)


@given(json_values)
def test_a_nested_path_still_goes_through_jmespath(document: Any) -> None:
    profile = Profile(status_path="data.status")
    assert profile.search("status_path", document) == jmespath.search(
        "data.status", document
    )
