"""The floors under p95 on the flaky workload."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.flaky_floor import floors, outage_latencies, probe_latencies
from bench.workloads import Fault, Workload, make_workload

ROOT = Path(__file__).resolve().parent.parent

#: Messages at 1, 2 and 6 s; a 503 outage over [1.5, 3) and a 429 one with
#: a 2 s hint over [5, 7). Every time is a binary fraction, so sums are exact.
MADE = Workload(
    "made",
    0,
    (1.0, 2.0, 6.0),
    8.0,
    faults=(Fault(1.5, 3.0, 503), Fault(5.0, 7.0, 429, "2")),
    latency=0.25,
)


def test_knowing_the_outages_a_message_is_seen_when_its_outage_ends() -> None:
    assert outage_latencies(MADE) == [0.25, 1.25, 1.25]


def test_a_prober_waits_out_each_retry_after() -> None:
    # Sends at 0, 0.5, 1 (sees 1.0), 1.5, 2, 2.5 (503s), 3 (sees 2.0), 3.5,
    # 4, 4.5, then 5: a 429 answered at 5.25 asks for 2 s, so 7.25 sees 6.0.
    assert probe_latencies(MADE, gap=0.25) == [0.25, 1.25, 1.5]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_no_message_is_probed_sooner_than_its_outage_allows(seed: int) -> None:
    workload = make_workload("flaky", seed)
    outage = outage_latencies(workload)
    probe = probe_latencies(workload)
    assert len(outage) == len(probe) == len(workload.arrivals)
    for floor, probed in zip(outage, probe, strict=True):
        assert workload.latency - 1e-9 <= floor <= probed + 1e-9


@pytest.mark.parametrize("gap", [0.0, -1.0, float("nan")])
def test_the_prober_needs_a_gap(gap: float) -> None:
    with pytest.raises(ValueError, match="gap"):
        probe_latencies(MADE, gap)


def test_floors_print_under_the_pollers() -> None:
    found = floors(range(3))
    assert found.outage_p95 <= found.probe_p95
    text = "\n".join(found.lines())
    assert "knowing every outage" in text
    assert "fixed 2s +stop rules: p95" in text
    assert "pollwise adaptive: p95" in text
    with pytest.raises(ValueError, match="seed"):
        floors(range(0))


@pytest.mark.parametrize(
    ("args", "code"), [(["--seeds", "2"], 0), (["--seeds", "0"], 2)]
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
