"""How a session ended, and why."""

from __future__ import annotations

import enum

import attrs

__all__ = ["EndReason", "Outcome", "Verdict"]


class Outcome(enum.Enum):
    """The final state a session ended in; the values are the state names."""

    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    STALLED = "stalled"
    CANCELLED = "cancelled"


class EndReason(enum.Enum):
    """Which rule ended the session (finer than :class:`Outcome`)."""

    #: the status said complete (stop rule 1)
    COMPLETED = "completed"
    #: the status said failed or cancelled server-side (stop rule 2)
    SERVER_FAILED = "server_failed"
    #: an answer no retry can fix, such as a 404 (stop rule 3)
    FATAL_ANSWER = "fatal_answer"
    #: max_consecutive_errors failed polls in a row (stop rule 4)
    TOO_MANY_ERRORS = "too_many_errors"
    #: the trigger failed; it is never retried
    TRIGGER_FAILED = "trigger_failed"
    #: the overall timeout was reached (stop rule 5)
    DEADLINE = "deadline"
    #: max_polls polls were sent (stop rule 5)
    POLL_BUDGET = "poll_budget"
    #: the server asked to wait past the timeout
    HINT_PAST_DEADLINE = "hint_past_deadline"
    #: nothing new for stall_after seconds (stop rule 6)
    STALLED = "stalled"
    #: the user cancelled
    CANCELLED = "cancelled"


_OUTCOME_OF = {
    EndReason.COMPLETED: Outcome.DONE,
    EndReason.SERVER_FAILED: Outcome.FAILED,
    EndReason.FATAL_ANSWER: Outcome.FAILED,
    EndReason.TOO_MANY_ERRORS: Outcome.FAILED,
    EndReason.TRIGGER_FAILED: Outcome.FAILED,
    EndReason.DEADLINE: Outcome.TIMED_OUT,
    EndReason.POLL_BUDGET: Outcome.TIMED_OUT,
    EndReason.HINT_PAST_DEADLINE: Outcome.TIMED_OUT,
    EndReason.STALLED: Outcome.STALLED,
    EndReason.CANCELLED: Outcome.CANCELLED,
}


@attrs.frozen
class Verdict:
    """A decision to end the session: the rule that held, and a sentence why."""

    reason: EndReason
    detail: str

    @property
    def outcome(self) -> Outcome:
        """The final state this verdict leads to."""
        return _OUTCOME_OF[self.reason]
