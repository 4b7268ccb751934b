"""One polling session: the machine, the rules and the bookkeeping between them.

A :class:`Session` decides; a runner (:mod:`pollwise.engine.runners`)
carries the decisions out. The runner calls, in turn:

1. :meth:`Session.begin` with the trigger's reply (t = 0 is now);
2. sleeps until :attr:`Session.next_poll_at`;
3. :meth:`Session.start_poll`, which returns the request's timeout;
4. sends the request, then :meth:`Session.end_poll` with the reply;

and goes back to 2 until :attr:`Session.is_ended`. :meth:`Session.cancel`
may be called at any moment from any thread. Every method reads the time
from the clock port once, so a fake clock makes a session exactly
reproducible.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ParamSpec

import attrs

from .adaptive import Pace, adaptive_wait, error_wait, learn_pace
from .answers import (
    Answer,
    Failed,
    Message,
    Readable,
    Reply,
    canonical,
    classify,
    classify_trigger,
)
from .errors import SessionError
from .events import (
    MessagesDelivered,
    PollAnswered,
    PollFailed,
    PollScheduled,
    PollSent,
    SessionEnded,
    StateChanged,
)
from .machine import PollMachine
from .machine_table import MACHINE_KINDS, TableMachine
from .outcomes import EndReason, Outcome, Verdict
from .policy import Policy
from .ports import Clock, Observer
from .profile import REFERENCE_PROFILE, Profile, StatusKind
from .rules import (
    Schedule,
    backoff_wait,
    clamp_hint,
    clock_slack,
    detect_progress,
    jittered_wait,
    judge_poll,
    next_send_time,
)
from .updates import UpdateStream

__all__ = ["Session", "SessionView", "Statistics"]

logger = logging.getLogger("pollwise.engine")
_P = ParamSpec("_P")


@attrs.frozen
class Statistics:
    """Counters of a session, as one immutable record."""

    polls: int
    failed_polls: int
    messages: int
    elapsed: float


@attrs.frozen
class SessionView:
    """Everything a UI needs to draw a session, frozen at one moment."""

    #: the machine's state name ("idle", "backoff", "polling", or final)
    state: str
    #: whether generation is still active: show the indicator
    active: bool
    #: every message delivered so far, in order
    messages: tuple[Message, ...]
    #: when the next poll goes out (seconds since t = 0), or None
    next_poll_at: float | None
    #: the outcome once ended
    outcome: Outcome | None
    reason: EndReason | None
    detail: str
    #: seconds since t = 0 (frozen at the end once ended)
    elapsed: float
    statistics: Statistics
    #: events emitted so far; a UI that polls :meth:`Session.view` on a timer
    #: redraws only when it changed
    version: int = 0


def _history_key(message_id: object) -> tuple[str, str]:
    return ("id", canonical(message_id))


class Session:
    """A progressive-polling session for one job.

    Args:
        clock: the clock port; all times are read from it.
        policy: the schedule and the stop rules (the contract's defaults).
        profile: where status, messages and ids are in a body.
        history: ids of messages known before the trigger; never new.
        observers: told of every event, in order.
        machine: ``"declarative"`` (the default) runs the
            :class:`PollMachine` itself; ``"table"`` runs a transition
            table compiled from it (:mod:`pollwise.engine.machine_table`),
            which decides the same and costs far less: for simulations,
            replays and many sessions in one process.

    The methods that drive the session are for runners; code that embeds
    pollwise uses a runner, :meth:`view`, :meth:`cancel` and observers.
    Thread safety: :meth:`view`, :meth:`cancel`, :meth:`updates`, the
    observer methods and the read-only properties may be called from any
    thread at any time; the driving methods belong to the one thread or
    task that runs the session.
    """

    def __init__(
        self,
        clock: Clock,
        policy: Policy | None = None,
        profile: Profile | None = None,
        *,
        history: Iterable[object] = (),
        observers: Sequence[Observer] = (),
        machine: str = "declarative",
    ) -> None:
        if machine not in MACHINE_KINDS:
            raise SessionError(
                f"machine must be one of {', '.join(MACHINE_KINDS)}, got {machine!r}"
            )
        self.clock = clock
        self.policy = policy if policy is not None else Policy()
        self.profile = profile if profile is not None else REFERENCE_PROFILE
        self._observers = list(observers)
        self._lock = threading.RLock()
        #: set when the session ends, so a sleeping runner wakes at once
        self.ended_event = threading.Event()
        self._machine: PollMachine | TableMachine = (
            PollMachine() if machine == "declarative" else TableMachine()
        )
        # Made at the first jittered wait: a generator is 2.5 KiB, which
        # thousands of sessions without jitter need not carry.
        self._rng: random.Random | None = None
        self._origin: float | None = None
        self._runner_claimed = False
        #: the wall clock at t = 0; an HTTP-date hint is read against it plus
        #: the session's time, which keeps the session's precision
        self._wall_origin = 0.0
        self._seen: set[tuple[str, str]] = {_history_key(i) for i in history}
        self._delivered: list[Message] = []
        self._progress_value: Any = None
        self._progress_value_seen = False
        self._warned_statuses: set[str] = set()
        self._polls = 0
        self._failed_polls = 0
        self._consecutive_errors = 0
        self._no_progress_polls = 0
        self._last_progress = 0.0
        self._next_poll_at: float | None = None
        self._poll_sent_at: float | None = None
        self._ended_at: float | None = None
        self._verdict: Verdict | None = None
        #: adaptive mode: the pace learned so far, and the send time of the
        #: last readable poll (new messages arrived after it)
        self._pace = Pace()
        self._last_readable_sent = 0.0
        self._version = 0

    # -- reading ----------------------------------------------------------

    @property
    def state(self) -> str:
        """The machine's current state name."""
        return self._machine.state_name

    @property
    def is_ended(self) -> bool:
        """Whether the session reached a final state."""
        return self._machine.is_final

    @property
    def outcome(self) -> Outcome | None:
        """The final state as an :class:`Outcome`, None while running."""
        return Outcome(self.state) if self.is_ended else None

    @property
    def verdict(self) -> Verdict | None:
        """The rule that ended the session, None while running."""
        return self._verdict

    @property
    def ended_at(self) -> float | None:
        """When the session ended (seconds since t = 0)."""
        return self._ended_at

    @property
    def version(self) -> int:
        """How many events the session has emitted so far."""
        return self._version

    @property
    def next_poll_at(self) -> float | None:
        """Send time of the next poll, while waiting for it."""
        return self._next_poll_at if self.state == "backoff" else None

    @property
    def machine(self) -> PollMachine | TableMachine:
        """The state machine (read it; drive the session through its methods)."""
        return self._machine

    def elapsed(self) -> float:
        """Seconds since t = 0, frozen at the end."""
        with self._lock:
            if self._ended_at is not None:
                return self._ended_at
            if self._origin is None:
                return 0.0
            return self.clock.now() - self._origin

    def statistics(self) -> Statistics:
        """Counters so far, as an immutable record."""
        with self._lock:
            return Statistics(
                polls=self._polls,
                failed_polls=self._failed_polls,
                messages=len(self._delivered),
                elapsed=self.elapsed(),
            )

    def view(self) -> SessionView:
        """A frozen snapshot for a UI; safe from any thread."""
        with self._lock:
            verdict = self._verdict
            return SessionView(
                state=self.state,
                active=not self.is_ended,
                messages=tuple(self._delivered),
                next_poll_at=self.next_poll_at,
                outcome=self.outcome,
                reason=verdict.reason if verdict else None,
                detail=verdict.detail if verdict else "",
                elapsed=self.elapsed(),
                statistics=self.statistics(),
                version=self._version,
            )

    def add_observer(self, observer: Observer) -> None:
        """Start telling ``observer`` of every later event."""
        with self._lock:
            self._observers.append(observer)

    def remove_observer(self, observer: Observer) -> None:
        """Stop telling ``observer`` of events; nothing when it was not added."""
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    def updates(self) -> UpdateStream:
        """Follow this session as frozen :class:`~pollwise.engine.updates.Update`
        values, one reader per stream; safe from any thread.

        Iterate it with ``async for`` or ``for``; it ends after the update
        that shows the session ended (at once if it already had).
        """
        with self._lock:
            return UpdateStream(self)

    # -- driving (for runners) ----------------------------------------------

    def begin(self, trigger: Reply | None) -> None:
        """Take the trigger's reply; t = 0 is now.

        Args:
            trigger: the trigger's reply, or None when there was no trigger
                (polling a job someone else started).

        Raises:
            SessionError: the session was already begun.
        """
        with self._lock:
            if self.is_ended:
                return
            if self.state != "idle":
                raise SessionError(f"begin() called in state {self.state!r}")
            self._origin = self.clock.now()
            self._wall_origin = self.clock.wall_time()
            verdict: Verdict | None = None
            schedule: Schedule | None = None
            hint: float | None = None
            if trigger is not None:
                answer = classify_trigger(trigger, self._wall_origin)
                hint = answer.hint
                if isinstance(answer, Failed):
                    verdict = Verdict(EndReason.TRIGGER_FAILED, answer.reason)
            if verdict is None:
                # "The first poll is sent at t = initial_delay, or later": the
                # contract jitters backoff waits, never the first one.
                wait = self.policy.initial_delay
                schedule = next_send_time(
                    self.policy, 0.0, wait, clamp_hint(self.policy, hint), 0.0
                )
                if schedule is None:
                    verdict = self._hint_past_deadline(hint)
            self._transition("trigger_answered", 0.0, verdict, schedule)

    def start_poll(self) -> float | None:
        """Mark the poll as sent now; returns the request's timeout.

        Returns None when the session has ended meanwhile (a cancel won),
        in which case nothing may be sent.
        """
        with self._lock:
            if self.is_ended:
                return None
            if self.state != "backoff":
                raise SessionError(f"start_poll() called in state {self.state!r}")
            now = self._now()
            due = self._next_poll_at
            if due is not None and due - clock_slack(due) <= now < due:
                # The runner woke at the due clock reading; origin arithmetic
                # may read it one rounding error early.
                now = due
            self._polls += 1
            self._poll_sent_at = now
            request_timeout = max(
                0.0, min(self.policy.request_timeout, self.policy.timeout - now)
            )
            self._transition("poll_sent", now, None, None)
            if self.is_ended:
                return None  # an observer cancelled on the state change
            self._emit(
                "poll_sent",
                PollSent,
                at=now,
                number=self._polls,
                request_timeout=request_timeout,
            )
            if self.is_ended:
                return None  # an observer cancelled on hearing of the send
            return request_timeout

    def end_poll(self, reply: Reply) -> None:
        """Take the poll's reply (or transport failure) and decide what follows.

        A reply that arrives after the session ended (it was cancelled while
        the request was in flight) is dropped unread.
        """
        with self._lock:
            if self.is_ended:
                return
            if self.state != "polling":
                raise SessionError(f"end_poll() called in state {self.state!r}")
            now = self._now()
            if self._poll_sent_at is not None:
                now = max(now, self._poll_sent_at)
            answer = classify(reply, self.profile, self._wall_origin, now)
            self._take_answer(answer, now)

    def cancel(self, *, detail: str = "cancelled by the user") -> bool:
        """End the session as cancelled, now; safe from any thread.

        An in-flight request is abandoned (its reply will be dropped) and no
        request follows. Returns False when the session had already ended.

        Args:
            detail: why, as the view and the end event tell it ("window
                closed"); a runner that stops on an exception says which.
        """
        with self._lock:
            if self.is_ended:
                return False
            if self._origin is None:
                self._origin = self.clock.now()
            verdict = Verdict(EndReason.CANCELLED, detail)
            self._transition("cancel_requested", self._now(), verdict, None)
            return True

    def claim_runner(self) -> None:
        """Mark the session as driven by a runner; the runners call it first.

        Raises:
            SessionError: a runner already drives (or drove) this session. A
                second runner would send a second trigger and, on the error,
                cancel the run of the first.
        """
        with self._lock:
            if self._runner_claimed:
                raise SessionError("a runner already drives this session")
            self._runner_claimed = True

    # -- internals ---------------------------------------------------------

    def _now(self) -> float:
        assert self._origin is not None
        return self.clock.now() - self._origin

    def _hint_past_deadline(self, hint: float | None) -> Verdict:
        return Verdict(
            EndReason.HINT_PAST_DEADLINE,
            f"server asked to wait {hint:g}s, past the timeout of "
            f"{self.policy.timeout:g}s",
        )

    def _take_answer(self, answer: Answer, now: float) -> None:
        number = self._polls
        progress = detect_progress(
            answer, self._seen, self._progress_value, self._progress_value_seen
        )
        self._progress_value = progress.progress_value
        self._progress_value_seen = progress.progress_value_seen
        if isinstance(answer, Readable):
            self._consecutive_errors = 0
            self._warn_unknown_status(answer)
        else:
            self._consecutive_errors += 1
            self._failed_polls += 1
        if progress.has_progress:
            self._last_progress = now
        if isinstance(answer, Readable) and self.policy.mode == "adaptive":
            # The answer shows the server as it was at some moment between
            # the send and now: what it brought arrived after the previous
            # readable poll was sent, and by now at the latest.
            sent = self._poll_sent_at if self._poll_sent_at is not None else now
            count = len(progress.new_messages) or int(progress.has_progress)
            self._pace = learn_pace(self._pace, self._last_readable_sent, now, count)
            self._last_readable_sent = sent
        if progress.has_progress and self.policy.reset_on_progress:
            self._no_progress_polls = 0
        else:
            self._no_progress_polls += 1

        if isinstance(answer, Readable):
            self._emit(
                "poll_answered",
                PollAnswered,
                now,
                number,
                answer,
                progress.has_progress,
            )
        else:
            self._emit("poll_failed", PollFailed, now, number, answer)
            logger.debug("poll %d failed at %.3fs: %s", number, now, answer.reason)
        if self.is_ended:
            return  # an observer cancelled: nothing follows the end
        if progress.new_messages:
            for message in progress.new_messages:
                self._seen.add(message.key)
            self._delivered.extend(progress.new_messages)
            self._emit(
                "messages_delivered", MessagesDelivered, now, progress.new_messages
            )

        if self.is_ended:
            return  # an observer cancelled while hearing of this answer
        verdict = judge_poll(
            self.policy,
            answer,
            ended_at=now,
            consecutive_errors=self._consecutive_errors,
            polls_sent=self._polls,
            last_progress=self._last_progress,
        )
        schedule: Schedule | None = None
        if verdict is None:
            wait = self._unjittered_wait(now)
            if self.policy.jitter != "none":
                if self._rng is None:
                    self._rng = random.Random(self.policy.seed)
                wait = jittered_wait(self.policy, wait, self._rng)
            hint = clamp_hint(self.policy, answer.hint)
            schedule = next_send_time(self.policy, now, wait, hint, self._last_progress)
            if schedule is None:
                verdict = self._hint_past_deadline(answer.hint)
        self._transition("poll_ended", now, verdict, schedule)

    def _unjittered_wait(self, now: float) -> float:
        policy = self.policy
        if policy.mode != "adaptive":
            return backoff_wait(policy, self._no_progress_polls)
        wait = adaptive_wait(self._pace, now, policy.target_latency, policy.max_delay)
        if self._consecutive_errors:
            # A server in trouble is polled less with every failure in a row,
            # linearly: the session rides out a short outage without failing
            # on max_consecutive_errors and sees the first answer soon after.
            wait = max(
                wait, error_wait(policy.target_latency, self._consecutive_errors)
            )
        return min(policy.max_delay, wait)

    def _warn_unknown_status(self, answer: Readable) -> None:
        if answer.status_kind is not StatusKind.UNKNOWN:
            return
        status = answer.status
        key = status.casefold() if isinstance(status, str) else repr(status)
        if key in self._warned_statuses:
            return
        self._warned_statuses.add(key)
        logger.warning(
            "status %r is in none of the profile's lists; treated as in progress",
            answer.status,
        )

    def _transition(
        self,
        event: str,
        now: float,
        verdict: Verdict | None,
        schedule: Schedule | None,
    ) -> None:
        source = self.state
        self._machine.send(event, verdict=verdict)
        target = self.state
        logger.debug("%s at %.3fs: %s -> %s", event, now, source, target)
        ended_here = self.is_ended
        if ended_here:
            # Recorded before any event, so that an observer reading the
            # view sees a final state together with its verdict.
            assert verdict is not None
            self._verdict = verdict
            self._ended_at = now
            self._next_poll_at = None
        if ended_here:
            assert verdict is not None
            try:
                if source != target:
                    self._emit("state_changed", StateChanged, now, source, target)
            finally:
                # Even when an observer raised KeyboardInterrupt: every other
                # one (an update stream's reader) must hear of the end.
                self.ended_event.set()
                self._emit(
                    "session_ended",
                    SessionEnded,
                    now,
                    verdict.outcome,
                    verdict.reason,
                    verdict.detail,
                )
            return
        if source != target:
            self._emit("state_changed", StateChanged, now, source, target)
        if self.is_ended:
            return  # an observer cancelled from state_changed; that said it all
        if schedule is not None:
            self._next_poll_at = schedule.at
            self._emit(
                "poll_scheduled",
                PollScheduled,
                now,
                schedule,
                self._no_progress_polls,
            )

    def _emit(
        self,
        method: str,
        make: Callable[_P, object],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> None:
        """Tell the observers of an event made by ``make(*args, **kwargs)``.

        The event is made only when someone listens: a session nobody
        observes (replay, simulation, many sessions) skips the work.
        """
        self._version += 1
        if not self._observers:
            return
        event = make(*args, **kwargs)
        interrupted: BaseException | None = None
        for observer in tuple(self._observers):
            callback = getattr(observer, method, None)
            if callback is None:
                continue
            try:
                callback(event)
            except Exception:
                logger.exception("observer %r raised in %s", observer, method)
            except BaseException as exc:  # KeyboardInterrupt, SystemExit
                # It goes on to the runner, but only once every observer
                # has heard of the event.
                interrupted = interrupted or exc
        if interrupted is not None:
            raise interrupted

    def sleep_target(self) -> float | None:
        """The clock reading at which the next poll is due (for runners)."""
        with self._lock:
            if self._origin is None or self.next_poll_at is None:
                return None
            return self._origin + self.next_poll_at
