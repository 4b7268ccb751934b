"""What the API port hands back, and what the engine makes of it.

The API port returns a :class:`Response` (status, headers, body bytes) or a
:class:`TransportFailure`. :func:`classify` turns either into one of the
three kinds of answer the contract knows:

- :class:`Readable`: a 2xx whose body is JSON (or empty: "no news") with
  messages that are a list or absent, and a 304;
- :class:`Failed`: transport errors, 5xx, 408, 425, 429, and 2xx bodies
  that cannot be read; worth trying again;
- :class:`Fatal`: every other status; trying again cannot help.

Classification is pure: the real HTTP adapter and the scripted fake API
share it, so a scenario and a live session read answers the same way.
"""

from __future__ import annotations

import codecs
import enum
import json
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
import jmespath.exceptions

from .hints import read_hint
from .profile import Profile, StatusKind

__all__ = [
    "MAX_NESTING",
    "Answer",
    "Failed",
    "FailureKind",
    "Fatal",
    "Message",
    "Readable",
    "Reply",
    "Response",
    "TransportFailure",
    "canonical",
    "classify",
    "classify_trigger",
]

logger = logging.getLogger("pollwise.engine")


def _lower_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> Any:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name).lower(), str(value)) for name, value in items)


@attrs.frozen
class Response:
    """An HTTP answer as the API port saw it.

    Header names are kept in lower case; when a name repeats, the first
    value is the one :meth:`header` returns.
    """

    status_code: int
    headers: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=_lower_headers
    )
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of a header, by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def header_map(self) -> dict[str, str]:
        """Headers as a dict of lower-case names to their first value."""
        result: dict[str, str] = {}
        for key, value in self.headers:
            result.setdefault(key, value)
        return result


class FailureKind(enum.Enum):
    """Why a request got no HTTP answer at all."""

    CONNECT = "connect"
    TIMEOUT = "timeout"
    RESET = "reset"
    TOO_LARGE = "too_large"
    PROTOCOL = "protocol"


@attrs.frozen
class TransportFailure:
    """A request that got no usable HTTP answer."""

    kind: FailureKind
    detail: str = ""


#: What an API port returns for one request.
Reply = Response | TransportFailure


def canonical(value: object) -> str:
    """A JSON text that tells ids apart exactly: ``7``, ``"7"`` and ``7.0`` differ."""
    # Fast paths for the usual ids, with the very text json.dumps gives.
    if type(value) is str:
        if (
            value.isascii()
            and value.isprintable()
            and '"' not in value
            and "\\" not in value
        ):
            return f'"{value}"'
    elif type(value) is int:
        return str(value)
    elif type(value) is float and math.isinf(value):
        # A number beyond a double's range (1e400) reads as infinity: all
        # such ids are one id, but each is still delivered once.
        return "Infinity" if value > 0 else "-Infinity"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


@attrs.frozen
class Message:
    """One message of a readable answer.

    Attributes:
        key: identity within the session; ids and positions live in separate
            key spaces, so an id ``"#0"`` never meets position 0.
        id: the message's id, or None when it has none.
        position: 0-based position in the answer's list.
        data: the message as the API sent it.
    """

    key: tuple[str, str]
    id: Any
    position: int
    data: Any = attrs.field(eq=False, repr=False)

    @property
    def label(self) -> Any:
        """How the message is reported: its id, or ``#<position>``."""
        return self.id if self.key[0] == "id" else f"#{self.position}"


@attrs.frozen
class Readable:
    """An answer worth reading for messages, status and progress."""

    status: Any = None
    status_kind: StatusKind = StatusKind.ABSENT
    messages: tuple[Message, ...] = ()
    #: the value at the profile's progress_path; None when nothing was found
    progress_value: Any = None
    http_status: int | None = 200
    hint: float | None = None


@attrs.frozen
class Failed:
    """A poll that failed in a way that may pass: try again later."""

    reason: str
    http_status: int | None = None
    hint: float | None = None


@attrs.frozen
class Fatal:
    """An answer that no retry can fix."""

    reason: str
    http_status: int
    hint: float | None = None


Answer = Readable | Failed | Fatal

_RETRYABLE_STATUSES: Final = frozenset({408, 425, 429})


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _int_or_float(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        # Over Python's 4300-digit limit for int(): valid JSON all the same,
        # read as the float it rounds to (infinity, at that length).
        return float(text)


#: Built once: json.loads with any option builds a new decoder per call.
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)
#: For the rare body the first one refuses: integers of over 4300 digits.
_LONG_INT_DECODER: Final = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_int=_int_or_float
)


#: Deepest nesting of lists and objects read in an id, a status or a
#: progress value; a deeper one fails the poll.
MAX_NESTING: Final = 256


def _parse_json(body: bytes) -> tuple[bool, Any]:
    try:
        # The same as decoding "utf-8-sig", at a fraction of its cost.
        bom = codecs.BOM_UTF8
        text = (body[len(bom) :] if body.startswith(bom) else body).decode("utf-8")
        return True, _DECODER.decode(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False, None
    except ValueError:
        pass  # a refused constant, or an integer over int()'s digit limit
    try:
        return True, _LONG_INT_DECODER.decode(text)
    except (ValueError, RecursionError):
        return False, None


def _find(profile: Profile, which: str, document: object) -> Any:
    """What one of the profile's paths yields; nothing where it cannot read.

    A valid expression can still fail on a value of an unexpected shape
    (``sort_by`` over items without the key, ``length`` of a number). The
    contract fails a poll only for a body that is not JSON or messages that
    are not a list, so a path that cannot read a body yields nothing.
    """
    try:
        return profile.search(which, document)
    except jmespath.exceptions.JMESPathError as exc:
        logger.debug("%s yields nothing here (%s)", which, type(exc).__name__)
        return None


class _TooDeepError(Exception):
    """A value to compare is nested over MAX_NESTING levels."""


def _nested_deeper(value: object, limit: int) -> bool:
    """Whether lists and objects nest in ``value`` over ``limit`` levels."""
    if not isinstance(value, list | dict):
        return False
    level: list[list[Any] | dict[str, Any]] = [value]
    for _ in range(limit):
        deeper: list[list[Any] | dict[str, Any]] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            deeper.extend(child for child in children if isinstance(child, list | dict))
        if not deeper:
            return False
        level = deeper
    return True


def _messages(items: list[Any], profile: Profile) -> tuple[Message, ...]:
    result = []
    for position, item in enumerate(items):
        found = _find(profile, "id_path", item)
        if found is None:
            key = ("position", str(position))
        else:
            if isinstance(found, list | dict) and _nested_deeper(found, MAX_NESTING):
                raise _TooDeepError
            try:
                key = ("id", canonical(found))
            except ValueError:
                key = ("position", str(position))
                found = None
        result.append(Message(key=key, id=found, position=position, data=item))
    return tuple(result)


def _hint(response: Response, wall_time: float, elapsed: float) -> float | None:
    return read_hint(response.header_map(), wall_time, elapsed)


def classify(
    reply: Reply, profile: Profile, wall_time: float, elapsed: float = 0.0
) -> Answer:
    """Sort one poll's reply into readable, failed or fatal (see the module doc).

    Args:
        reply: what the API port returned.
        profile: where status, messages and ids are.
        wall_time: the wall clock when the reply arrived, less ``elapsed``,
            for HTTP-date hints (see :func:`~pollwise.engine.hints.read_hint`).
        elapsed: seconds from the reading of ``wall_time`` to the reply.
    """
    if isinstance(reply, TransportFailure):
        detail = f": {reply.detail}" if reply.detail else ""
        return Failed(reason=f"{reply.kind.value}{detail}")

    status = reply.status_code
    hint = _hint(reply, wall_time, elapsed)
    if status == 304:
        return Readable(http_status=304, hint=hint)
    if 500 <= status <= 599 or status in _RETRYABLE_STATUSES:
        return Failed(reason=f"HTTP {status}", http_status=status, hint=hint)
    if not 200 <= status <= 299:
        return Fatal(reason=f"HTTP {status}", http_status=status, hint=hint)
    if not reply.body.strip():
        return Readable(http_status=status, hint=hint)

    ok, document = _parse_json(reply.body)
    if not ok:
        return Failed(reason="body is not JSON", http_status=status, hint=hint)
    items = _find(profile, "messages_path", document)
    if items is not None and not isinstance(items, list):
        return Failed(
            reason=f"messages are a {type(items).__name__}, not a list",
            http_status=status,
            hint=hint,
        )
    status_value = _find(profile, "status_path", document)
    progress_value = _find(profile, "progress_path", document)
    # Ids, progress values and statuses are compared and shown by their JSON
    # text, which a value nested a few hundred levels deep cannot give
    # (RecursionError, at a depth that depends on the caller's stack).
    try:
        messages = _messages(items or [], profile)
        if _nested_deeper(status_value, MAX_NESTING) or _nested_deeper(
            progress_value, MAX_NESTING
        ):
            raise _TooDeepError
    except _TooDeepError:
        return Failed(
            reason=f"an id, status or progress value is nested over {MAX_NESTING} "
            "levels deep",
            http_status=status,
            hint=hint,
        )
    return Readable(
        status=status_value,
        status_kind=profile.status_kind(status_value),
        messages=messages,
        progress_value=progress_value,
        http_status=status,
        hint=hint,
    )


def classify_trigger(reply: Reply, wall_time: float, elapsed: float = 0.0) -> Answer:
    """Sort the trigger's reply: any 2xx succeeded, anything else failed.

    The trigger is a POST that may not be idempotent, so a failure is never
    retried; the session that sent it ends as failed at once.
    """
    if isinstance(reply, TransportFailure):
        detail = f": {reply.detail}" if reply.detail else ""
        return Failed(reason=f"trigger {reply.kind.value}{detail}")
    hint = _hint(reply, wall_time, elapsed)
    if 200 <= reply.status_code <= 299:
        return Readable(http_status=reply.status_code, hint=hint)
    return Failed(
        reason=f"trigger answered HTTP {reply.status_code}",
        http_status=reply.status_code,
        hint=hint,
    )


def is_finite_number(value: object) -> bool:
    """True for an int or float that is finite (bools excluded)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
