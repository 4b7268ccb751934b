"""What if: another policy on the recorded server, side by side with the recording."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pollwise.adapters.cli import main
from pollwise.adapters.import_trace import import_recording
from pollwise.adapters.scenario import load_scenario
from pollwise.adapters.trace import Trace, trace_from_lines
from pollwise.adapters.trace_recorder import record_scenario
from pollwise.adapters.whatif import (
    compare_policies,
    format_comparison,
    policy_changes,
)
from pollwise.engine import Policy

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "traces"
WORKED = ROOT / "specs" / "worked-example-burst-then-complete.yaml"


def _worked() -> Trace:
    buffer = io.StringIO()
    record_scenario(load_scenario(WORKED), buffer)
    return trace_from_lines(buffer.getvalue().splitlines(), "worked.jsonl")


def test_the_recorded_policy_on_the_rebuilt_server_does_what_the_recording_did() -> (
    None
):
    comparison = compare_policies(_worked())
    recorded, candidate = comparison.recorded, comparison.candidate
    assert (candidate.requests, candidate.outcome, candidate.ended_at) == (
        recorded.requests,
        recorded.outcome,
        recorded.ended_at,
    )
    assert candidate.seen == recorded.seen


def test_a_faster_policy_polls_more_and_sees_m1_at_its_first_look_after() -> None:
    """Polls at 0.5, 1.5, 2.5, 3.5: m1 (there from 3 on the rebuilt server) at 3.5."""
    trace = _worked()
    comparison = compare_policies(
        trace, Policy(initial_delay=0.5, max_delay=1.0, timeout=60)
    )
    labels = [e.label for e in comparison.timeline.events]
    m1 = labels.index("m1")
    assert comparison.candidate.requests > comparison.recorded.requests
    assert comparison.candidate.seen[m1] == 3.5
    assert comparison.candidate.outcome == "done"


@settings(max_examples=40, deadline=None)
@given(
    initial=st.sampled_from([0.1, 0.5, 1.0, 2.0]),
    multiplier=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    jitter=st.sampled_from(["none", "full", "equal"]),
)
def test_no_policy_sees_a_change_before_the_recording_shows_it(
    initial: float, multiplier: float, jitter: str
) -> None:
    """The bound the figures rest on: a change is never seen before ``latest``."""
    policy = Policy(
        initial_delay=initial,
        multiplier=multiplier,
        max_delay=8,
        jitter=jitter,  # type: ignore[arg-type]
        timeout=60,
    )
    comparison = compare_policies(_worked(), policy)
    for event, seen in zip(
        comparison.timeline.events, comparison.candidate.seen, strict=True
    ):
        assert seen is None or seen >= event.latest


def test_the_side_by_side_says_which_figures_are_bounds() -> None:
    trace = _worked()
    policy = trace.header.build_policy().replace(initial_delay=0.5)
    lines = format_comparison(compare_policies(trace, policy))
    text = "\n".join(lines)
    assert "recorded (pollwise)" in text
    assert "pollwise (initial_delay=0.5)" in text
    assert "message m1 seen" in text
    assert " to +" in text  # a range
    assert "are bounds" in text


def test_an_import_is_compared_with_pollwises_default_policy() -> None:
    """The Linode kubeconfig: 503 for four minutes. pollwise's defaults give
    up after five failed polls; a patient policy gets there."""
    trace = import_recording(FIXTURES / "linode-lke-kubeconfig-503-poll.yaml").trace
    default = compare_policies(trace)
    assert default.recorded.label == "recorded (another client)"
    assert default.candidate.label == "pollwise (default policy)"
    assert (default.candidate.outcome, default.candidate.reason) == (
        "failed",
        "too_many_errors",
    )
    patient = Policy(
        max_consecutive_errors=100, timeout=600, stall_after=None, max_delay=30
    )
    assert compare_policies(trace, patient).candidate.outcome == "done"


def test_replay_with_policy_prints_both_sessions_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "worked.jsonl"
    buffer = io.StringIO()
    record_scenario(load_scenario(WORKED), buffer)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    assert (
        main(["replay", str(path), "--policy", "initial_delay=0.5", "max_delay=2"]) == 0
    )
    out = capsys.readouterr().out
    assert "pollwise (initial_delay=0.5, max_delay=2)" in out
    assert main(["replay", str(path), "--policy", "stall_after=none", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["policy"]["stall_after"] is None
    assert report["recorded"]["requests"] == 5


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ("nonsense", "field=value"),
        ("speed=3", "is not a policy field"),
        ("multiplier=0.5", "must be >= 1"),
    ],
)
def test_a_bad_policy_change_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], item: str, problem: str
) -> None:
    path = tmp_path / "worked.jsonl"
    buffer = io.StringIO()
    record_scenario(load_scenario(WORKED), buffer)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    assert main(["replay", str(path), "--policy", item]) == 2
    assert problem in capsys.readouterr().err


def test_switching_back_to_the_default_mode_is_named_as_a_change() -> None:
    """A recording made in adaptive mode, replayed with mode=backoff: the
    column must name the change, not claim to be the recorded policy (the
    mapping leaves default-valued mode and target out, so they were missed)."""
    recorded = Policy(mode="adaptive", target_latency=0.3)
    assert policy_changes(recorded.replace(mode="backoff"), recorded) == {
        "mode": "backoff"
    }
    assert policy_changes(Policy(), recorded) == {
        "mode": "backoff",
        "target_latency": 1.0,
    }
    assert policy_changes(recorded, recorded) == {}
