"""The adaptive mode: pure rules that learn the pace, and how a session uses them."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pollwise.adapters.cli import _build_parser, policy_from_args
from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.scenario import BackendEntry, scenario_from_mapping
from pollwise.adapters.scripted_api import ScriptedApi
from pollwise.adapters.simulate import simulate
from pollwise.engine.adaptive import (
    MEMORY,
    PRIOR_ACTIVE,
    QUIET_RATIO,
    STRETCH,
    Pace,
    adaptive_wait,
    learn_pace,
)
from pollwise.engine.errors import PolicyError
from pollwise.engine.policy import Policy
from pollwise.engine.runners import run_sync
from pollwise.engine.session import Session

times = st.floats(min_value=0, max_value=1e4, allow_nan=False)
gaps = st.lists(st.floats(min_value=0, max_value=100), max_size=MEMORY)
paces = st.builds(Pace, last_arrival=st.none() | times, gaps=gaps.map(tuple))
delays = st.floats(min_value=0.01, max_value=100)


@given(paces, times, delays, delays)
def test_every_wait_lies_between_the_target_and_the_cap(
    pace: Pace, now: float, target: float, cap: float
) -> None:
    """The adaptive wait is never below target_latency (or the cap, if
    smaller) and never above max_delay."""
    wait = adaptive_wait(pace, now, target, cap)
    assert min(target, cap) <= wait <= cap


@given(paces, st.floats(min_value=0, max_value=1e3), delays)
def test_past_every_gap_seen_the_wait_grows_with_the_silence(
    pace: Pace, extra: float, target: float
) -> None:
    """Once the silence is longer than any gap seen (stretched) and the
    prior, the wait is QUIET_RATIO x the silence (at least the target), so
    it never shrinks as the silence grows. (Before that, in the dead zone,
    the wait does shrink as the next arrival comes closer: that is its job.)"""
    base = pace.last_arrival or 0.0
    quiet = base + max(PRIOR_ACTIVE, 2 * target, STRETCH * max(pace.gaps, default=0))
    now = quiet + 1e-6 + extra
    later = now + 50.0
    wait_now = adaptive_wait(pace, now, target, 1e9)
    assert wait_now == pytest.approx(max(target, QUIET_RATIO * (now - base)))
    assert adaptive_wait(pace, later, target, 1e9) >= wait_now


@given(paces, times, st.floats(min_value=0, max_value=100), st.integers(0, 40))
def test_learning_keeps_at_most_memory_gaps_all_non_negative(
    pace: Pace, since: float, span: float, count: int
) -> None:
    learned = learn_pace(pace, since, since + span, count)
    assert len(learned.gaps) <= MEMORY
    assert all(gap >= 0 for gap in learned.gaps)
    if count == 0:
        assert learned == pace
    else:
        assert learned.last_arrival is not None
        assert since <= learned.last_arrival <= since + span


@given(times, st.floats(min_value=0.1, max_value=100), st.integers(1, 10))
def test_new_messages_are_placed_evenly_in_their_window(
    since: float, span: float, count: int
) -> None:
    """n messages first seen in (s', s] are placed at s' + k (s - s') / (n + 1):
    the expected arrivals of n uniform arrivals in the window."""
    learned = learn_pace(Pace(last_arrival=since), since, since + span, count)
    step = span / (count + 1)
    assert learned.gaps == pytest.approx([step] * count)
    assert learned.last_arrival == pytest.approx(since + step * count)


def test_learning_refuses_a_window_that_ends_before_it_starts() -> None:
    with pytest.raises(ValueError, match="since <= until"):
        learn_pace(Pace(), 5.0, 4.0, 1)


def test_before_the_first_message_it_polls_at_the_target_then_backs_off() -> None:
    """No gap known: active for PRIOR_ACTIVE seconds, then in proportion."""
    assert adaptive_wait(Pace(), 3.0, 1.0, 8.0) == 1.0
    assert adaptive_wait(Pace(), PRIOR_ACTIVE + 10, 1.0, 8.0) == pytest.approx(
        QUIET_RATIO * (PRIOR_ACTIVE + 10)
    )


def test_a_steady_pace_with_long_gaps_skips_the_dead_zone() -> None:
    """Messages every 10 s: right after one, the next poll waits for the
    earliest next arrival (less one target for the estimates' error)."""
    pace = Pace(last_arrival=100.0, gaps=(10.0, 10.0, 10.0))
    assert adaptive_wait(pace, 100.5, 1.0, 30.0) == pytest.approx(8.5)


def test_a_silence_within_the_usual_gaps_is_polled_at_the_target() -> None:
    pace = Pace(last_arrival=100.0, gaps=(0.5, 4.0, 0.7))
    assert adaptive_wait(pace, 103.0, 1.0, 8.0) == 1.0


def test_a_silence_far_beyond_the_usual_gaps_waits_in_proportion() -> None:
    pace = Pace(last_arrival=100.0, gaps=(0.5, 0.6, 0.7))
    assert adaptive_wait(pace, 120.0, 1.0, 8.0) == pytest.approx(QUIET_RATIO * 20)


# -- the policy field and its users --------------------------------------------


def test_the_default_mode_is_the_contracts_backoff() -> None:
    assert Policy().mode == "backoff"
    assert "mode" not in Policy().to_mapping()


@pytest.mark.parametrize(
    ("field", "value"),
    [("mode", "fast"), ("mode", None), ("target_latency", 0), ("target_latency", -1)],
)
def test_a_bad_mode_or_target_is_refused(field: str, value: Any) -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_mapping({field: value})
    assert caught.value.field == field


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
    nothing: the waits grow with the silence, and the stall rule still ends
    the session exactly 30 s after the last progress."""
    entries = [
        BackendEntry(at=0.5 * (i + 1), body=json.dumps(_messages(i + 1)).encode())
        for i in range(3)
    ]
    requests = _run(Policy(mode="adaptive"), entries)
    waits = [b - a for a, b in itertools.pairwise(requests)]
    assert waits[-3] < waits[-2]
    assert requests[-1] == pytest.approx(2.0 + 30.0)
    assert len(requests) < 20


def test_the_adaptive_mode_honours_a_server_hint_as_a_floor() -> None:
    entries = [
        BackendEntry(at=0.0, http_status=429, headers=(("Retry-After", "5"),)),
        BackendEntry(
            at=2.0, body=json.dumps({**_messages(1), "status": "done"}).encode()
        ),
    ]
    assert _run(Policy(mode="adaptive"), entries) == [1.0, 6.0]
