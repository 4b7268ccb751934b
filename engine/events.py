"""What a session tells its observers, as frozen values.

Every time is in seconds since t = 0, the moment the trigger returned.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs

from .answers import Failed, Fatal, Message, Readable
from .outcomes import EndReason, Outcome
from .rules import Schedule

__all__ = [
    "MessagesDelivered",
    "PollAnswered",
    "PollFailed",
    "PollScheduled",
    "PollSent",
    "SessionEnded",
    "SessionEvent",
    "StateChanged",
]


@attrs.frozen
class StateChanged:
    """The machine moved from one state to another."""

    at: float
    source: str
    target: str


@attrs.frozen
class PollScheduled:
    """The next poll's send time was decided (and why)."""

    at: float
    schedule: Schedule
    #: polls in a row without progress, the n of the backoff formula
    no_progress_polls: int


@attrs.frozen
class PollSent:
    """A poll request went out."""

    at: float
    number: int
    request_timeout: float


@attrs.frozen
class PollAnswered:
    """A poll ended with a readable answer."""

    at: float
    number: int
    answer: Readable
    has_progress: bool


@attrs.frozen
class PollFailed:
    """A poll ended failed (may pass) or fatal (will not)."""

    at: float
    number: int
    answer: Failed | Fatal


@attrs.frozen
class MessagesDelivered:
    """Messages not seen before, in the API's order, each delivered once."""

    at: float
    messages: tuple[Message, ...]


@attrs.frozen
class SessionEnded:
    """The session reached a final state; nothing follows this event."""

    at: float
    outcome: Outcome
    reason: EndReason
    detail: str


#: Any event a session emits.
SessionEvent: TypeAlias = (
    StateChanged
    | PollScheduled
    | PollSent
    | PollAnswered
    | PollFailed
    | MessagesDelivered
    | SessionEnded
)
