"""The adaptive mode: pure rules that learn the pace, and how a session uses them."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pollwise.adapters.cli import UsageError, _build_parser, policy_from_args
from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.scenario import BackendEntry, scenario_from_mapping
from pollwise.adapters.scripted_api import ScriptedApi
from pollwise.adapters.simulate import simulate
from pollwise.engine.adaptive import (
    ACTIVE_FLOOR,
    ACTIVE_PRIOR,
    DEAD_ZONE_MARGIN,
    DEAD_ZONE_SHARE,
    ERROR_BASE,
    ERROR_STEP,
    MEMORY,
    PAUSE_FACTOR,
    QUIET_CAP,
    QUIET_RATIO,
    STRETCH,
    Pace,
    adaptive_wait,
    error_wait,
    learn_pace,
    usual_gap,
)
from pollwise.engine.errors import PolicyError
from pollwise.engine.policy import MIN_TARGET_LATENCY, Jitter, Policy
from pollwise.engine.rules import jittered_wait, next_send_time
from pollwise.engine.runners import run_sync
from pollwise.engine.session import Session

times = st.floats(min_value=0, max_value=1e4, allow_nan=False)
delays = st.floats(min_value=0.01, max_value=100)


@st.composite
def paces(draw: st.DrawFn) -> Pace:
    """Any pace learn_pace can reach: windows from increasing poll times."""
    pace = Pace()
    sent = 0.0
    for _ in range(draw(st.integers(0, 25))):
        since = sent
        sent += draw(st.floats(min_value=0, max_value=30))
        pace = learn_pace(pace, since, sent, draw(st.integers(0, 4)))
    return pace


@given(paces(), times, delays, delays)
def test_every_wait_lies_between_the_target_and_the_cap(
    pace: Pace, now: float, target: float, cap: float
) -> None:
    """The adaptive wait is never below target_latency (or the cap, if
    smaller) and never above max_delay."""
    wait = adaptive_wait(pace, max(now, pace.seen_until), target, cap)
    assert min(target, cap) <= wait <= cap


@given(
    st.lists(st.floats(min_value=0, max_value=50), min_size=1, max_size=30),
    st.lists(st.floats(min_value=0.01, max_value=10), min_size=1, max_size=200),
)
def test_the_learned_bounds_always_hold_the_true_arrivals(
    arrival_gaps: list[float], poll_gaps: list[float]
) -> None:
    """Whatever the arrivals and the polls, the window kept for the latest
    arrival holds it, and every learned gap's bounds hold the true gap: the
    pace never believes something false about the past."""
    arrivals = list(itertools.accumulate(arrival_gaps))
    pace, since, seen = Pace(), 0.0, 0
    truths: list[float] = []
    for sent in itertools.accumulate(poll_gaps):
        count = sum(1 for a in arrivals if a <= sent) - seen
        new = arrivals[seen : seen + count]
        if count:
            previous = [arrivals[seen - 1]] if seen else []
            truths += [b - a for a, b in itertools.pairwise(previous + new)]
        pace = learn_pace(pace, since, sent, count)
        seen += count
        since = sent
        if seen:
            assert pace.last_earliest is not None
            assert pace.last_latest is not None
            assert pace.last_earliest <= arrivals[seen - 1] <= pace.last_latest
    kept = truths[-MEMORY:]
    assert len(pace.shortest_gaps) == len(pace.longest_gaps) == len(kept)
    for low, truth, high in zip(
        pace.shortest_gaps, kept, pace.longest_gaps, strict=True
    ):
        assert low - 1e-9 <= truth <= high + 1e-9


@given(paces(), st.floats(min_value=0, max_value=100), st.integers(0, 40))
def test_learning_keeps_at_most_memory_gaps_and_a_silence_only_moves_on(
    pace: Pace, span: float, count: int
) -> None:
    since = pace.seen_until
    learned = learn_pace(pace, since, since + span, count)
    assert len(learned.shortest_gaps) == len(learned.longest_gaps) <= MEMORY
    assert all(
        0 <= low <= high
        for low, high in zip(learned.shortest_gaps, learned.longest_gaps, strict=True)
    )
    assert learned.seen_until == since + span
    if count == 0:
        assert attrs.evolve(learned, seen_until=pace.seen_until) == pace


def test_messages_seen_together_may_have_arrived_together() -> None:
    """Three messages in the answer to a poll sent at 2.0, the one before
    at 1.0: they arrived in (1, 2], between 0 and 1 s apart."""
    learned = learn_pace(Pace(), 1.0, 2.0, 3)
    assert (learned.last_earliest, learned.last_latest) == (1.0, 2.0)
    assert learned.shortest_gaps == (0.0, 0.0)
    assert learned.longest_gaps == (1.0, 1.0)
    after = learn_pace(learned, 5.0, 6.0, 1)
    assert after.shortest_gaps[-1] == 3.0  # 5.0 - 2.0
    assert after.longest_gaps[-1] == 5.0  # 6.0 - 1.0


def test_learning_refuses_a_window_that_ends_before_it_starts() -> None:
    with pytest.raises(ValueError, match="since <= until"):
        learn_pace(Pace(), 5.0, 4.0, 1)


def _pace_of(polls: list[tuple[float, int]]) -> Pace:
    pace, since = Pace(), 0.0
    for sent, count in polls:
        pace = learn_pace(pace, since, sent, count)
        since = sent
    return pace


@given(paces(), st.floats(min_value=0, max_value=1e3), delays)
def test_in_a_pause_the_wait_grows_with_the_silence_up_to_the_cap(
    pace: Pace, extra: float, target: float
) -> None:
    """Past the active zone the wait is QUIET_RATIO x the silence seen,
    between the target and QUIET_CAP targets, so it never shrinks as the
    silence grows and the message that ends a pause waits a bounded time.
    (In the dead zone the wait does shrink as the next arrival comes
    closer: that is its job.)"""
    base = pace.last_latest if pace.last_latest is not None else 0.0
    seen = base + max(
        ACTIVE_PRIOR, ACTIVE_FLOOR, STRETCH * max(pace.longest_gaps, default=0)
    )
    quiet = learn_pace(
        pace, pace.seen_until, max(pace.seen_until, seen) + 1e-6 + extra, 0
    )
    silence = quiet.seen_until - base
    now = quiet.seen_until + 0.05
    wait = adaptive_wait(quiet, now, target, 1e9)
    assert wait == pytest.approx(
        max(target, min(QUIET_RATIO * silence, QUIET_CAP * target))
    )
    later = learn_pace(quiet, quiet.seen_until, quiet.seen_until + 50.0, 0)
    assert adaptive_wait(later, now + 50.0, target, 1e9) >= wait


def test_before_the_first_message_it_polls_at_the_target_then_backs_off() -> None:
    """No gap known: active for ACTIVE_PRIOR seconds, then in proportion,
    up to QUIET_CAP targets."""
    assert adaptive_wait(_pace_of([(3.0, 0)]), 3.05, 1.0, 8.0) == 1.0
    late = _pace_of([(ACTIVE_PRIOR + 1, 0)])
    assert adaptive_wait(late, ACTIVE_PRIOR + 1.05, 1.0, 8.0) == pytest.approx(
        min(QUIET_RATIO * (ACTIVE_PRIOR + 1), QUIET_CAP)
    )


def test_a_failed_poll_does_not_lengthen_the_silence() -> None:
    """Only readable answers show a silence: a session whose polls fail for
    a minute has not seen a minute without messages, so once the server
    answers again it is polled at the target, not backed off."""
    pace = _pace_of([(1.0, 0), (2.0, 0)])
    assert adaptive_wait(pace, 62.0, 1.0, 8.0) == 1.0


def test_a_steady_pace_with_long_gaps_skips_the_dead_zone() -> None:
    """Messages every 10 s, polled every second: right after one, the next
    poll waits until one target after the earliest next arrival."""
    pace = _pace_of(
        [(t + 1.0, 0) for t in range(9)]
        + [(10.0, 1)]
        + [(t + 11.0, 0) for t in range(9)]
        + [(20.0, 1)]
        + [(t + 21.0, 0) for t in range(9)]
        + [(30.0, 1)]
        + [(t + 31.0, 0) for t in range(9)]
        + [(40.0, 1)]
    )
    assert len(pace.shortest_gaps) == 3
    # Every gap is between 9 and 11 s (midpoint 10); the latest arrival is
    # in (39, 40] (midpoint 39.5).
    earliest_next = 39.5 + DEAD_ZONE_SHARE * 10.0 - DEAD_ZONE_MARGIN * 1.0
    assert adaptive_wait(pace, 40.05, 1.0, 30.0) == pytest.approx(
        earliest_next + 1.0 - 40.05
    )


def test_a_silence_within_the_usual_gaps_is_polled_at_the_target() -> None:
    pace = _pace_of([(1.0, 1), (2.0, 1), (6.0, 1), (7.0, 1), (9.0, 0)])
    assert adaptive_wait(pace, 9.05, 1.0, 8.0) == 1.0


def test_a_silence_far_beyond_the_usual_gaps_waits_in_proportion() -> None:
    pace = _pace_of([(1.0, 1), (1.5, 1), (2.0, 1), (2.5, 1), (8.0, 0)])
    assert adaptive_wait(pace, 8.05, 1.0, 8.0) == pytest.approx(
        min(QUIET_RATIO * 5.5, QUIET_CAP)
    )


@given(
    st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=MEMORY),
    delays,
)
def test_the_usual_gap_lies_between_the_median_gap_and_the_longest(
    gaps: list[float], target: float
) -> None:
    """Pauses are set aside, never the pace itself: at least half the gaps
    count, so the usual gap is at least the median and at most the longest."""
    usual = usual_gap(gaps, target)
    assert usual in gaps
    assert sorted(gaps)[(len(gaps) - 1) // 2] <= usual <= max(gaps)


@given(st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=2))
def test_with_two_gaps_or_fewer_none_is_a_pause(gaps: list[float]) -> None:
    assert usual_gap(gaps, 1.0) == max(gaps)


def test_a_pause_between_bursts_is_not_a_usual_gap() -> None:
    """Bursts about a second apart and one 12 s pause: the pause is over
    PAUSE_FACTOR times the median gap, so the active zone stretches over
    the burst gaps only; a gap within the bound still counts."""
    burst = [0.8, 1.2, 0.6, 1.0]
    assert usual_gap([*burst, 12.0], 1.0) == 1.2
    assert usual_gap([*burst, PAUSE_FACTOR * 1.0], 1.0) == PAUSE_FACTOR * 1.0
    # A median below the target is read as the target: quick messages do
    # not make a 2.5 s gap a pause.
    assert usual_gap([0.1, 0.2, 0.1, 2.5], 1.0) == 2.5
    with pytest.raises(ValueError, match="at least one gap"):
        usual_gap([], 1.0)


def test_a_second_pause_as_long_as_the_first_is_polled_as_a_pause() -> None:
    """Before pauses were set aside, a 10 s pause made every later silence
    up to 15 s "active": the second pause of an LLM-like job was polled at
    the target all through. Now, 4 s into it, the wait grows."""
    polls = [(t / 2, 1) for t in range(1, 9)]  # a message every 0.5 s to 4 s
    polls += [(4.0 + t, 0) for t in range(1, 10)] + [(14.0, 1)]  # a 10 s pause
    polls += [(14.0 + t / 2, 1) for t in range(1, 5)]  # a burst to 16 s
    polls += [(16.0 + t, 0) for t in range(1, 5)]  # 4 s of silence
    pace = _pace_of(polls)
    assert max(pace.longest_gaps) > 9.0
    assert adaptive_wait(pace, 20.05, 1.0, 8.0) == pytest.approx(
        min(QUIET_RATIO * 4.0, QUIET_CAP)
    )


def test_failures_in_a_row_stretch_the_wait_linearly() -> None:
    assert [error_wait(1.0, n) for n in range(4)] == pytest.approx(
        [1 + ERROR_STEP * n for n in range(4)]
    )
    # An outage lasts seconds whatever the target: a small target does
    # not make the session give up sooner.
    assert error_wait(0.25, 2) == pytest.approx(ERROR_BASE * (1 + 2 * ERROR_STEP))
    assert error_wait(3.0, 2) == pytest.approx(3.0 * (1 + 2 * ERROR_STEP))
    with pytest.raises(ValueError, match="consecutive_errors"):
        error_wait(1.0, -1)


# -- the policy field and its users --------------------------------------------


def test_the_default_mode_is_the_contracts_backoff() -> None:
    assert Policy().mode == "backoff"
    assert "mode" not in Policy().to_mapping()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mode", "fast"),
        ("mode", None),
        ("target_latency", 0),
        ("target_latency", -1),
        ("target_latency", 1e-9),
        ("target_latency", MIN_TARGET_LATENCY / 2),
    ],
)
def test_a_bad_mode_or_target_is_refused(field: str, value: Any) -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_mapping({field: value})
    assert caught.value.field == field


def test_the_least_target_is_accepted() -> None:
    """A target of 1e-17 s was accepted and polled at one fake instant until
    simulate gave up after 10 000 requests (found by a fresh-user trial)."""
    assert Policy(mode="adaptive", target_latency=MIN_TARGET_LATENCY).target_latency


def test_a_target_without_the_adaptive_mode_is_refused_on_the_command_line() -> None:
    args = _build_parser().parse_args(
        ["watch", "http://127.0.0.1:1/x", "--target-latency", "0.5"]
    )
    with pytest.raises(UsageError, match="only with --mode adaptive"):
        policy_from_args(args)


@given(
    st.sampled_from(["full", "equal", "floored"]),
    st.floats(min_value=MIN_TARGET_LATENCY, max_value=100),
    st.floats(min_value=0, max_value=200),
    st.integers(0, 2**32),
)
def test_jitter_never_takes_an_adaptive_wait_below_the_target(
    jitter: Jitter, target: float, wait: float, seed: int
) -> None:
    """With jitter full, a target of 1 s gave waits of 0.2 s (found by a
    fresh-user trial): in the adaptive mode jitter only spreads above it."""
    policy = Policy(
        mode="adaptive", target_latency=target, jitter=jitter, initial_delay=0.0
    )
    drawn = jittered_wait(policy, wait, random.Random(seed))
    assert min(target, wait) <= drawn <= wait


def test_an_adaptive_wait_is_named_as_such() -> None:
    """watch printed "(backoff)" for the adaptive mode's waits."""
    adaptive = Policy(mode="adaptive")
    schedule = next_send_time(adaptive, 5.0, 1.0, 0.0, 5.0)
    assert schedule is not None
    assert schedule.why == "adaptive"
    schedule = next_send_time(Policy(), 5.0, 1.0, 0.0, 5.0)
    assert schedule is not None
    assert schedule.why == "backoff"


def test_the_adaptive_fields_round_trip_through_a_mapping() -> None:
    policy = Policy(mode="adaptive", target_latency=1.5)
    assert Policy.from_mapping(policy.to_mapping()) == policy


def test_the_command_line_takes_the_mode_and_the_target() -> None:
    args = _build_parser().parse_args(
        ["watch", "http://127.0.0.1:1/x", "--mode", "adaptive", "--target-latency", "2"]
    )
    policy = policy_from_args(args)
    assert (policy.mode, policy.target_latency) == ("adaptive", 2.0)


def _messages(count: int) -> dict[str, Any]:
    return {"status": "generating", "messages": [{"id": f"m{i}"} for i in range(count)]}


def test_a_scenario_file_can_choose_the_adaptive_mode() -> None:
    """Messages at 0.5, 1.5, ... 4.5 then complete at 5: polled every
    target_latency while they flow, and simulate reports when each was seen."""
    backend: list[dict[str, Any]] = [
        {"at": 0.5 + i, "body": _messages(i + 1)} for i in range(5)
    ]
    backend.append({"at": 5.0, "body": {**_messages(5), "status": "complete"}})
    scenario = scenario_from_mapping(
        {
            "name": "adaptive",
            "policy": {"mode": "adaptive", "target_latency": 1.0},
            "backend": backend,
            "expect": {"outcome": "done", "request_times": [1, 2, 3, 4, 5]},
        },
        "<test>",
    )
    result = simulate(scenario)
    assert result.passed, result.expect_failures
    assert result.to_json()["first_seen"] == [1, 2, 3, 4, 5]


def _run(policy: Policy, timeline: list[BackendEntry]) -> list[float]:
    clock = FakeClock()
    api = ScriptedApi(timeline, clock)
    run_sync(Session(clock, policy), api)
    return api.requests


def test_in_a_long_silence_the_adaptive_mode_polls_less_and_less() -> None:
    """Three quick messages (the last seen by the poll at 2 s), then
    nothing: polled every second while the silence is within the active
    zone (ACTIVE_FLOOR s, the gaps being short), then the waits grow with
    the silence up to QUIET_CAP targets, and the stall rule still ends the
    session exactly 30 s after the last progress."""
    entries = [
        BackendEntry(at=0.5 * (i + 1), body=json.dumps(_messages(i + 1)).encode())
        for i in range(3)
    ]
    requests = _run(Policy(mode="adaptive"), entries)
    waits = [b - a for a, b in itertools.pairwise(requests)]
    assert requests[:6] == pytest.approx([1, 2, 3, 4, 5, 6])
    # silence seen at the poll sent at 6 s: 4 s > ACTIVE_FLOOR
    assert waits[5] == pytest.approx(QUIET_RATIO * 4.0)
    assert waits[5] < waits[6] < waits[7] == pytest.approx(QUIET_CAP * 1.0)
    assert max(waits) == pytest.approx(QUIET_CAP * 1.0)
    assert requests[-1] == pytest.approx(2.0 + 30.0)
    assert len(requests) == 20  # polling every second would send 32


def test_the_adaptive_mode_honours_a_server_hint_as_a_floor() -> None:
    entries = [
        BackendEntry(at=0.0, http_status=429, headers=(("Retry-After", "5"),)),
        BackendEntry(
            at=2.0, body=json.dumps({**_messages(1), "status": "done"}).encode()
        ),
    ]
    assert _run(Policy(mode="adaptive"), entries) == [1.0, 6.0]


def test_a_small_target_rides_out_an_outage_of_five_seconds() -> None:
    """target 0.5 s, a 503 from 0 to 5.5 s: failures at 0.5, 2.0 and 4.0 s
    (waits 1.5 and 2.0 s: ERROR_BASE, not the target, is stretched), then
    the answer at 6.5 s. Stretching the target instead failed the session
    on its fifth error at 5.0 s."""
    entries = [
        BackendEntry(at=0.0, http_status=503),
        BackendEntry(
            at=5.5, body=json.dumps({**_messages(1), "status": "complete"}).encode()
        ),
    ]
    policy = Policy(mode="adaptive", target_latency=0.5, initial_delay=0.5)
    assert _run(policy, entries) == pytest.approx([0.5, 2.0, 4.0, 6.5])
