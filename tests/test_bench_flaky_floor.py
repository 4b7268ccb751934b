"""The floor under p95 on the flaky workload, and the probers beside it."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.flaky_floor import PROBE_GAPS, floors, outage_latencies, probe_latencies
from bench.metrics import percentile
from bench.workloads import Fault, Workload, make_workload, workloads

ROOT = Path(__file__).resolve().parent.parent

#: Messages at 1, 2 and 6 s; a 503 outage over [1.5, 2.6) and a 429 one
#: with a 2 s hint over [5, 7). Every time but 2.6 is a binary fraction.
MADE = Workload(
    "made",
    0,
    (1.0, 2.0, 6.0),
    8.0,
    faults=(Fault(1.5, 2.6, 503), Fault(5.0, 7.0, 429, "2")),
    latency=0.25,
)


def test_knowing_the_outages_a_message_is_seen_when_its_outage_ends() -> None:
    assert outage_latencies(MADE) == pytest.approx([0.25, 0.85, 1.25])


def test_an_outage_that_runs_into_another_ends_with_the_last() -> None:
    faults = (Fault(1.0, 2.0, 503), Fault(1.5, 3.0, 503), Fault(3.0, 4.0, 503))
    chained = Workload("made", 0, (1.25,), None, faults=faults, latency=0.25)
    assert outage_latencies(chained) == [3.0]  # seen by a request at 4 s


def test_a_prober_waits_its_gap_after_a_503_and_the_hint_after_a_429() -> None:
    # Sends at 0, 0.5, 1 (sees 1.0), 1.5, 2 (503s), 2.5 (503, answered at
    # 2.75), 3 (sees 2.0), 3.5, 4, 4.5, then 5: a 429 answered at 5.25 asks
    # for 2 s, so 7.25 sees 6.0.
    assert probe_latencies(MADE, gap=0.25) == [0.25, 1.25, 1.5]


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    ("retry_after", "next_send"),
    [
        ("2", 7.25),
        ("1e9", 5.5),  # no hint to the engine: the gap applies
        ("100", 65.25),  # clamped to max_retry_after, 60 s
        ("Thu, 01 Jan 2026 00:00:09 GMT", 9.0),  # 9 s after the fake clock's t = 0
    ],
)
def test_a_prober_reads_retry_after_as_the_engine_does(
    retry_after: str, next_send: float, status: int
) -> None:
    workload = Workload(
        "made",
        0,
        (5.0,),
        None,
        faults=(Fault(5.0, 5.1, status, retry_after),),
        latency=0.25,
    )
    first = probe_latencies(workload, gap=0.25)[0]
    assert first == pytest.approx(next_send + 0.25 - 5.0)


def test_a_prober_stops_at_the_timeout_of_an_outage_that_never_ends() -> None:
    endless = Workload("made", 0, (2.0, 4.0), None, faults=(Fault(1.0, math.inf, 503),))
    assert probe_latencies(endless, gap=0.01) == [math.inf, math.inf]
    assert outage_latencies(endless) == [math.inf, math.inf]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), gap=st.sampled_from(PROBE_GAPS))
def test_no_message_is_probed_sooner_than_its_outage_allows(
    seed: int, gap: float
) -> None:
    workload = make_workload("flaky", seed)
    outage = outage_latencies(workload)
    probe = probe_latencies(workload, gap)
    assert len(outage) == len(probe) == len(workload.arrivals)
    for floor, probed in zip(outage, probe, strict=True):
        assert workload.latency - 1e-9 <= floor <= probed + 1e-9


@pytest.mark.parametrize("gap", [0.0, -1.0, math.nan, 0.0009, 5e-324])
def test_the_prober_needs_a_gap(gap: float) -> None:
    with pytest.raises(ValueError, match="gap"):
        probe_latencies(MADE, gap)


def test_a_prober_waits_out_a_request_slower_than_its_timeout() -> None:
    # Found by a reviewer: the prober read answers no request could wait for.
    slow = Workload("made", 0, (1.0,), None, latency=20.0)
    assert probe_latencies(slow, gap=0.5) == [math.inf]
    late = Workload("made", 0, (1.0,), None, faults=(Fault(0.5, 119.99, 503),))
    assert probe_latencies(late, gap=0.1) == [math.inf]  # answered after 120 s


@pytest.mark.parametrize(
    ("seeds", "outage", "probes"),
    [
        (range(200), 3.83, (5.61, 5.24, 6.16)),
        (range(1000, 1200), 4.30, (5.80, 5.80, 5.88)),
    ],
)
def test_the_figures_the_readme_shows(
    seeds: range, outage: float, probes: tuple[float, ...]
) -> None:
    timelines = workloads("flaky", seeds)
    floor = [x for w in timelines for x in outage_latencies(w)]
    assert round(percentile(floor, 95), 2) == outage
    for gap, p95 in zip(PROBE_GAPS, probes, strict=True):
        probed = [x for w in timelines for x in probe_latencies(w, gap)]
        assert round(percentile(probed, 95), 2) == p95


def test_floors_print_under_the_pollers() -> None:
    found = floors(range(3))
    timelines = workloads("flaky", range(3))
    floor = [x for w in timelines for x in outage_latencies(w)]
    assert found.outage_p95 == percentile(floor, 95)
    for gap, p95 in found.probe_p95:
        probed = [x for w in timelines for x in probe_latencies(w, gap)]
        assert p95 == percentile(probed, 95)
    assert [gap for gap, _ in found.probe_p95] == list(PROBE_GAPS)
    assert [row.strategy for row in found.rows] == [
        "fixed 1s +stop rules",
        "fixed 2s +stop rules",
        "fixed 3s +stop rules",
        "pollwise adaptive",
    ]
    text = "\n".join(found.lines())
    assert "3 seeds (0-2)" in text
    assert f"every outage (no poller does better): {found.outage_p95:.2f}s" in text
    assert "knowing every outage" in text
    assert "fixed 2s +stop rules: p95" in text
    assert "pollwise adaptive: p95" in text
    slower = floors(range(3), target=2.0)
    assert slower.rows[-1].requests < found.rows[-1].requests
    with pytest.raises(ValueError, match="seed"):
        floors(range(0))


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--seeds", "2"], 0),
        (["--seeds", "2", "--first-seed", "1000"], 0),
        (["--seeds", "0"], 2),
        (["--first-seed", "-1"], 2),
    ],
)
def test_the_command(args: list[str], code: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.flaky_floor", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == code, done.stderr
    assert ("flaky, 2 seeds" in done.stdout) == (code == 0)
    assert "Traceback" not in done.stderr
