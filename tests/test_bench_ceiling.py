"""The ceiling search: its simulator agrees with the engine, and it searches."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.ceiling import SilenceSchedule, search, simulate
from bench.strategies import FRONTIER_INTERVALS, run_pollwise
from bench.workloads import KINDS, make_workload
from pollwise.engine.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
FAULTLESS = [kind for kind in KINDS if kind != "flaky"]


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(FAULTLESS),
    seed=st.integers(0, 10**6),
    interval=st.sampled_from(FRONTIER_INTERVALS),
)
def test_fixed_schedules_poll_exactly_as_the_engine_does(
    kind: str, seed: int, interval: float
) -> None:
    workload = make_workload(kind, seed)
    simulated = simulate(SilenceSchedule.fixed(interval), workload)
    policy = Policy(initial_delay=interval, multiplier=1.0, max_delay=interval)
    engine = run_pollwise("engine", policy, workload)
    assert simulated.requests == engine.requests
    assert simulated.outcome == engine.outcome
    assert simulated.missed == engine.missed
    assert simulated.ended_at == pytest.approx(engine.ended_at, abs=1e-9)
    assert simulated.latencies == pytest.approx(engine.latencies, abs=1e-9)


SCHEDULE = SilenceSchedule(
    first=1.5, active=1.0, quiet_after=3.0, quiet=2.0, long_after=10.0, long=4.0
)


@pytest.mark.parametrize(
    ("silence", "any_message", "wait"),
    [
        (0.0, False, 1.5),
        (50.0, False, 1.5),
        (0.0, True, 1.0),
        (2.999, True, 1.0),
        (3.0, True, 2.0),
        (9.999, True, 2.0),
        (10.0, True, 4.0),
    ],
)
def test_a_schedule_waits_by_the_silence(
    silence: float, any_message: bool, wait: float
) -> None:
    assert SCHEDULE.wait(silence, any_message) == wait


@pytest.mark.parametrize("field", ["first", "active", "quiet", "long"])
@pytest.mark.parametrize("value", [0.0, -1.0, math.inf, math.nan])
def test_a_wait_must_be_positive_and_finite(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        attrs.evolve(SCHEDULE, **{field: value})


@pytest.mark.parametrize("field", ["quiet_after", "long_after"])
def test_a_silence_bound_must_not_be_negative(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        attrs.evolve(SCHEDULE, **{field: -0.5})


def test_the_simulator_refuses_a_workload_with_faults() -> None:
    with pytest.raises(ValueError, match="faults"):
        simulate(SCHEDULE, make_workload("flaky", 0))


def test_the_stall_ends_with_a_last_check_one_stall_after_the_last_progress() -> None:
    workload = make_workload("stall", 3)
    run = simulate(SilenceSchedule.fixed(8.0), workload)
    assert run.outcome == "stalled"
    assert run.missed == 0
    last_progress = workload.arrivals[-1] + run.latencies[-1]
    assert run.ended_at == pytest.approx(last_progress + 30.0 + workload.latency)


def test_the_best_per_kind_is_at_least_the_shared_schedule() -> None:
    found = search(["long-tail", "stall"], range(4), draws=12)
    assert [ceiling.kind for ceiling in found.per_kind] == ["long-tail", "stall"]
    for ceiling, shared in zip(found.per_kind, found.shared_savings, strict=True):
        assert ceiling.saving >= shared
        assert ceiling.row.sessions == ceiling.adaptive.sessions == 4
    assert min(found.shared_savings) <= min(c.saving for c in found.per_kind)


def test_search_refuses_nothing_to_search() -> None:
    with pytest.raises(ValueError, match="draws"):
        search(["stall"], range(2), draws=0)
    with pytest.raises(ValueError, match="target"):
        search(["stall"], range(2), draws=1, target=0.0)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.ceiling", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_prints_the_ceiling_and_the_adaptive_mode() -> None:
    done = _cli("--kinds", "stall", "--seeds", "3", "--draws", "4")
    assert done.returncode == 0, done.stderr
    assert "stall: best schedule for it saves" in done.stdout
    assert "pollwise adaptive saves" in done.stdout
    assert "one schedule for all of them at best: stall" in done.stdout


@pytest.mark.parametrize(
    "args",
    [("--draws", "0"), ("--seeds", "0"), ("--target", "0"), ("--kinds", "flaky")],
)
def test_the_command_refuses_bad_arguments(args: tuple[str, ...]) -> None:
    done = _cli(*args, "--seeds", "2") if args[0] != "--seeds" else _cli(*args)
    assert done.returncode == 2
    assert "usage:" in done.stderr
