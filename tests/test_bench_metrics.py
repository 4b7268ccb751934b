"""The benchmark's figures: a message never seen counts, and the frontier
the adaptive mode is judged by is made only of strategies that saw
everything they were meant to."""

from __future__ import annotations

import math

import pytest

from bench.metrics import Row, Run, aggregate, percentile
from bench.suite import KindResult, adaptive_saving, adaptive_targets, frontier_requests
from bench.workloads import Workload


def _run(latencies: tuple[float, ...], missed: int) -> Run:
    return Run(
        strategy="s",
        workload="k#0",
        kind="k",
        requests=3,
        latencies=latencies,
        missed=missed,
        outcome="failed" if missed else "done",
        ended_at=10.0,
        completion_lag=None,
        stall_delay=None,
    )


def test_a_percentile_reaching_into_unseen_messages_is_infinite() -> None:
    assert percentile([1.0, 2.0, math.inf], 50) == 2.0
    assert percentile([1.0, 2.0, math.inf], 95) == math.inf
    assert percentile([math.inf, math.inf], 50) == math.inf
    assert math.isnan(percentile([], 50))


def test_a_missed_message_counts_as_never_seen() -> None:
    """19 messages seen at 0.5 s and one missed: p95 lies between the
    slowest seen and the missed one, so it is infinite; max is of those seen."""
    row = aggregate("s", "frontier", "k", [_run((0.5,) * 19, 1)])
    assert row.p50 == 0.5
    assert row.p95 == math.inf
    assert row.max == 0.5
    assert row.missed == 1
    clean = aggregate("s", "frontier", "k", [_run((0.5,) * 20, 0)])
    assert clean.p95 == 0.5


def _row(name: str, requests: float, p95: float) -> Row:
    return Row(name, "frontier", "k", 1, requests, 0.5, p95, p95, 0, None, None, "")


def test_the_frontier_skips_intervals_that_missed_messages() -> None:
    """Fixed 0.5 s failed on errors (p95 infinite): the frontier starts at
    1 s, and between 1 s and 2 s it is linear."""
    result = KindResult(
        "k",
        range(1),
        (_row("0.5", 40.0, math.inf), _row("1", 20.0, 1.0), _row("2", 10.0, 2.0)),
        {},
        math.nan,
    )
    assert frontier_requests(result, 0.5) == 20.0
    assert frontier_requests(result, 1.5) == 15.0
    assert frontier_requests(result, 3.0) == 10.0


def test_a_strategy_equal_to_a_frontier_point_is_judged_equal() -> None:
    """Burst, seeds 2250-2289: the adaptive mode polled exactly as fixed 1 s
    (6.95 requests, the same p95), but the frontier read 6.949999999999999
    there, so "never more requests" failed by a rounding."""
    adaptive = Row(
        "pollwise adaptive",
        "pollwise",
        "k",
        1,
        6.95,
        0.5,
        1.0421140999999994,
        2.0,
        0,
        None,
        None,
        "",
    )
    result = KindResult(
        "k",
        range(1),
        (
            adaptive,
            _row("0.5", 12.675, 0.5646367000000002),
            _row("1", 6.95, 1.0421140999999994),
            _row("1.5", 4.825, 1.5574644499999997),
        ),
        {},
        math.nan,
    )
    assert frontier_requests(result, 1.0421140999999994) == 6.95
    assert frontier_requests(result, 0.5646367000000002) == 12.675
    assert adaptive_saving(result) == 0.0
    [never_more] = [
        t for t in adaptive_targets([result], "seeds:") if "never" in t.name
    ]
    assert never_more.held, never_more.line()


@pytest.mark.parametrize("latency", [-0.05, math.inf, math.nan])
def test_a_workload_refuses_a_latency_no_request_can_take(latency: float) -> None:
    # Found by a reviewer: a negative latency kept the flaky prober looping.
    with pytest.raises(ValueError, match="latency"):
        Workload("made", 0, (1.0,), None, latency=latency)
