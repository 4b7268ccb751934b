"""Where an API keeps its status, its messages and their ids.

A profile is a handful of JMESPath expressions and three lists of status
values. The reference conversation API's profile is the default; any other
API is described by a profile of its own, usually loaded from YAML. Every
expression is compiled when the profile is built, so a typo fails there and
never in the middle of a session.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
import jmespath
import jmespath.exceptions
import jmespath.functions
import jmespath.parser

from .errors import ProfileError

__all__ = [
    "REFERENCE_DONE",
    "REFERENCE_FAILED",
    "REFERENCE_RUNNING",
    "Profile",
    "StatusKind",
]

REFERENCE_RUNNING: Final = ("generating", "queued", "pending", "running", "in_progress")
REFERENCE_DONE: Final = ("complete", "completed", "done", "succeeded", "idle")
REFERENCE_FAILED: Final = ("failed", "error", "cancelled", "canceled", "expired")


class StatusKind(enum.Enum):
    """What a status value means to the stop rules."""

    #: no status was found: "no news"
    ABSENT = "absent"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    #: a value in none of the lists: treated as running, reported once
    UNKNOWN = "unknown"


def _compile(field: str, expression: object) -> jmespath.parser.ParsedResult:
    if not isinstance(expression, str) or not expression.strip():
        raise ProfileError(field, expression, "must be a non-empty JMESPath expression")
    try:
        compiled = jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ProfileError(field, expression, f"invalid JMESPath: {problem}") from None
    unknown = sorted(_function_names(compiled.parsed) - _KNOWN_FUNCTIONS)
    if unknown:
        # jmespath only notices an unknown function when it evaluates it,
        # which would be in the middle of a session.
        raise ProfileError(
            field, expression, f"unknown JMESPath function {unknown[0]}()"
        )
    return compiled


_KNOWN_FUNCTIONS: Final = frozenset(jmespath.functions.Functions.FUNCTION_TABLE)


def _function_names(node: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        if node.get("type") == "function_expression":
            names.add(str(node.get("value")))
        for child in node.get("children", ()):
            names |= _function_names(child)
        for value in node.values():
            if isinstance(value, dict):
                names |= _function_names(value)
    return names


def _statuses(field: str, values: Iterable[object]) -> tuple[str, ...]:
    # A mapping iterates over its keys: never what a list of statuses meant.
    if isinstance(values, str | Mapping) or not isinstance(values, Iterable):
        raise ProfileError(field, values, "must be a list of status values")
    result = []
    for value in values:
        if not isinstance(value, str):
            raise ProfileError(field, value, "status values must be strings")
        result.append(value.casefold())
    return tuple(result)


def _done_statuses(values: Iterable[object]) -> tuple[str, ...]:
    return _statuses("done", values)


def _failed_statuses(values: Iterable[object]) -> tuple[str, ...]:
    return _statuses("failed", values)


def _running_statuses(values: Iterable[object]) -> tuple[str, ...]:
    return _statuses("running", values)


def _check_expression(field: str) -> Any:
    def check(instance: Profile, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            _compile(field, value)

    return check


@attrs.frozen(kw_only=True)
class Profile:
    """How to read one API's answers.

    Args:
        status_path: JMESPath over the body to the status value.
        messages_path: JMESPath over the body to the list of messages.
        id_path: JMESPath over one message to its id.
        progress_path: optional JMESPath over the body to a value whose
            change counts as progress (for status-only APIs).
        done, failed, running: status values of each kind, compared without
            regard to case; a list given replaces the reference one.

    Raises:
        ProfileError: an expression does not compile, or a list is not a
            list of strings.
    """

    status_path: str = attrs.field(
        default="status", validator=_check_expression("status_path")
    )
    messages_path: str = attrs.field(
        default="messages", validator=_check_expression("messages_path")
    )
    id_path: str = attrs.field(default="id", validator=_check_expression("id_path"))
    progress_path: str | None = attrs.field(
        default=None, validator=_check_expression("progress_path")
    )
    done: tuple[str, ...] = attrs.field(
        default=REFERENCE_DONE, converter=_done_statuses
    )
    failed: tuple[str, ...] = attrs.field(
        default=REFERENCE_FAILED, converter=_failed_statuses
    )
    running: tuple[str, ...] = attrs.field(
        default=REFERENCE_RUNNING, converter=_running_statuses
    )
    _compiled: dict[str, jmespath.parser.ParsedResult] = attrs.field(
        init=False, repr=False, eq=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        compiled = {
            "status_path": _compile("status_path", self.status_path),
            "messages_path": _compile("messages_path", self.messages_path),
            "id_path": _compile("id_path", self.id_path),
        }
        if self.progress_path is not None:
            compiled["progress_path"] = _compile("progress_path", self.progress_path)
        object.__setattr__(self, "_compiled", compiled)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Profile:
        """Build a profile from a YAML or JSON mapping; unknown keys are refused.

        Raises:
            ProfileError: an unknown field or a malformed value.
        """
        if not isinstance(data, Mapping):
            raise ProfileError("profile", data, "must be a mapping")
        known = {field.alias for field in attrs.fields(cls) if field.init}
        for key, value in data.items():
            if key not in known:
                raise ProfileError(str(key), value, "is not a profile field")
        return cls(**dict(data))

    def to_mapping(self) -> dict[str, Any]:
        """The profile as a plain mapping, the inverse of :meth:`from_mapping`."""
        return {
            "status_path": self.status_path,
            "messages_path": self.messages_path,
            "id_path": self.id_path,
            "progress_path": self.progress_path,
            "done": list(self.done),
            "failed": list(self.failed),
            "running": list(self.running),
        }

    def search(self, which: str, document: object) -> Any:
        """Evaluate one of the profile's expressions (by field name)."""
        expression = self._compiled.get(which)
        if expression is None:
            return None
        node = expression.parsed
        if node["type"] == "field":
            # A bare name (every path of the reference profile): exactly what
            # jmespath's field visitor does, without the cost of its visitor.
            return document.get(node["value"]) if isinstance(document, dict) else None
        return expression.search(document)

    def status_kind(self, status: object) -> StatusKind:
        """Classify a status value found in a body."""
        if status is None:
            return StatusKind.ABSENT
        folded = status.casefold() if isinstance(status, str) else None
        if folded is not None:
            # Finished lists are checked first: a value a user put in both a
            # custom done list and the reference running list means done.
            if folded in self.done:
                return StatusKind.DONE
            if folded in self.failed:
                return StatusKind.FAILED
            if folded in self.running:
                return StatusKind.RUNNING
        return StatusKind.UNKNOWN


#: The reference conversation API's profile.
REFERENCE_PROFILE: Final = Profile()
