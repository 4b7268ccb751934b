"""The records of a trace, as frozen values (see :mod:`pollwise.adapters.trace`).

A header, a begin record, one step record per poll, and an end record.
Each is a frozen attrs class whose repr is valid Python;
:mod:`pollwise.adapters.trace_json` turns them into JSON lines and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from pollwise.engine.policy import Policy
from pollwise.engine.profile import Profile

__all__ = [
    "ANSWER_KINDS",
    "BODY_KINDS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "OUTCOMES",
    "BeginRecord",
    "BodySummary",
    "Decision",
    "EndRecord",
    "Exchange",
    "HeaderRecord",
    "MessageSummary",
    "Record",
    "StepRecord",
    "TraceStatistics",
]

FORMAT_NAME: Final = "pollwise-trace"
FORMAT_VERSION: Final = 1
#: What a step's answer was: the contract's three kinds, or none at all
#: (the session ended while the request was in flight).
ANSWER_KINDS: Final = ("readable", "failed", "fatal", "abandoned")
#: How a body was read: JSON, empty, not JSON, JSON whose messages are not
#: a list, or not read at all (no answer, or a status that is not 2xx).
BODY_KINDS: Final = ("json", "empty", "not_json", "bad_messages", "none")
#: What an end record may say ("unknown": an import that just stops).
OUTCOMES: Final = ("done", "failed", "timed_out", "stalled", "cancelled", "unknown")


@attrs.frozen(kw_only=True)
class MessageSummary:
    """One message of an answer: its id and, when the body has one, created_at."""

    id: Any = None
    created_at: Any = None


@attrs.frozen(kw_only=True)
class BodySummary:
    """What the engine read from a body; the contents only when kept."""

    kind: str = "none"
    status: Any = None
    messages: tuple[MessageSummary, ...] = ()
    #: the value at the profile's progress_path (None: nothing found)
    progress: Any = None
    #: for ``bad_messages``: the JSON type found where a list was wanted
    messages_type: str | None = None
    #: the body's text, only with ``keep_content``
    text: str | None = None


@attrs.frozen(kw_only=True)
class Exchange:
    """One request and what came back (a poll, or the trigger)."""

    #: send time; None when unknown
    sent: float | None
    #: when the answer (or the failure) arrived; None when abandoned
    answered: float | None
    answer: str = "readable"
    http_status: int | None = None
    #: the headers that matter, lower-case names, credentials redacted
    headers: tuple[tuple[str, str], ...] = ()
    body: BodySummary = BodySummary()
    #: why the answer failed (the engine's words), or None
    error: str | None = None
    #: the transport failure's kind (connect, timeout, reset, ...), or None
    transport: str | None = None
    #: the server's hint in seconds, before the policy clamps it
    hint: float | None = None

    def header(self, name: str) -> str | None:
        """A recorded header's value, by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)


@attrs.frozen(kw_only=True)
class Decision:
    """What the engine decided after an answer, and why."""

    #: "poll" (schedule another) or "end"
    action: str
    next_at: float | None = None
    #: the backoff wait after jitter
    wait: float | None = None
    #: the clamped server hint (0 without one)
    hint: float | None = None
    #: which term set the send time: backoff, hint, stall deadline, timeout
    why: str | None = None
    #: polls in a row without progress (the n of the backoff formula)
    no_progress_polls: int | None = None
    #: whether progress started the backoff again
    progress_reset: bool = False
    outcome: str | None = None
    reason: str | None = None
    detail: str | None = None


@attrs.frozen(kw_only=True)
class HeaderRecord:
    """The first line: what recorded the session, and with which settings."""

    pollwise: str
    created: str
    policy: Mapping[str, Any]
    profile: Mapping[str, Any]
    history: tuple[Any, ...] = ()
    #: whether the session began with a trigger request
    trigger: bool = True
    #: "pollwise" (decisions are pollwise's) or "other" (an imported client)
    decisions: str = "pollwise"
    content_kept: bool = False
    source: Mapping[str, Any] = attrs.field(factory=dict)
    #: where the times come from: {"source", "assumed", "note"}
    timing: Mapping[str, Any] = attrs.field(factory=dict)
    #: how the profile was chosen for an import, in words
    profile_guess: str | None = None
    format: str = FORMAT_NAME
    version: int = FORMAT_VERSION

    def build_policy(self) -> Policy:
        """The recorded policy."""
        return Policy.from_mapping(self.policy)

    def build_profile(self) -> Profile:
        """The recorded profile."""
        return Profile.from_mapping(self.profile)


@attrs.frozen(kw_only=True)
class BeginRecord:
    """The session began: t = 0, the trigger's answer and the first decision."""

    at: float = 0.0
    #: the wall clock (seconds since the epoch) at t = 0, when known
    wall: float | None = None
    trigger: Exchange | None = None
    state_before: str | None = "idle"
    state_after: str | None = None
    decision: Decision | None = None


@attrs.frozen(kw_only=True)
class StepRecord:
    """One poll: the request, its answer, and the decision that followed."""

    number: int
    exchange: Exchange
    request_timeout: float | None = None
    has_progress: bool | None = None
    #: labels of the messages delivered by this poll, in order
    new_messages: tuple[Any, ...] = ()
    state_before: str | None = None
    state_after: str | None = None
    decision: Decision | None = None


@attrs.frozen(kw_only=True)
class TraceStatistics:
    """The session's counters at its end."""

    polls: int
    failed_polls: int
    messages: int
    elapsed: float


@attrs.frozen(kw_only=True)
class EndRecord:
    """The session ended (the last line)."""

    at: float
    outcome: str
    reason: str
    detail: str = ""
    statistics: TraceStatistics | None = None
    state_before: str | None = None


Record = HeaderRecord | BeginRecord | StepRecord | EndRecord
