"""The pure rules: backoff, jitter, hints, the send-time formula, the stop rules."""

from __future__ import annotations

import decimal
import math
import random
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from strategies import policies

from pollwise.engine.answers import Answer, Failed, Fatal, Message, Readable
from pollwise.engine.outcomes import EndReason, Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.profile import StatusKind
from pollwise.engine.rules import (
    backoff_wait,
    clamp_hint,
    detect_progress,
    jittered_wait,
    judge_poll,
    next_send_time,
    rounding_slack,
)

DEFAULTS = Policy()

# -- backoff ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "wait"),
    [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 8.0), (50, 8.0), (10**9, 8.0)],
)
def test_default_backoff_doubles_from_one_second_up_to_eight(
    n: int, wait: float
) -> None:
    """With the defaults, w = min(8, 1 * 2 ** n)."""
    assert backoff_wait(DEFAULTS, n) == wait


@pytest.mark.parametrize(
    ("changes", "n", "wait"),
    [
        ({"initial_delay": 0.5, "multiplier": 3.0, "max_delay": 100.0}, 3, 13.5),
        ({"multiplier": 1.0}, 10**6, 1.0),
        ({"initial_delay": 0.0, "max_delay": 0.0}, 7, 0.0),
        ({"initial_delay": 2.0, "max_delay": 2.0}, 5, 2.0),
        ({"multiplier": 1.5, "max_delay": 100.0}, 4, 5.0625),
        ({"multiplier": 1e6, "max_delay": 1e300}, 10**6, 1e300),
    ],
)
def test_backoff_is_min_of_max_delay_and_the_power(
    changes: dict[str, Any], n: int, wait: float
) -> None:
    """``w = min(max_delay, initial_delay * multiplier ** n)``."""
    assert backoff_wait(Policy(**changes), n) == wait


def test_default_polls_go_out_at_1_3_7_15_23_31() -> None:
    """The contract's worked schedule: no progress, deadlines far away."""
    policy = Policy(timeout=1000.0, stall_after=None)
    sends = []
    ended = 0.0
    schedule = next_send_time(policy, ended, policy.initial_delay, 0.0, 0.0)
    for n in range(1, 7):
        assert schedule is not None
        sends.append(schedule.at)
        ended = schedule.at
        schedule = next_send_time(policy, ended, backoff_wait(policy, n), 0.0, 0.0)

    assert sends == [1.0, 3.0, 7.0, 15.0, 23.0, 31.0]


def test_a_negative_poll_count_is_a_programming_error() -> None:
    """n counts polls; it is never negative."""
    with pytest.raises(ValueError, match="no_progress_polls"):
        backoff_wait(DEFAULTS, -1)


#: enough digits to tell the formula's value apart from any float neighbour
_EXACT = decimal.Context(prec=40, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def _exact_backoff(policy: Policy, n: int) -> decimal.Decimal:
    """``min(max_delay, initial_delay * multiplier ** n)`` to 40 digits."""
    initial = decimal.Decimal(policy.initial_delay)
    growth = decimal.Decimal(policy.multiplier)
    power = _EXACT.multiply(initial, _EXACT.power(growth, n))
    return min(decimal.Decimal(policy.max_delay), power)


@given(
    policy=policies(min_initial=1e-300, max_initial=1e6),
    n=st.integers(0, 10**6),
)
@example(policy=Policy(multiplier=1e6, max_delay=1e300), n=10**6)
@example(policy=Policy(initial_delay=1e-3, multiplier=1.0 + 1e-15), n=10**6)
@example(policy=Policy(initial_delay=3.0, multiplier=1.5, max_delay=3 * 1.5**40), n=40)
def test_backoff_never_overflows_and_follows_the_formula(
    policy: Policy, n: int
) -> None:
    """Huge n and multipliers: no error, never above max_delay, and the
    formula's value (computed independently, to 40 digits) to within
    floating-point rounding."""
    wait = backoff_wait(policy, n)

    assert math.isfinite(wait)
    assert policy.initial_delay <= wait <= policy.max_delay
    exact = _exact_backoff(policy, n)
    assert wait == pytest.approx(float(exact), rel=1e-9)


@pytest.mark.parametrize(
    ("initial", "cap", "growth", "n"),
    [(1e-10, 1e300, 1e6, 10**6), (1e-300, 1e300, 2.0, 10**6), (5e-324, 1.0, 2.0, 2000)],
)
def test_backoff_with_a_tiny_initial_delay_reaches_the_cap(
    initial: float, cap: float, growth: float, n: int
) -> None:
    """Even when max_delay / initial_delay overflows, a huge n gives max_delay."""
    policy = Policy(initial_delay=initial, max_delay=cap, multiplier=growth)

    assert backoff_wait(policy, n) == cap


@given(policy=policies(), n=st.integers(0, 10**5))
def test_without_progress_waits_never_shrink(policy: Policy, n: int) -> None:
    """One more poll without progress never makes the backoff wait shorter."""
    assert backoff_wait(policy, n + 1) >= backoff_wait(policy, n)


# -- jitter ----------------------------------------------------------------------


def _band(policy: Policy, wait: float) -> tuple[float, float]:
    low = {
        "none": wait,
        "full": 0.0,
        "equal": wait / 2,
        "floored": min(policy.initial_delay, wait),
    }[policy.jitter]
    return low, wait


@given(
    policy=policies(),
    wait=st.floats(0.0, 1e9),
    seed=st.integers(0, 2**64),
)
def test_jittered_waits_stay_in_their_band(
    policy: Policy, wait: float, seed: int
) -> None:
    """full: [0, w]; equal: [w/2, w]; floored: [min(initial_delay, w), w]."""
    low, high = _band(policy, wait)

    drawn = jittered_wait(policy, wait, random.Random(seed))

    assert low <= drawn <= high


@given(policy=policies(), waits=st.lists(st.floats(0.0, 1e6), max_size=20))
def test_jittered_waits_are_reproducible_from_the_seed(
    policy: Policy, waits: list[float]
) -> None:
    """Two generators seeded with the policy's seed draw the same waits."""
    first = random.Random(policy.seed)
    second = random.Random(policy.seed)

    assert [jittered_wait(policy, w, first) for w in waits] == [
        jittered_wait(policy, w, second) for w in waits
    ]


def test_no_jitter_draws_nothing() -> None:
    """ "none" returns w and leaves the generator untouched."""
    rng = random.Random(5)
    state = rng.getstate()

    assert jittered_wait(DEFAULTS, 4.0, rng) == 4.0
    assert rng.getstate() == state


@pytest.mark.parametrize("jitter", ["full", "equal", "floored"])
def test_jitter_spreads_over_its_band(jitter: str) -> None:
    """Jitter really draws: many draws cover both halves of the band."""
    policy = Policy(jitter=jitter, initial_delay=1.0, max_delay=8.0)  # type: ignore[arg-type]
    rng = random.Random(1)
    low, high = _band(policy, 8.0)
    draws = [jittered_wait(policy, 8.0, rng) for _ in range(200)]

    middle = (low + high) / 2
    assert any(d < middle for d in draws)
    assert any(d > middle for d in draws)


# -- hints and the send-time formula ---------------------------------------------


@pytest.mark.parametrize(
    ("hint", "expected"),
    [(None, 0.0), (0.0, 0.0), (5.0, 5.0), (60.0, 60.0), (61.0, 60.0)],
)
def test_clamp_hint_gives_zero_for_none_and_clamps_long_hints(
    hint: float | None, expected: float
) -> None:
    """No hint is h = 0; a readable one is min(hint, max_retry_after)."""
    assert clamp_hint(DEFAULTS, hint) == expected


@pytest.mark.parametrize(
    ("changes", "ended_at", "wait", "hint", "last_progress", "at", "why"),
    [
        ({}, 3.0, 4.0, 0.0, 0.0, 7.0, "backoff"),
        ({}, 6.2, 4.0, 3.0, 3.0, 10.2, "backoff"),
        ({}, 6.0, 2.0, 3.0, 3.0, 9.0, "hint"),
        ({"stall_after": 10.0}, 7.0, 8.0, 0.0, 0.0, 10.0, "stall deadline"),
        ({"timeout": 20.0}, 15.0, 8.0, 0.0, 14.0, 20.0, "timeout"),
        ({"timeout": 20.0}, 15.0, 8.0, 5.0, 14.0, 20.0, "timeout"),
        ({"stall_after": 10.0}, 7.0, 1.0, 5.0, 0.0, 12.0, "hint"),
    ],
)
def test_next_send_time_is_the_contracts_formula(
    changes: dict[str, Any],
    ended_at: float,
    wait: float,
    hint: float,
    last_progress: float,
    at: float,
    why: str,
) -> None:
    """``max(min(t + w, last_progress + stall_after, timeout), t + h)``."""
    schedule = next_send_time(Policy(**changes), ended_at, wait, hint, last_progress)

    assert schedule is not None
    assert schedule.at == pytest.approx(at)
    assert schedule.why == why


def test_a_hint_past_the_timeout_gives_no_send_time() -> None:
    """t + h > timeout: the session ends at t with no further request."""
    assert next_send_time(Policy(timeout=20.0), 15.0, 1.0, 5.5, 0.0) is None


def test_a_hint_landing_exactly_on_the_timeout_still_polls_there() -> None:
    """t + h == timeout is not past it: one last poll at the deadline."""
    schedule = next_send_time(Policy(timeout=20.0), 15.0, 1.0, 5.0, 14.0)

    assert schedule is not None
    assert schedule.at == 20.0


@st.composite
def schedule_inputs(draw: st.DrawFn) -> tuple[Policy, float, float, float, float]:
    """A policy and a moment after some poll: (policy, t, w, h, last_progress)."""
    policy = draw(policies(min_initial=1e-3, max_timeout=1e4))
    ended_at = draw(st.floats(0.0, policy.timeout))
    last_progress = draw(st.floats(0.0, ended_at))
    n = draw(st.integers(0, 10**4))
    wait = jittered_wait(
        policy, backoff_wait(policy, n), random.Random(draw(st.integers(0, 99)))
    )
    hint = clamp_hint(policy, draw(st.none() | st.floats(0.0, 1e5)))
    return policy, ended_at, wait, hint, last_progress


@given(schedule_inputs())
def test_waits_never_exceed_max_delay_except_by_a_clamped_hint(
    inputs: tuple[Policy, float, float, float, float],
) -> None:
    """A poll waits at most max_delay, or the clamped hint when that is longer."""
    policy, ended_at, wait, hint, last_progress = inputs

    schedule = next_send_time(policy, ended_at, wait, hint, last_progress)

    if schedule is not None:
        allowed = max(policy.max_delay, hint)
        assert schedule.at - ended_at <= allowed * (1 + 1e-12) + 1e-12
        assert hint <= policy.max_retry_after


@given(schedule_inputs())
def test_no_send_time_lies_past_the_timeout(
    inputs: tuple[Policy, float, float, float, float],
) -> None:
    """Every send time is at or before the timeout; otherwise there is none."""
    policy, ended_at, wait, hint, last_progress = inputs

    schedule = next_send_time(policy, ended_at, wait, hint, last_progress)

    if schedule is None:
        assert ended_at + hint > policy.timeout
    else:
        assert schedule.at <= policy.timeout


@given(schedule_inputs())
def test_next_send_time_is_never_before_t_plus_h(
    inputs: tuple[Policy, float, float, float, float],
) -> None:
    """The session never polls before a server hint has run out: exactly,
    unless the hint ends a rounding past the timeout (within rounding_slack),
    which is on it; then the poll goes on the timeout."""
    policy, ended_at, wait, hint, last_progress = inputs

    schedule = next_send_time(policy, ended_at, wait, hint, last_progress)

    if schedule is not None:
        formula = max(
            min(
                ended_at + wait,
                math.inf
                if policy.stall_after is None
                else last_progress + policy.stall_after,
                policy.timeout,
            ),
            ended_at + hint,
        )
        if ended_at + hint <= policy.timeout:
            assert schedule.at >= ended_at + hint
            assert schedule.at == formula
        else:
            assert ended_at + hint <= policy.timeout + rounding_slack(policy.timeout)
            assert schedule.at == policy.timeout


# -- progress ----------------------------------------------------------------------


def _message(key: str) -> Message:
    return Message(key=("id", f'"{key}"'), id=key, position=0, data={"id": key})


def test_a_failed_answer_has_no_progress_and_delivers_nothing() -> None:
    """Whatever a failed poll's body holds, nothing is read from it."""
    progress = detect_progress(Failed("HTTP 503"), set(), "old", True)

    assert progress.new_messages == ()
    assert not progress.has_progress
    assert (progress.progress_value, progress.progress_value_seen) == ("old", True)


def test_new_messages_are_kept_in_the_apis_order_each_once() -> None:
    """Duplicates inside one answer, and already seen ids, are not new."""
    a, b, c = _message("a"), _message("b"), _message("c")
    answer = Readable(messages=(c, a, c, b, a))

    progress = detect_progress(answer, {a.key}, None, False)

    assert progress.new_messages == (c, b)
    assert progress.has_progress


@pytest.mark.parametrize(
    ("last", "seen", "found", "progress", "kept"),
    [
        (None, False, "provisioning", False, "provisioning"),
        ("provisioning", True, "provisioning", False, "provisioning"),
        ("provisioning", True, "initializing", True, "initializing"),
        ("initializing", True, None, False, "initializing"),
        (3, True, "3", True, "3"),
        ({"a": 1, "b": 2}, True, {"b": 2, "a": 1}, False, {"b": 2, "a": 1}),
    ],
)
def test_a_change_of_the_progress_value_is_progress(
    last: object, seen: bool, found: object, progress: bool, kept: object
) -> None:
    """The first value only sets the start; None is no value; a change is progress."""
    result = detect_progress(Readable(progress_value=found), set(), last, seen)

    assert result.has_progress is progress
    assert result.progress_value == kept
    assert result.progress_value_seen is (seen or found is not None)


# -- stop rules --------------------------------------------------------------------


ANSWERS: dict[str, Answer] = {
    "done": Readable(status="complete", status_kind=StatusKind.DONE),
    "server_failed": Readable(status="failed", status_kind=StatusKind.FAILED),
    "running": Readable(status="running", status_kind=StatusKind.RUNNING),
    "absent": Readable(),
    "unknown": Readable(status="odd", status_kind=StatusKind.UNKNOWN),
    "fatal": Fatal("HTTP 404", 404),
    "failed": Failed("HTTP 503", 503),
}


def _first_rule(
    policy: Policy,
    answer: str,
    ended_at: float,
    errors: int,
    polls: int,
    last_progress: float,
) -> EndReason | None:
    """The contract's six stop rules, in order, written out independently."""
    rules = [
        (answer == "done", EndReason.COMPLETED),
        (answer == "server_failed", EndReason.SERVER_FAILED),
        (answer == "fatal", EndReason.FATAL_ANSWER),
        (
            answer == "failed" and errors >= policy.max_consecutive_errors,
            EndReason.TOO_MANY_ERRORS,
        ),
        (ended_at >= policy.timeout, EndReason.DEADLINE),
        (
            policy.max_polls is not None and polls >= policy.max_polls,
            EndReason.POLL_BUDGET,
        ),
        (
            policy.stall_after is not None
            and ended_at - last_progress >= policy.stall_after,
            EndReason.STALLED,
        ),
    ]
    return next((reason for holds, reason in rules if holds), None)


@st.composite
def situations(draw: st.DrawFn) -> tuple[Policy, str, float, int, int, float]:
    """After-poll situations where several stop rules tend to hold at once."""
    timeout = draw(st.sampled_from([5.0, 10.0, 30.0]))
    policy = Policy(
        timeout=timeout,
        stall_after=draw(st.none() | st.sampled_from([1.0, 5.0, 10.0])),
        max_polls=draw(st.none() | st.integers(1, 4)),
        max_consecutive_errors=draw(st.integers(1, 4)),
    )
    answer = draw(st.sampled_from(sorted(ANSWERS)))
    ended_at = draw(st.sampled_from([0.5, 5.0, 9.99, 10.0, 30.0, 31.0]))
    last_progress = draw(st.sampled_from([0.0, ended_at - 5.0, ended_at]))
    errors = draw(st.integers(0, 5)) if answer in ("failed", "fatal") else 0
    polls = draw(st.integers(1, 5))
    return policy, answer, ended_at, errors, polls, max(0.0, last_progress)


@given(situations())
def test_judge_poll_applies_the_stop_rules_in_the_contracts_order(
    situation: tuple[Policy, str, float, int, int, float],
) -> None:
    """After every poll, the first rule that holds ends the session."""
    policy, answer, ended_at, errors, polls, last_progress = situation

    verdict = judge_poll(
        policy,
        ANSWERS[answer],
        ended_at=ended_at,
        consecutive_errors=errors,
        polls_sent=polls,
        last_progress=last_progress,
    )

    expected = _first_rule(policy, answer, ended_at, errors, polls, last_progress)
    assert (verdict.reason if verdict else None) == expected


@pytest.mark.parametrize(
    ("answer", "ended_at", "errors", "polls", "reason", "outcome"),
    [
        ("done", 99.0, 9, 9, EndReason.COMPLETED, Outcome.DONE),
        ("server_failed", 99.0, 0, 9, EndReason.SERVER_FAILED, Outcome.FAILED),
        ("fatal", 99.0, 9, 9, EndReason.FATAL_ANSWER, Outcome.FAILED),
        ("failed", 99.0, 2, 9, EndReason.TOO_MANY_ERRORS, Outcome.FAILED),
        ("failed", 99.0, 1, 9, EndReason.DEADLINE, Outcome.TIMED_OUT),
        ("running", 10.0, 0, 9, EndReason.DEADLINE, Outcome.TIMED_OUT),
        ("running", 9.0, 0, 3, EndReason.POLL_BUDGET, Outcome.TIMED_OUT),
        ("absent", 9.0, 0, 2, EndReason.STALLED, Outcome.STALLED),
        ("unknown", 9.0, 0, 2, EndReason.STALLED, Outcome.STALLED),
        ("running", 3.9, 0, 2, None, None),
    ],
)
def test_each_stop_rule_wins_over_the_ones_after_it(
    answer: str,
    ended_at: float,
    errors: int,
    polls: int,
    reason: EndReason | None,
    outcome: Outcome | None,
) -> None:
    """A table with every later rule also holding where it can."""
    policy = Policy(
        timeout=10.0, max_polls=3, max_consecutive_errors=2, stall_after=4.0
    )

    verdict = judge_poll(
        policy,
        ANSWERS[answer],
        ended_at=ended_at,
        consecutive_errors=errors,
        polls_sent=polls,
        last_progress=0.0,
    )

    assert (verdict.reason if verdict else None) is reason
    assert (verdict.outcome if verdict else None) is outcome
