"""Policy: the contract's defaults, and every value it refuses at build time."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pollwise.engine.errors import PolicyError, PollingError
from pollwise.engine.policy import Policy

CONTRACT_DEFAULTS: dict[str, Any] = {
    "initial_delay": 1.0,
    "multiplier": 2.0,
    "max_delay": 8.0,
    "jitter": "none",
    "seed": 0,
    "timeout": 120.0,
    "stall_after": 30.0,
    "max_polls": None,
    "reset_on_progress": True,
    "max_consecutive_errors": 5,
    "max_retry_after": 60.0,
    "request_timeout": 10.0,
}


def test_defaults_are_exactly_the_contracts() -> None:
    """A policy built with no arguments has the contract's table of defaults."""
    assert Policy().to_mapping() == CONTRACT_DEFAULTS


@pytest.mark.parametrize(("field", "value"), sorted(CONTRACT_DEFAULTS.items()))
def test_each_default_field_has_the_contracts_value(field: str, value: object) -> None:
    """Each field on its own carries the contract's default (and type)."""
    actual = getattr(Policy(), field)

    assert actual == value
    assert type(actual) is type(value)


DELAYS = ("initial_delay", "max_delay", "timeout", "max_retry_after", "request_timeout")

REFUSED: list[tuple[dict[str, Any], str, object]] = [
    # a delay is negative or not finite (stall_after is a delay too)
    *[({name: -1.0}, name, -1.0) for name in DELAYS],
    *[({name: math.inf}, name, math.inf) for name in DELAYS],
    *[({name: -math.inf}, name, -math.inf) for name in DELAYS],
    ({"stall_after": -1.0}, "stall_after", -1.0),
    ({"stall_after": math.inf}, "stall_after", math.inf),
    # multiplier < 1 (and a multiplier that is not a finite number)
    ({"multiplier": 0.999}, "multiplier", 0.999),
    ({"multiplier": 0.0}, "multiplier", 0.0),
    ({"multiplier": -2.0}, "multiplier", -2.0),
    ({"multiplier": math.inf}, "multiplier", math.inf),
    # max_delay < initial_delay
    ({"initial_delay": 5.0, "max_delay": 4.0}, "max_delay", 4.0),
    ({"max_delay": 0.5}, "max_delay", 0.5),
    # timeout <= 0
    ({"timeout": 0.0}, "timeout", 0.0),
    ({"timeout": 0}, "timeout", 0),
    # stall_after <= 0
    ({"stall_after": 0.0}, "stall_after", 0.0),
    ({"stall_after": 0}, "stall_after", 0),
    # max_polls < 1
    ({"max_polls": 0}, "max_polls", 0),
    ({"max_polls": -3}, "max_polls", -3),
    # max_consecutive_errors < 1
    ({"max_consecutive_errors": 0}, "max_consecutive_errors", 0),
    ({"max_consecutive_errors": -1}, "max_consecutive_errors", -1),
    # jitter is not one of the four names
    ({"jitter": "random"}, "jitter", "random"),
    ({"jitter": "None"}, "jitter", "None"),
    ({"jitter": ""}, "jitter", ""),
]


@pytest.mark.parametrize(("changes", "field", "value"), REFUSED)
def test_a_refused_value_raises_a_policy_error_naming_field_and_value(
    changes: dict[str, Any], field: str, value: object
) -> None:
    """Every value the contract refuses fails at build, naming field and value."""
    with pytest.raises(PolicyError) as caught:
        Policy(**changes)

    assert caught.value.field == field
    assert caught.value.value == value or (
        isinstance(value, float) and math.isnan(value)
    )
    assert field in str(caught.value)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize("name", [*DELAYS, "stall_after"])
def test_a_nan_delay_is_refused(name: str) -> None:
    """NaN is not a finite delay; the error names the field."""
    changes: dict[str, Any] = {name: math.nan}

    with pytest.raises(PolicyError) as caught:
        Policy(**changes)

    assert caught.value.field == name
    assert "nan" in str(caught.value)


def test_a_nan_multiplier_is_refused() -> None:
    """A NaN multiplier is neither >= 1 nor finite: refused, naming the field."""
    with pytest.raises(PolicyError) as caught:
        Policy(multiplier=math.nan)

    assert caught.value.field == "multiplier"


def test_policy_error_is_a_value_error_and_a_polling_error() -> None:
    """Callers may catch the builtin ValueError or the library's root error."""
    with pytest.raises(PolicyError) as caught:
        Policy(timeout=-1.0)

    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, PollingError)


ACCEPTED: list[dict[str, Any]] = [
    {"multiplier": 1.0},
    {"initial_delay": 0.0, "max_delay": 0.0},
    {"initial_delay": 3.0, "max_delay": 3.0},
    {"stall_after": None},
    {"max_polls": 1},
    {"max_consecutive_errors": 1},
    {"max_retry_after": 0.0},
    {"request_timeout": 0.0},
    {"timeout": 1e-9},
    {"jitter": "full"},
    {"jitter": "equal"},
    {"jitter": "floored"},
    {"reset_on_progress": False},
]


@pytest.mark.parametrize("changes", ACCEPTED)
def test_boundary_values_the_contract_allows_are_accepted(
    changes: dict[str, Any],
) -> None:
    """The edges the contract does not refuse build a policy with those values."""
    policy = Policy(**changes)

    for name, value in changes.items():
        assert getattr(policy, name) == value


def test_from_mapping_refuses_an_unknown_key() -> None:
    """An unknown key is a typo, refused with the key's name."""
    with pytest.raises(PolicyError) as caught:
        Policy.from_mapping({"timeout": 10, "max_dealy": 4})

    assert caught.value.field == "max_dealy"
    assert "max_dealy" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("max_polls", 5.0, 5),
        ("max_polls", 1e1, 10),
        ("seed", 3.0, 3),
        ("max_consecutive_errors", 2.0, 2),
    ],
)
def test_from_mapping_accepts_an_integral_float_where_a_whole_number_is_wanted(
    field: str, value: float, expected: int
) -> None:
    """``5.0`` (or ``1e1`` in JSON) is a whole number; it becomes an int."""
    policy = Policy.from_mapping({field: value})

    assert getattr(policy, field) == expected
    assert type(getattr(policy, field)) is int


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_polls", 2.5),
        ("seed", 0.5),
        ("max_consecutive_errors", 1.5),
        ("max_polls", True),
        ("max_polls", "3"),
    ],
)
def test_from_mapping_refuses_a_non_whole_value_for_a_whole_field(
    field: str, value: object
) -> None:
    """A fraction, a boolean or a string is not a count."""
    with pytest.raises(PolicyError) as caught:
        Policy.from_mapping({field: value})

    assert caught.value.field == field


def test_from_mapping_fills_omitted_fields_with_defaults() -> None:
    """Omitted fields take the contract's defaults."""
    policy = Policy.from_mapping({"timeout": 60, "stall_after": 20})

    expected = {**CONTRACT_DEFAULTS, "timeout": 60, "stall_after": 20}
    assert policy.to_mapping() == expected


def test_from_mapping_is_the_inverse_of_to_mapping() -> None:
    """A policy survives a round trip through a plain mapping."""
    policy = Policy(
        initial_delay=0.5,
        multiplier=1.5,
        max_delay=4.0,
        jitter="equal",
        seed=42,
        stall_after=None,
        max_polls=9,
        reset_on_progress=False,
    )

    assert Policy.from_mapping(policy.to_mapping()) == policy


def test_replace_validates_like_a_new_policy() -> None:
    """A copy with a refused change is refused too."""
    with pytest.raises(PolicyError) as caught:
        Policy().replace(max_delay=0.1)

    assert caught.value.field == "max_delay"


def test_repr_rebuilds_the_policy() -> None:
    """The repr is valid Python that builds an equal policy."""
    policy = Policy(timeout=30.0, jitter="full", max_polls=3)

    assert eval(repr(policy), {"Policy": Policy}) == policy


@pytest.mark.parametrize(
    "name", [*DELAYS, "stall_after", "multiplier", "target_latency"]
)
def test_an_int_too_large_for_a_float_is_refused_as_a_policy_error(name: str) -> None:
    """10**400 is a whole number no float holds: a typed error naming the
    field and the size of the value, never an OverflowError."""
    changes: dict[str, Any] = {name: 10**400}

    with pytest.raises(PolicyError) as caught:
        Policy(**changes)

    finite = "a finite number" if name == "multiplier" else "finite"
    assert caught.value.field == name
    assert str(caught.value) == (
        f"policy field {name!r}: must be {finite} (got an integer of 401 digits)"
    )


def test_a_policy_error_names_a_value_too_long_to_print() -> None:
    """An int past Python's 4300-digit printing limit still gives a message."""
    with pytest.raises(PolicyError) as caught:
        Policy(jitter=[10**5000])  # type: ignore[arg-type]

    assert str(caught.value) == (
        "policy field 'jitter': must be one of none, full, equal, floored "
        "(got a value too long to show)"
    )
