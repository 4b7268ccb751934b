"""The errors pollwise raises.

Every error pollwise raises on purpose derives from :class:`PollingError`::

    PollingError
    ├── PolicyError (also ValueError)        a policy field has a bad value
    ├── ProfileError (also ValueError)       a profile is malformed
    ├── EndpointError (also ValueError)      a URL, header or limit is bad
    ├── InputFileError (also ValueError)     a file cannot be read (file, line)
    │   ├── ScenarioError                    a scenario or profile file
    │   └── TraceError                       a trace or a recording
    └── SessionError (also RuntimeError)     a session was used the wrong way

The outcome of a session (done, failed, timed out, stalled, cancelled) is a
state of the machine, never an exception: a runner returns it, and raising is
the caller's choice.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EndpointError",
    "InputFileError",
    "PolicyError",
    "PollingError",
    "ProfileError",
    "ScenarioError",
    "SessionError",
]


def _shown(value: Any) -> str:
    """``repr(value)``, or its size when it is a long integer.

    Python refuses to print an int of more than 4300 digits (see
    ``sys.get_int_max_str_digits``), and a few hundred digits make no
    readable one-line message either.
    """
    try:
        text = repr(value)
    except ValueError:
        return "a value too long to show"
    if isinstance(value, int) and len(text) > 40:
        return f"an integer of {len(text.lstrip('-'))} digits"
    return text


class PollingError(Exception):
    """Root of every error pollwise raises on purpose."""


class PolicyError(PollingError, ValueError):
    """A policy was built with a value the contract refuses.

    Attributes:
        field: the name of the offending field.
        value: the value that was refused.
    """

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"policy field {field!r}: {problem} (got {_shown(value)})")


class ProfileError(PollingError, ValueError):
    """A profile (where status, messages and ids are found) is malformed."""

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"profile field {field!r}: {problem} (got {_shown(value)})")


class EndpointError(PollingError, ValueError):
    """An HTTP endpoint was given a bad URL, header or limit, or lacks the
    trigger URL a trigger needs."""


class InputFileError(PollingError, ValueError):
    """A file given to pollwise cannot be read.

    The message names the file, the line where it is known, and the problem.
    """

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


class ScenarioError(InputFileError):
    """A scenario (or profile) file cannot be read."""


class SessionError(PollingError, RuntimeError):
    """A session was driven the wrong way (started twice, run after its end)."""
