"""Whole sessions on a fake clock against scripted backends.

The property tests generate policies and backend timelines and check each
run against the contract: step by step through the event log (arbitrary
floats), and against an exact model of the contract (on a quarter-second
grid, where float arithmetic is exact and a comparison within 1e-9 is
meaningful).
"""

from __future__ import annotations

import json
import logging
import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import example, given
from strategies import (
    POISON,
    WALL,
    BoundedApi,
    Case,
    HintSpec,
    ReplySpec,
    Run,
    canonical_json,
    entry_for,
    float_cases,
    grid_cases,
    identity,
    message_key,
    status_kind,
)

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.scenario import BackendEntry
from pollwise.adapters.simulate import simulate
from pollwise.engine.answers import (
    Answer,
    Failed,
    FailureKind,
    Fatal,
    Readable,
    Response,
)
from pollwise.engine.errors import SessionError
from pollwise.engine.events import (
    MessagesDelivered,
    PollAnswered,
    PollFailed,
    PollScheduled,
    PollSent,
    SessionEnded,
    StateChanged,
)
from pollwise.engine.outcomes import EndReason, Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.profile import Profile, StatusKind
from pollwise.engine.rules import rounding_slack
from pollwise.engine.runners import run_sync
from pollwise.engine.session import Session

# -- checking a run against the contract, step by step -----------------------------


def _backoff(policy: Policy, n: int) -> float:
    try:
        power = policy.initial_delay * policy.multiplier**n
    except OverflowError:
        return policy.max_delay
    return min(policy.max_delay, power)


def _jitter_band(policy: Policy, wait: float) -> tuple[float, float]:
    low = {
        "none": wait,
        "full": 0.0,
        "equal": wait / 2,
        "floored": min(policy.initial_delay, wait),
    }[policy.jitter]
    return low, wait


def _first_rule(
    policy: Policy,
    answer: Answer,
    t: float,
    errors: int,
    polls: int,
    lp: float,
    slack: float = 0.0,
) -> EndReason | None:
    """The six stop rules in the contract's order.

    A deadline counts as reached ``slack`` early: the schedule aims a poll
    exactly at a deadline, and reading the time back may round just short.
    """
    kind = answer.status_kind if isinstance(answer, Readable) else None
    rules = [
        (kind is StatusKind.DONE, EndReason.COMPLETED),
        (kind is StatusKind.FAILED, EndReason.SERVER_FAILED),
        (isinstance(answer, Fatal), EndReason.FATAL_ANSWER),
        (
            isinstance(answer, Failed) and errors >= policy.max_consecutive_errors,
            EndReason.TOO_MANY_ERRORS,
        ),
        (t >= policy.timeout - slack, EndReason.DEADLINE),
        (
            policy.max_polls is not None and polls >= policy.max_polls,
            EndReason.POLL_BUDGET,
        ),
        (
            policy.stall_after is not None and t >= lp + policy.stall_after - slack,
            EndReason.STALLED,
        ),
    ]
    return next((reason for holds, reason in rules if holds), None)


class LogChecker:
    """Walks a run's events and checks each against the contract."""

    def __init__(self, case: Case, run: Run) -> None:
        self.case, self.run, self.policy = case, run, case.policy
        timeout = self.policy.timeout
        self.eps = 1e-9 + 8 * math.ulp(case.start + timeout)
        self.seen = {("id", canonical_json(i)) for i in case.history}
        self.history = set(self.seen)
        self.n = self.errors = self.polls = 0
        self.last_progress = 0.0
        self.progress_value: str | None = None
        self.delivered: list[tuple[str, str]] = []
        self.next_at: float | None = None
        self.last_end = 0.0
        self.last_hint = 0.0
        self.request_timeout = 0.0

    def _trigger_hint(self) -> float:
        trigger = self.case.trigger
        if trigger is None:
            return 0.0
        value = trigger.hint.value(Fraction(WALL))
        return 0.0 if value is None else min(float(value), self.policy.max_retry_after)

    def check(self) -> SessionEnded:
        events = [
            e for e in self.run.recorder.events if not isinstance(e, StateChanged)
        ]
        ends = [e for e in events if isinstance(e, SessionEnded)]
        assert len(ends) == 1, "exactly one end"
        assert events[-1] is ends[0], "nothing follows the end"
        self._check_begin(events[0])
        index = 0
        while index < len(events):
            event = events[index]
            if isinstance(event, PollScheduled):
                self._check_schedule(event)
            elif isinstance(event, PollSent):
                self._check_sent(event)
            elif isinstance(event, PollAnswered | PollFailed):
                index = self._check_answer(event, events, index)
            else:
                assert isinstance(event, SessionEnded), f"unexpected {event!r}"
            index += 1
        return ends[0]

    def _check_begin(self, first: object) -> None:
        cancel_at, trigger = self.case.cancel_at, self.case.trigger
        # On a clock that does not start at 0, a cancel a hair after t = 0
        # may land on t = 0 itself: both are right.
        near_zero = cancel_at is not None and cancel_at <= self.eps
        if near_zero and isinstance(first, SessionEnded):
            assert first.reason is EndReason.CANCELLED
            return
        if cancel_at == 0.0:
            expected: EndReason | None = EndReason.CANCELLED
        elif trigger is not None and trigger.kind != "readable":
            expected = EndReason.TRIGGER_FAILED
        elif self._trigger_hint() > self.policy.timeout:
            expected = EndReason.HINT_PAST_DEADLINE
        else:
            assert isinstance(first, PollScheduled)
            self.last_hint = self._trigger_hint()
            assert first.schedule.hint == pytest.approx(self.last_hint, abs=1e-6)
            return
        assert isinstance(first, SessionEnded)
        assert (first.reason, first.at) == (expected, 0.0)

    def _check_schedule(self, event: PollScheduled) -> None:
        policy, schedule = self.policy, event.schedule
        assert event.no_progress_polls == self.n
        if self.polls:
            low, high = _jitter_band(policy, _backoff(policy, self.n))
            assert (
                low * (1 - 1e-9) - 1e-12 <= schedule.wait <= high * (1 + 1e-9) + 1e-12
            )
            assert schedule.hint == self.last_hint
        else:
            # "The first poll is sent at t = initial_delay, or later": only
            # backoff waits are jittered.
            assert schedule.wait == policy.initial_delay
        stall = (
            math.inf
            if policy.stall_after is None
            else self.last_progress + policy.stall_after
        )
        t, w, h = self.last_end, schedule.wait, schedule.hint
        assert schedule.at == max(min(t + w, stall, policy.timeout), t + h)
        assert schedule.at - t <= max(policy.max_delay, h) * (1 + 1e-12) + self.eps
        assert schedule.at <= policy.timeout
        self.next_at = schedule.at

    def _check_kind(self, event: PollAnswered | PollFailed) -> None:
        """The answer is of the kind the contract gives the scripted reply."""
        sent = self.run.requests[self.polls - 1]
        # Instants a rounding apart are one (the README's choices): an entry
        # a rounding after the send answers it, and a latency a rounding over
        # the request timeout is within it.
        spec = entry_for(self.case.timeline, sent + rounding_slack(sent))
        answer = event.answer
        timeout = self.request_timeout + rounding_slack(sent + self.request_timeout)
        if spec.error is FailureKind.TIMEOUT or spec.latency > timeout:
            assert isinstance(answer, Failed), "no answer within the request timeout"
            return
        expected = {"readable": Readable, "failed": Failed, "fatal": Fatal}[spec.kind]
        assert type(answer) is expected
        if isinstance(answer, Readable):
            keys = [message_key(m, i) for i, m in enumerate(spec.messages)]
            assert [identity(m) for m in answer.messages] == keys
            assert answer.status_kind.value == status_kind(spec.status)
            if self.case.progress_path:
                assert answer.progress_value == spec.progress

    def _check_sent(self, event: PollSent) -> None:
        assert self.next_at is not None, "a poll is sent only when one is due"
        assert abs(event.at - self.next_at) <= self.eps
        assert event.at <= self.policy.timeout + self.eps
        self.polls += 1
        assert event.number == self.polls
        limit = min(self.policy.request_timeout, self.policy.timeout - event.at)
        assert event.request_timeout == pytest.approx(max(0.0, limit), abs=self.eps)
        self.request_timeout = event.request_timeout
        self.next_at = None

    def _check_answer(
        self, event: PollAnswered | PollFailed, events: list[Any], index: int
    ) -> int:
        self._check_kind(event)
        policy, t = self.policy, event.at
        answer = event.answer
        fresh: list[tuple[str, str]] = []
        progress = False
        if isinstance(answer, Readable):
            assert isinstance(event, PollAnswered)
            self.errors = 0
            for message in answer.messages:
                key = identity(message)
                if key not in self.seen and key not in fresh:
                    fresh.append(key)
            value = answer.progress_value
            if self.case.progress_path and value is not None:
                text = canonical_json(value)
                if self.progress_value is not None and text != self.progress_value:
                    progress = True
                self.progress_value = text
            progress = progress or bool(fresh)
            assert event.has_progress is progress
        else:
            self.errors += 1
        if progress:
            self.last_progress = t
        self.n = 0 if progress and policy.reset_on_progress else self.n + 1
        self.seen.update(fresh)
        self.last_end = t
        hint = answer.hint
        self.last_hint = 0.0 if hint is None else min(hint, policy.max_retry_after)

        following = events[index + 1]
        if fresh:
            assert isinstance(following, MessagesDelivered), "new messages delivered"
            assert [identity(m) for m in following.messages] == fresh
            assert following.at == t
            assert POISON not in [m.label for m in following.messages]
            self.delivered.extend(fresh)
            index += 1
            following = events[index + 1]
        else:
            assert not isinstance(following, MessagesDelivered)

        # Exactly on a deadline, in floats, either reading is the contract's.
        allowed = set()
        for slack in (0.0, self.eps):
            reason = _first_rule(
                policy, answer, t, self.errors, self.polls, self.last_progress, slack
            )
            if reason is None and t + self.last_hint > policy.timeout + slack:
                reason = EndReason.HINT_PAST_DEADLINE
            allowed.add(reason)
        if isinstance(following, SessionEnded):
            assert following.reason in allowed
            assert following.at == t
        else:
            assert isinstance(following, PollScheduled)
            assert None in allowed
        return index


def check_run(case: Case, run: Run) -> None:
    """Every promise of the contract that one run can show."""
    session, policy = run.session, case.policy
    end = LogChecker(case, run).check()
    eps = 1e-9 + 8 * math.ulp(case.start + policy.timeout)

    # A session always ends, by the timeout at the latest.
    assert session.is_ended
    assert session.ended_at == end.at
    assert end.at <= policy.timeout + eps
    # No request after the end; none past the timeout.
    sent = run.recorder.of(PollSent)
    assert run.api.after_end == 0
    assert len(run.requests) == len(sent)
    assert all(at <= policy.timeout + eps for at in run.requests)
    # A cancel ends the session at its time, unless it had ended before.
    if case.cancel_at is not None and not run.api.runaway:
        if end.outcome is Outcome.CANCELLED:
            assert end.at == pytest.approx(case.cancel_at, abs=eps)
        else:
            assert end.at <= case.cancel_at + eps
    # Every message exactly once; history and failed answers never.
    keys = [identity(m) for e in run.recorder.of(MessagesDelivered) for m in e.messages]
    history = {("id", canonical_json(i)) for i in case.history}
    assert len(keys) == len(set(keys))
    assert not history & set(keys)
    first_listed: list[tuple[str, str]] = []
    for answered in run.recorder.of(PollAnswered):
        for message in answered.answer.messages:
            key = identity(message)
            if key not in history and key not in first_listed:
                first_listed.append(key)
    assert keys == first_listed

    view = session.view()
    assert not view.active
    assert view.next_poll_at is None
    assert (view.outcome, view.reason) == (end.outcome, end.reason)
    assert [identity(m) for m in view.messages] == keys
    assert view.statistics.polls == len(sent)
    assert view.statistics.failed_polls == len(run.recorder.of(PollFailed))

    # After the end, driving the session does nothing at all.
    count = len(run.recorder.events)
    assert session.start_poll() is None
    session.end_poll(
        Response(200, (), b'{"status": "complete", "messages": [{"id": 1}]}')
    )
    assert session.cancel() is False
    assert len(run.recorder.events) == count
    assert session.view() == view


# -- properties ----------------------------------------------------------------------


@given(float_cases())
def test_every_session_keeps_the_contracts_promises_with_either_runner(
    case: Case,
) -> None:
    """Arbitrary policies and backends: the run obeys the contract at each step.

    It ends by the timeout; sends nothing after its end or past the timeout;
    waits follow the send-time formula (with jitter inside its band and
    waits above max_delay only for a clamped hint); the stop rules apply in
    order; every message is delivered once, in the order the API first
    listed it, never from a failed poll or the history. The async runner
    makes the very same decisions, event for event.
    """
    sync = case.drive("sync")
    check_run(case, sync)

    asynchronous = case.drive("async")
    assert asynchronous.recorder.events == sync.recorder.events
    assert asynchronous.requests == sync.requests


def _same_labels(left: Any, right: Any) -> bool:
    return canonical_json(list(left)) == canonical_json(list(right))


@given(grid_cases())
def test_runs_match_an_exact_model_of_the_contract(case: Case) -> None:
    """On the quarter-second grid, a run is exactly what the contract says.

    Outcome, reason and end time; every schedule announced and every
    request's send time (so every wait of the backoff formula, within
    1e-9); the messages delivered, in order; and ``simulate`` gives the same
    with either runner.
    """
    expected = case.model()

    run = case.drive()
    result = simulate(case.scenario())

    announced = [e.schedule.at for e in run.recorder.of(PollScheduled)]
    assert announced == pytest.approx([float(t) for t in expected.scheduled], abs=1e-9)
    assert (result.outcome, result.reason) == (expected.outcome, expected.reason)
    assert result.ended_at == pytest.approx(float(expected.ended_at), abs=1e-9)
    assert result.request_times == pytest.approx(
        [float(t) for t in expected.request_times], abs=1e-9
    )
    delivered = [
        identity(m) for e in run.recorder.of(MessagesDelivered) for m in e.messages
    ]
    assert delivered == [key for key, _ in expected.delivered]
    assert _same_labels(result.messages, [label for _, label in expected.delivered])
    assert simulate(case.scenario(), runner="async") == result
    check_run(case, run)


STILL_POLLING = b'{"status": "generating", "messages": [{"id": "m1"}]}'

#: progress at 13, then quiet: the stall deadline 13 + 15.4 is 28.4, but in
#: floats 28.4 - 13 is 15.399999999999999, just short of stall_after
STALL_EDGE = Case(
    policy=Policy(initial_delay=13.0, max_delay=13.0, stall_after=15.4, max_polls=40),
    timeline=(
        (0.0, ReplySpec(kind="readable", content=b'{"status": "generating"}')),
        (13.0, ReplySpec(kind="readable", content=STILL_POLLING)),
    ),
)


@given(float_cases(jitters=("none", "equal", "floored")))
@example(STALL_EDGE)
def test_the_next_poll_is_sent_strictly_after_the_previous_one_ended(
    case: Case,
) -> None:
    """In the contract every term of the send time lies after t: t + w with
    w > 0, a deadline that has not passed (else a stop rule ends the session),
    or t + h. So no two polls are ever sent at one instant."""
    run = case.drive()

    ends = [
        e.at for e in run.recorder.events if isinstance(e, PollAnswered | PollFailed)
    ]
    sends = [e.at for e in run.recorder.of(PollSent)]
    assert not run.api.runaway
    for ended, sent in zip(ends, sends[1:], strict=False):
        assert sent > ended


def test_a_poll_exactly_on_the_stall_deadline_ends_the_session_as_stalled() -> None:
    """Stop rule 6: "t - last_progress >= stall_after: stalled", checked at
    the deadline the schedule aimed at ("one last check exactly on it")."""
    run = STALL_EDGE.drive()

    assert run.session.outcome is Outcome.STALLED
    assert run.requests == [13.0, 26.0, 28.4]


def test_a_poll_exactly_on_the_timeout_ends_the_session_on_any_clock() -> None:
    """Stop rule 5 "t >= timeout: timed_out", whatever the clock's origin."""
    clock = FakeClock(start=204696.144)
    session = Session(clock, Policy(timeout=175.06, stall_after=None, max_polls=40))
    entry = BackendEntry(at=0, body=b'{"status": "running"}')
    api = BoundedApi([entry], clock)

    run_sync(session, api)

    assert session.verdict is not None
    assert session.verdict.reason is EndReason.DEADLINE
    assert sum(1 for t in api.requests if t > 175.0) == 1


# -- examples ------------------------------------------------------------------------


def _readable(document: object, **extra: Any) -> ReplySpec:
    return ReplySpec(kind="readable", content=json.dumps(document).encode(), **extra)


def test_the_contracts_worked_example() -> None:
    """t=1, 3, 4, 6 (a 429 with Retry-After 3 answering at 6.2), done at 10.2."""
    case = Case(
        policy=Policy(timeout=60.0, stall_after=20.0),
        timeline=(
            (0.0, _readable({"status": "generating", "messages": []})),
            (2.5, _readable({"status": "generating", "messages": [{"id": "m1"}]})),
            (
                6.0,
                ReplySpec(
                    kind="failed",
                    http_status=429,
                    content=b'{"error": "slow down"}',
                    hint=HintSpec((("Retry-After", "3"),)),
                    latency=0.2,
                ),
            ),
            (
                9.0,
                _readable(
                    {"status": "complete", "messages": [{"id": "m1"}, {"id": "m2"}]}
                ),
            ),
        ),
    )

    run = case.drive()

    assert run.requests == pytest.approx([1.0, 3.0, 4.0, 6.0, 10.2])
    assert run.session.outcome is Outcome.DONE
    assert run.session.ended_at == pytest.approx(10.2)
    assert [m.label for m in run.session.view().messages] == ["m1", "m2"]


RUNNING_BODY = {"status": "running", "messages": []}
UNAVAILABLE = ReplySpec(kind="failed", http_status=503, content=b"{}")


@pytest.mark.parametrize(
    ("changes", "timeline", "reason", "requests"),
    [
        pytest.param(
            {"timeout": 10.0, "stall_after": 10.0},
            ((0.0, _readable(RUNNING_BODY)),),
            EndReason.DEADLINE,
            [1.0, 3.0, 7.0, 10.0],
            id="timeout before stall",
        ),
        pytest.param(
            {"timeout": 10.0, "stall_after": 10.0},
            ((0.0, _readable(RUNNING_BODY)), (9.0, _readable({"status": "done"}))),
            EndReason.COMPLETED,
            [1.0, 3.0, 7.0, 10.0],
            id="complete before timeout and stall",
        ),
        pytest.param(
            {"max_polls": 2},
            ((0.0, _readable(RUNNING_BODY)), (2.0, _readable({"status": "Expired"}))),
            EndReason.SERVER_FAILED,
            [1.0, 3.0],
            id="server failure before poll budget",
        ),
        pytest.param(
            {"stall_after": 3.0},
            (
                (0.0, _readable(RUNNING_BODY)),
                (2.0, ReplySpec(kind="fatal", http_status=404)),
            ),
            EndReason.FATAL_ANSWER,
            [1.0, 3.0],
            id="fatal before stall",
        ),
        pytest.param(
            {"timeout": 7.0, "max_consecutive_errors": 3},
            ((0.0, UNAVAILABLE),),
            EndReason.TOO_MANY_ERRORS,
            [1.0, 3.0, 7.0],
            id="errors before timeout",
        ),
        pytest.param(
            {"max_polls": 3, "stall_after": 7.0},
            ((0.0, _readable(RUNNING_BODY)),),
            EndReason.POLL_BUDGET,
            [1.0, 3.0, 7.0],
            id="poll budget before stall",
        ),
        pytest.param(
            {"timeout": 30.0, "stall_after": None, "max_consecutive_errors": 2},
            (
                (0.0, UNAVAILABLE),
                (2.0, _readable(RUNNING_BODY)),
                (5.0, UNAVAILABLE),
            ),
            EndReason.TOO_MANY_ERRORS,
            [1.0, 3.0, 7.0, 15.0],
            id="a readable answer resets the errors in a row",
        ),
    ],
)
def test_when_several_stop_rules_hold_the_first_one_ends_the_session(
    changes: dict[str, Any],
    timeline: tuple[tuple[float, ReplySpec], ...],
    reason: EndReason,
    requests: list[float],
) -> None:
    """After every poll, the first rule that holds ends the session."""
    run = Case(policy=Policy(**changes), timeline=timeline).drive()

    assert run.session.verdict is not None
    assert run.session.verdict.reason is reason
    assert run.requests == requests
    assert run.session.ended_at == requests[-1]


@pytest.mark.parametrize(
    ("retry_after", "requests", "reason"),
    [
        ("5", [5.0, 7.0, 11.0], EndReason.DEADLINE),
        ("0.5", [1.0, 3.0, 7.0, 11.0], EndReason.DEADLINE),
        ("11", [11.0], EndReason.DEADLINE),
        ("12", [], EndReason.HINT_PAST_DEADLINE),
    ],
)
def test_the_first_poll_waits_out_the_triggers_hint(
    retry_after: str, requests: list[float], reason: EndReason
) -> None:
    """The first poll goes at initial_delay, or later if the trigger's answer
    carried a hint; a hint past the timeout ends the session at once."""
    case = Case(
        policy=Policy(timeout=11.0, stall_after=None),
        timeline=((0.0, _readable(RUNNING_BODY)),),
        trigger=ReplySpec(
            kind="readable",
            http_status=202,
            hint=HintSpec((("Retry-After", retry_after),)),
        ),
    )

    run = case.drive()

    assert run.requests == requests
    assert run.session.verdict is not None
    assert run.session.verdict.reason is reason


def test_a_hint_past_the_timeout_ends_the_session_at_the_poll_that_carried_it() -> None:
    """t + h > timeout: timed_out at t, with no further request."""
    case = Case(
        policy=Policy(timeout=20.0, max_retry_after=60.0),
        timeline=(
            (0.0, _readable(RUNNING_BODY)),
            (
                2.0,
                ReplySpec(
                    kind="failed",
                    http_status=429,
                    hint=HintSpec((("retry-after-ms", "17500"),)),
                    latency=0.5,
                ),
            ),
        ),
    )

    run = case.drive()

    assert run.requests == [1.0, 3.0]
    assert run.session.ended_at == 3.5
    assert run.session.verdict is not None
    assert run.session.verdict.reason is EndReason.HINT_PAST_DEADLINE


def test_history_messages_are_never_new() -> None:
    """Ids known before the trigger are neither delivered nor progress."""
    case = Case(
        policy=Policy(timeout=20.0, stall_after=6.0),
        timeline=((0.0, _readable({"status": "running", "messages": [{"id": "h"}]})),),
        history=("h",),
    )

    run = case.drive()

    assert run.recorder.of(MessagesDelivered) == []
    assert run.session.outcome is Outcome.STALLED
    assert run.requests == [1.0, 3.0, 6.0]


def test_a_status_only_api_shows_progress_through_its_progress_path() -> None:
    """provisioning -> initializing -> ready, with no messages at all."""
    profile = Profile(
        status_path="state",
        progress_path="state",
        running=["provisioning", "initializing"],
        done=["ready"],
    )
    clock = FakeClock()
    session = Session(clock, Policy(timeout=60.0, stall_after=5.0), profile)
    api = BoundedApi(
        [
            BackendEntry(at=0, body=b'{"state": "provisioning"}'),
            BackendEntry(at=2, body=b'{"state": "initializing"}'),
            BackendEntry(at=3.5, body=b"{}"),
            BackendEntry(at=5, body=b'{"state": "initializing"}'),
            BackendEntry(at=7, body=b'{"state": "Ready"}'),
        ],
        clock,
    )

    outcome = run_sync(session, api)

    # t=1 only sets the starting value (n=1, wait 2); t=3 it changed:
    # progress (wait 1); t=4 nothing found, which neither counts nor
    # replaces the value (wait 2); t=6 the same value again: no progress
    # (wait 4, cut to the stall deadline 3 + 5); t=8 "Ready": done.
    assert api.requests == [1.0, 3.0, 4.0, 6.0, 8.0]
    assert outcome is Outcome.DONE


def test_an_unknown_status_is_warned_once_and_never_polls_faster(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A status in none of the lists is in progress, reported once (in any case)."""
    case = Case(
        policy=Policy(timeout=16.0, stall_after=None),
        timeline=(
            (0.0, _readable({"status": "Thinking", "messages": []})),
            (5.0, _readable({"status": "THINKING", "messages": []})),
        ),
    )
    running = Case(
        policy=case.policy,
        timeline=((0.0, _readable({"status": "running", "messages": []})),),
    )

    with caplog.at_level(logging.WARNING, logger="pollwise"):
        run = case.drive()

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Thinking" in warnings[0].getMessage()
    assert run.requests == running.drive().requests == [1.0, 3.0, 7.0, 15.0, 16.0]


def test_a_failed_trigger_ends_the_session_at_once_without_a_poll() -> None:
    """The trigger is never retried: failed at t = 0, no request at all."""
    case = Case(
        policy=Policy(),
        timeline=((0.0, _readable({"status": "complete"})),),
        trigger=ReplySpec(kind="failed", http_status=503),
    )

    run = case.drive()

    assert run.requests == []
    assert run.session.verdict is not None
    assert run.session.verdict.reason is EndReason.TRIGGER_FAILED
    assert run.session.ended_at == 0.0


def test_a_304_is_no_news_and_the_backoff_keeps_growing() -> None:
    """A 304 keeps the previous answer: no progress, backoff grows."""
    case = Case(
        policy=Policy(timeout=10.0, stall_after=None),
        timeline=(
            (0.0, _readable({"status": "running", "messages": [{"id": "a"}]})),
            (2.0, ReplySpec(kind="readable", http_status=304)),
        ),
    )

    run = case.drive()

    # t=1 "a" is new (wait 1); t=2 304 (n=1, wait 2); t=4 304 (n=2, wait 4);
    # t=8 (n=3, wait 8, cut to the timeout) 10.
    assert run.requests == [1.0, 2.0, 4.0, 8.0, 10.0]


def test_begin_twice_is_a_session_error() -> None:
    """A session begins once."""
    session = Session(FakeClock())
    session.begin(None)

    with pytest.raises(SessionError, match="begin"):
        session.begin(None)


def test_start_poll_before_begin_is_a_session_error() -> None:
    """start_poll only in backoff."""
    session = Session(FakeClock())

    with pytest.raises(SessionError, match="start_poll"):
        session.start_poll()


def test_end_poll_without_a_poll_in_flight_is_a_session_error() -> None:
    """end_poll only while polling."""
    session = Session(FakeClock())
    session.begin(None)

    with pytest.raises(SessionError, match="end_poll"):
        session.end_poll(Response(200))


def test_a_session_cancelled_before_it_began_stays_cancelled() -> None:
    """A cancel before the trigger answered ends the session; begin is a no-op."""
    session = Session(FakeClock())

    assert session.cancel() is True
    session.begin(Response(202))

    assert session.outcome is Outcome.CANCELLED
    assert session.start_poll() is None
