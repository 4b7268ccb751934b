"""The session's state machine, declared once.

This class is the single description of a session's life: the runners drive
it, the diagrams in ``diagrams/`` are drawn from it, and the docs describe
it. Theory of operation:

- ``idle``: the session exists; the trigger has not been answered yet.
- ``backoff``: waiting for the next poll's send time.
- ``polling``: one poll request is in flight.
- ``done``, ``failed``, ``timed_out``, ``stalled``, ``cancelled``: final.

Events are named for what happened (``trigger_answered``, ``poll_sent``,
``poll_ended``, ``cancel_requested``). The machine holds no clock and no
timer: whatever depends on time was already decided by the pure rules in
:mod:`pollwise.engine.rules`, which hand the machine a
:class:`~pollwise.engine.outcomes.Verdict` (or None) as event data, and the
guards below only read it. That keeps time in one place, the driver's clock
port, and makes every transition reproducible from a recorded trace.
"""

from __future__ import annotations

from typing import Any

from statemachine import State, StateChart

from .outcomes import Outcome, Verdict

__all__ = ["FINAL_STATES", "PollMachine"]

#: Names of the final states, which are also the :class:`Outcome` values.
FINAL_STATES = frozenset(outcome.value for outcome in Outcome)


class PollMachine(StateChart[Any]):
    """Idle, then backoff and polling in turn, until a final state."""

    # Set every behaviour flag explicitly; the library's defaults moved
    # within 3.x. An action that raises must reach the caller, a self
    # transition must not re-run entry actions, and an event that no
    # transition takes is a driver bug, not something to ignore.
    catch_errors_as_events = False
    enable_self_transition_entries = False
    allow_event_without_transition = False
    atomic_configuration_update = True

    idle = State("Idle", initial=True)
    backoff = State("Backoff")
    polling = State("Polling")
    done = State("Done", final=True)
    failed = State("Failed", final=True)
    timed_out = State("TimedOut", final=True)
    stalled = State("Stalled", final=True)
    cancelled = State("Cancelled", final=True)

    trigger_answered = (
        idle.to(failed, cond="ends_failed")
        | idle.to(timed_out, cond="ends_timed_out")
        | idle.to(backoff)
    )
    poll_sent = backoff.to(polling)
    poll_ended = (
        polling.to(done, cond="ends_done")
        | polling.to(failed, cond="ends_failed")
        | polling.to(timed_out, cond="ends_timed_out")
        | polling.to(stalled, cond="ends_stalled")
        | polling.to(backoff)
    )
    cancel_requested = (
        idle.to(cancelled) | backoff.to(cancelled) | polling.to(cancelled)
    )

    def ends_done(self, verdict: Verdict | None = None) -> bool:
        return verdict is not None and verdict.outcome is Outcome.DONE

    def ends_failed(self, verdict: Verdict | None = None) -> bool:
        return verdict is not None and verdict.outcome is Outcome.FAILED

    def ends_timed_out(self, verdict: Verdict | None = None) -> bool:
        return verdict is not None and verdict.outcome is Outcome.TIMED_OUT

    def ends_stalled(self, verdict: Verdict | None = None) -> bool:
        return verdict is not None and verdict.outcome is Outcome.STALLED

    @property
    def state_name(self) -> str:
        """The current state's id (``"backoff"``, ``"done"``, ...)."""
        return str(self.current_state_value)

    @property
    def is_final(self) -> bool:
        """Whether the session has ended (checked by value, see the notes)."""
        return self.current_state_value in FINAL_STATES
