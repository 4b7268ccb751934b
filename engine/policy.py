"""The polling policy: every knob of the schedule and the stop rules.

The fields and their defaults are exactly those of the behaviour contract.
A policy is checked when it is built, so a bad value fails where it was
written, not in the middle of a session.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs

from .errors import PolicyError

__all__ = ["JITTER_KINDS", "MIN_TARGET_LATENCY", "MODES", "Jitter", "Mode", "Policy"]

Jitter = Literal["none", "full", "equal", "floored"]
Mode = Literal["backoff", "adaptive"]

#: The jitter kinds a policy accepts.
JITTER_KINDS: Final = ("none", "full", "equal", "floored")
#: The schedule modes: the contract's backoff, or the opt-in adaptive one.
MODES: Final = ("backoff", "adaptive")
#: The least adaptive target: below it a session polls as fast as the
#: network answers (and a fake clock hardly moves).
MIN_TARGET_LATENCY: Final = 0.01
#: Fields beyond the contract's table, with their defaults; a mapping shows
#: them only when they differ (so a default policy maps to the contract's).
_EXTENSIONS: Final[dict[str, Any]] = {"mode": "backoff", "target_latency": 1.0}

_DELAYS: Final = (
    "initial_delay",
    "max_delay",
    "timeout",
    "max_retry_after",
    "request_timeout",
)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: float) -> bool:
    # An int too large for a float (10**400) is no finite number of seconds:
    # every computation with it would raise OverflowError.
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _check_delay(name: str, value: object) -> None:
    if not _is_number(value):
        raise PolicyError(name, value, "must be a number of seconds")
    assert isinstance(value, int | float)
    if not _is_finite(value):
        raise PolicyError(name, value, "must be finite")
    if value < 0:
        raise PolicyError(name, value, "must not be negative")


@attrs.frozen(kw_only=True)
class Policy:
    """How a session waits between polls and when it gives up.

    All times are seconds. The defaults are the contract's: a first poll
    after one second, waits doubling up to eight seconds while nothing
    happens, a fresh start after every poll with progress, and an end after
    two minutes, after thirty quiet seconds, or after five failed polls in a
    row.

    Raises:
        PolicyError: a field has a value the contract refuses; the error
            names the field and the value.
    """

    initial_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 8.0
    jitter: Jitter = "none"
    seed: int = 0
    timeout: float = 120.0
    stall_after: float | None = 30.0
    max_polls: int | None = None
    reset_on_progress: bool = True
    max_consecutive_errors: int = 5
    max_retry_after: float = 60.0
    request_timeout: float = 10.0
    #: "backoff" (the contract's schedule) or "adaptive" (learns the pace of
    #: arrivals, see :mod:`pollwise.engine.adaptive`); only the wait differs
    mode: Mode = "backoff"
    #: adaptive mode: the wait while a message is expected, in seconds (at
    #: least ``MIN_TARGET_LATENCY``; read only in the adaptive mode)
    target_latency: float = 1.0

    def __attrs_post_init__(self) -> None:
        for name in _DELAYS:
            _check_delay(name, getattr(self, name))
        if self.stall_after is not None:
            _check_delay("stall_after", self.stall_after)
            if self.stall_after <= 0:
                raise PolicyError("stall_after", self.stall_after, "must be > 0")
        if self.timeout <= 0:
            raise PolicyError("timeout", self.timeout, "must be > 0")
        if not _is_number(self.multiplier) or not _is_finite(self.multiplier):
            raise PolicyError("multiplier", self.multiplier, "must be a finite number")
        if self.multiplier < 1:
            raise PolicyError("multiplier", self.multiplier, "must be >= 1")
        if self.max_delay < self.initial_delay:
            raise PolicyError(
                "max_delay",
                self.max_delay,
                f"must be >= initial_delay ({self.initial_delay!r})",
            )
        if self.jitter not in JITTER_KINDS:
            raise PolicyError(
                "jitter", self.jitter, f"must be one of {', '.join(JITTER_KINDS)}"
            )
        if not _is_whole(self.seed):
            raise PolicyError("seed", self.seed, "must be a whole number")
        if self.max_polls is not None and (
            not _is_whole(self.max_polls) or self.max_polls < 1
        ):
            raise PolicyError(
                "max_polls", self.max_polls, "must be a whole number >= 1"
            )
        if (
            not _is_whole(self.max_consecutive_errors)
            or self.max_consecutive_errors < 1
        ):
            raise PolicyError(
                "max_consecutive_errors",
                self.max_consecutive_errors,
                "must be a whole number >= 1",
            )
        if self.mode not in MODES:
            raise PolicyError("mode", self.mode, f"must be one of {', '.join(MODES)}")
        _check_delay("target_latency", self.target_latency)
        if self.target_latency < MIN_TARGET_LATENCY:
            raise PolicyError(
                "target_latency",
                self.target_latency,
                f"must be >= {MIN_TARGET_LATENCY} (10 ms)",
            )
        if not isinstance(self.reset_on_progress, bool):
            raise PolicyError(
                "reset_on_progress", self.reset_on_progress, "must be true or false"
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Policy:
        """Build a policy from loosely typed input (a YAML or JSON mapping).

        Unknown keys are refused; a whole number written as a float (``5.0``,
        or ``1e1`` in JSON) is accepted where a whole number is wanted.

        Raises:
            PolicyError: an unknown field or a refused value.
        """
        known = {field.name for field in attrs.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise PolicyError(str(key), value, "is not a policy field")
            values[key] = _loosen(key, value)
        return cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        """The policy as a plain mapping, the inverse of :meth:`from_mapping`.

        The contract's fields always; ``mode`` and ``target_latency`` only
        when they differ from their defaults.
        """
        mapping = attrs.asdict(self)
        for name, default in _EXTENSIONS.items():
            if mapping[name] == default:
                del mapping[name]
        return mapping

    def replace(self, **changes: Any) -> Policy:
        """A copy with some fields changed (validated like a new policy)."""
        return attrs.evolve(self, **changes)


_WHOLE_FIELDS: Final = ("seed", "max_polls", "max_consecutive_errors")


def _loosen(key: str, value: Any) -> Any:
    if (
        key in _WHOLE_FIELDS
        and isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
    ):
        return int(value)
    return value
