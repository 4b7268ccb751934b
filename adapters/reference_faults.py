"""The reference server's fault knobs: what a generation does wrong, on demand.

A :class:`Faults` value travels with a conversation (or one generation)
and says how its GETs go wrong. All knobs are off by default, and any
client can turn them on through a request body (``{"faults": {...}}``), so
the same misbehaviours that pollwise's own tests use can be aimed at any
other poller.

How the generation itself misbehaves:

- ``stall_after = n``: at most n messages appear and the status stays
  "generating" for good;
- ``fail_after = n``: at most n messages appear, then the status is
  "failed";
- ``mixed_ids``: message ids alternate between numbers and strings
  (1, "1", 2, "2", ...), which the contract counts as different ids.

The first GETs after a generation starts, counted per generation, in this
order: ``burst_503`` answer ``burst_status`` (503 by default, any 5xx);
``rate_limit`` answer 429 with ``Retry-After`` (``retry_after`` verbatim,
or an HTTP-date ``retry_after_date`` seconds after the answer's ``Date``)
and ``retry-after-ms`` (``retry_after_ms`` verbatim); ``unreadable`` answer
an HTML page with status 200; ``wrong_shape`` answer valid JSON of the
wrong ``shape``; ``cut`` close the connection halfway through the body;
``hang`` never answer (until the client gives up). Later GETs answer
normally.

On every GET: ``slow`` waits before answering; ``drip`` sends the body one
byte at a time, that many seconds apart; ``redirects`` sends the client
through that many 307 redirects first, and ``redirect_loop`` redirects it
to the same URL for ever; ``pad`` adds that many bytes of padding to the
body (an oversize answer); ``gzip`` compresses the body.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from email.utils import formatdate
from typing import Any, Final

import attrs

from pollwise.engine.errors import PollingError

__all__ = [
    "FAULT_NAMES",
    "MAX_PAD",
    "MAX_REDIRECTS",
    "SHAPES",
    "Faults",
    "GetFault",
    "SettingsError",
    "padded",
    "rate_limit_headers",
    "wrong_shape",
]

#: The largest padding a body may get (bytes).
MAX_PAD: Final = 64 * 1024 * 1024
#: The longest chain of redirects ``redirects`` may ask for.
MAX_REDIRECTS: Final = 100
#: The wrong shapes a ``wrong_shape`` answer can take.
SHAPES: Final = ("list", "string", "messages-object", "null-status")


class SettingsError(PollingError, ValueError):
    """A server setting, fault or request override has a refused value.

    Attributes:
        field: the name of the offending field ("body" for the body itself).
        value: the value that was refused.
        problem: what is wrong with it.
    """

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field!r}: {problem} (got {value!r})")


def is_number(value: object) -> bool:
    """An int or a float, but not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def loosen_whole(value: Any) -> Any:
    """5.0 (or 1e1 in JSON) is the whole number 5, as in Policy.from_mapping."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def check_count(name: str, value: object, limit: int | None = None) -> None:
    """Refuse anything but a whole number >= 0 (and <= ``limit``)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SettingsError(name, value, "must be a whole number >= 0")
    if limit is not None and value > limit:
        raise SettingsError(name, value, f"must be at most {limit}")


def check_seconds(name: str, value: object) -> None:
    """Refuse anything but finite seconds >= 0."""
    if not is_number(value):
        raise SettingsError(name, value, "must be a number of seconds")
    assert isinstance(value, int | float)
    if not math.isfinite(value) or value < 0:
        raise SettingsError(name, value, "must be finite and >= 0")


def count_field(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_count(attribute.name, value)


def optional_count_field(
    instance: Any, attribute: attrs.Attribute[Any], value: Any
) -> None:
    if value is not None:
        check_count(attribute.name, value)


def seconds_field(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_seconds(attribute.name, value)


def optional_seconds_field(
    instance: Any, attribute: attrs.Attribute[Any], value: Any
) -> None:
    if value is not None:
        check_seconds(attribute.name, value)


def _flag_field(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise SettingsError(attribute.name, value, "must be true or false")


def _pad_field(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_count(attribute.name, value, MAX_PAD)


def _redirects_field(
    instance: Any, attribute: attrs.Attribute[Any], value: Any
) -> None:
    check_count(attribute.name, value, MAX_REDIRECTS)


def _server_error_field(
    instance: Any, attribute: attrs.Attribute[Any], value: Any
) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 500 <= value <= 599:
        raise SettingsError(attribute.name, value, "must be a 5xx status code")


def _shape_field(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in SHAPES:
        raise SettingsError(
            attribute.name, value, f"must be one of {', '.join(SHAPES)}"
        )


def _header_value_field(
    instance: Any, attribute: attrs.Attribute[Any], value: Any
) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise SettingsError(attribute.name, value, "must be a string (a header value)")
    if any(c in value for c in "\r\n\0") or not value.isascii():
        raise SettingsError(
            attribute.name, value, "must be printable ASCII on one line"
        )


def _optional_whole_field(
    instance: Any, attribute: attrs.Attribute[Any], value: Any
) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 10**9:
        raise SettingsError(
            attribute.name, value, "must be a whole number of seconds (+/- 1e9)"
        )


class GetFault(enum.Enum):
    """How one GET of a conversation is answered."""

    NONE = "none"
    UNAVAILABLE = "503"
    RATE_LIMITED = "429"
    UNREADABLE = "unreadable"
    WRONG_SHAPE = "wrong-shape"
    CUT = "cut"
    HANG = "hang"


#: The count knobs, in the order they answer the first GETs.
_GET_FAULTS: Final = (
    ("burst_503", GetFault.UNAVAILABLE),
    ("rate_limit", GetFault.RATE_LIMITED),
    ("unreadable", GetFault.UNREADABLE),
    ("wrong_shape", GetFault.WRONG_SHAPE),
    ("cut", GetFault.CUT),
    ("hang", GetFault.HANG),
)

#: Knobs whose value is seconds, kept as given (1 stays 1, 0.5 stays 0.5).
_SECONDS: Final = frozenset({"slow", "drip"})


@attrs.frozen(kw_only=True)
class Faults:
    """Misbehaviours of a generation; all off by default (see the module doc).

    Raises:
        SettingsError: a count is not a whole number >= 0, a time is not
            finite seconds >= 0, a header value is not one line of ASCII,
            ``burst_status`` is not a 5xx, ``shape`` is unknown, or both
            ``stall_after`` and ``fail_after`` are set (a generation either
            stalls or fails).
    """

    stall_after: int | None = attrs.field(default=None, validator=optional_count_field)
    fail_after: int | None = attrs.field(default=None, validator=optional_count_field)
    rate_limit: int = attrs.field(default=0, validator=count_field)
    burst_503: int = attrs.field(default=0, validator=count_field)
    slow: float = attrs.field(default=0.0, validator=seconds_field)
    unreadable: int = attrs.field(default=0, validator=count_field)
    burst_status: int = attrs.field(default=503, validator=_server_error_field)
    retry_after: str | None = attrs.field(default=None, validator=_header_value_field)
    retry_after_date: int | None = attrs.field(
        default=None, validator=_optional_whole_field
    )
    retry_after_ms: str | None = attrs.field(
        default=None, validator=_header_value_field
    )
    wrong_shape: int = attrs.field(default=0, validator=count_field)
    shape: str = attrs.field(default="list", validator=_shape_field)
    cut: int = attrs.field(default=0, validator=count_field)
    hang: int = attrs.field(default=0, validator=count_field)
    drip: float = attrs.field(default=0.0, validator=seconds_field)
    redirects: int = attrs.field(default=0, validator=_redirects_field)
    redirect_loop: bool = attrs.field(default=False, validator=_flag_field)
    pad: int = attrs.field(default=0, validator=_pad_field)
    gzip: bool = attrs.field(default=False, validator=_flag_field)
    mixed_ids: bool = attrs.field(default=False, validator=_flag_field)

    def __attrs_post_init__(self) -> None:
        if self.stall_after is not None and self.fail_after is not None:
            raise SettingsError(
                "fail_after", self.fail_after, "cannot be combined with stall_after"
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Faults:
        """Faults from loosely typed input (a JSON object); omitted keys are off.

        Raises:
            SettingsError: an unknown key or a refused value.
        """
        known = {field.name for field in attrs.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise SettingsError(
                    str(key),
                    value,
                    f"is not a fault (known: {', '.join(sorted(known))})",
                )
            values[key] = value if key in _SECONDS else loosen_whole(value)
        return cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        """The faults as a JSON-ready mapping, the inverse of :meth:`from_mapping`."""
        return attrs.asdict(self)

    @classmethod
    def from_names(cls, names: Iterable[str]) -> Faults:
        """Faults from the CLI's shorthands (:data:`FAULT_NAMES`), combined.

        Raises:
            SettingsError: an unknown name, or "stall" with "fail".
        """
        values: dict[str, Any] = {}
        for name in names:
            preset = _PRESETS.get(name)
            if preset is None:
                raise SettingsError(
                    "faults", name, f"is not a fault name ({', '.join(FAULT_NAMES)})"
                )
            values.update(preset)
        return cls(**values)

    def fault_for_get(self, number: int) -> GetFault:
        """How the ``number``-th GET (1-based) of the generation is answered."""
        first = 0
        for name, fault in _GET_FAULTS:
            first += getattr(self, name)
            if number <= first:
                return fault
        return GetFault.NONE


_FOREVER: Final = 10**6

_PRESETS: Final[Mapping[str, Mapping[str, Any]]] = {
    "stall": {"stall_after": 2},
    "fail": {"fail_after": 2},
    "rate-limit": {"rate_limit": 2},
    # Three 503s in a row recover under the default max_consecutive_errors (5).
    "503": {"burst_503": 3},
    "503-forever": {"burst_503": _FOREVER},
    "slow": {"slow": 0.3},
    "unreadable": {"unreadable": 2},
    "500": {"burst_503": 3, "burst_status": 500},
    "502": {"burst_503": 3, "burst_status": 502},
    "504": {"burst_503": 3, "burst_status": 504},
    "hang": {"hang": 1},
    "hang-forever": {"hang": _FOREVER},
    "drip": {"drip": 0.5},
    "cut": {"cut": 2},
    "redirect": {"redirects": 2},
    "redirect-loop": {"redirect_loop": True},
    # Over the 10 MiB that pollwise accepts by default.
    "oversize": {"pad": 11 * 1024 * 1024},
    "gzip": {"gzip": True},
    "wrong-shape": {"wrong_shape": 2, "shape": "messages-object"},
    "null-status": {"wrong_shape": _FOREVER, "shape": "null-status"},
    "mixed-ids": {"mixed_ids": True},
}

#: The fault shorthands :meth:`Faults.from_names` (and ``pollwise serve``) accept.
FAULT_NAMES: Final = tuple(_PRESETS)


def wrong_shape(snapshot: Mapping[str, Any], shape: str) -> Any:
    """A JSON document of the wrong ``shape`` made from a snapshot.

    "list" is the bare list of messages and "string" the bare status (the
    contract reads both as "no news": no status, no messages);
    "messages-object" holds the messages in an object keyed by id (a failed
    poll); "null-status" is the snapshot with ``"status": null`` (readable:
    the messages count, the status is absent).
    """
    messages = list(snapshot.get("messages", []))
    if shape == "list":
        return messages
    if shape == "string":
        return str(snapshot.get("status"))
    if shape == "messages-object":
        return {**snapshot, "messages": {str(m.get("id")): m for m in messages}}
    if shape == "null-status":
        return {**snapshot, "status": None}
    raise SettingsError("shape", shape, f"must be one of {', '.join(SHAPES)}")


def padded(snapshot: Mapping[str, Any], pad: int) -> dict[str, Any]:
    """The snapshot with ``pad`` bytes of padding (none when ``pad`` is 0)."""
    if pad <= 0:
        return dict(snapshot)
    return {**snapshot, "padding": "x" * pad}


def rate_limit_headers(
    faults: Faults, default_retry_after: str, wall: float
) -> dict[str, str]:
    """The hint headers of a 429 sent when the wall clock reads ``wall``.

    With ``retry_after_date`` the answer carries its own ``Date`` (the
    whole second of ``wall``) and ``Retry-After`` as the HTTP-date that
    many seconds later, so the hint it means is exact.
    """
    headers: dict[str, str] = {}
    if faults.retry_after_date is not None:
        second = math.floor(wall)
        headers["Date"] = formatdate(second, usegmt=True)
        headers["Retry-After"] = formatdate(
            second + faults.retry_after_date, usegmt=True
        )
    else:
        headers["Retry-After"] = (
            faults.retry_after
            if faults.retry_after is not None
            else default_retry_after
        )
    if faults.retry_after_ms is not None:
        headers["retry-after-ms"] = faults.retry_after_ms
    return headers
