"""Replay: the engine, on a fake clock and the recorded answers, decides the same."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from har_capture import capture_session

from pollwise.adapters.cli import main
from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.reference_server import ReferenceServer, ServerSettings
from pollwise.adapters.replay import format_divergence, replay_trace
from pollwise.adapters.scenario import Scenario, load_scenario, scenario_from_mapping
from pollwise.adapters.scripted_api import ScriptedApi
from pollwise.adapters.trace import Trace, read_trace, trace_from_lines
from pollwise.adapters.trace_recorder import TraceRecorder, record_scenario
from pollwise.engine import Outcome, Policy, Session, run_sync

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "traces"
#: Every spec but the one that polls 2200 times (the engine, not replay,
#: sets the pace: see test_replay_speed).
SPECS = sorted(
    p
    for p in (ROOT / "specs").iterdir()
    if p.suffix in (".yaml", ".json") and p.stem != "overflow-long-run"
)


def _recorded(scenario: Scenario, *, wrap: bool = True) -> Trace:
    buffer = io.StringIO()
    if wrap:
        record_scenario(scenario, buffer)
    else:
        clock = FakeClock(0.0, wall_start=scenario.wall_clock)
        session = Session(
            clock, scenario.policy, scenario.profile, history=scenario.history
        )
        TraceRecorder.attach(session, buffer, history=scenario.history)
        if scenario.cancel_at is not None:
            clock.call_at(scenario.cancel_at, session.cancel)
        run_sync(
            session, ScriptedApi(scenario.backend, clock, trigger=scenario.trigger)
        )
    return trace_from_lines(buffer.getvalue().splitlines(), scenario.path)


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    # Specs with unknown statuses warn on every run; not what is tested here.
    caplog.set_level(logging.ERROR, logger="pollwise.engine")


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
@pytest.mark.parametrize("wrap", [True, False], ids=["api-wrapped", "observer-only"])
def test_every_scenario_replays_identically(spec: Path, wrap: bool) -> None:
    """Recorded with the API wrapped (headers kept) or by an observer alone,
    every scenario's replay takes every decision the recording took."""
    result = replay_trace(_recorded(load_scenario(spec), wrap=wrap))
    assert result.identical, "\n".join(format_divergence(result))
    assert result.max_send_drift == 0.0


def test_a_live_trace_on_the_real_clock_replays_identically() -> None:
    """The committed trace of a live session (429 with Retry-After, 3 messages)."""
    trace = read_trace(FIXTURES / "reference-session.jsonl")
    result = replay_trace(trace)
    assert result.identical, "\n".join(format_divergence(result))
    assert 0.0 < result.max_send_drift < 0.25


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer(ServerSettings(pace=0.03, count=4)) as running:
        yield running


@pytest.mark.parametrize("jitter", ["none", "full"])
def test_a_session_recorded_now_replays_identically(
    server: ReferenceServer, tmp_path: Path, jitter: str
) -> None:
    """Real clock, real HTTP, real sleeps that end late: the same decisions."""
    path = tmp_path / "live.jsonl"
    policy = Policy(initial_delay=0.02, max_delay=0.08, jitter=jitter, seed=7)  # type: ignore[arg-type]
    _, session = capture_session(server.url, policy, trace=path)
    assert session.outcome is Outcome.DONE
    result = replay_trace(read_trace(path))
    assert result.identical, "\n".join(format_divergence(result))


def test_a_changed_decision_is_shown_as_the_first_divergence(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "specs" / "worked-example-burst-then-complete.yaml")
    lines = [json.loads(line) for line in _lines(scenario)]
    lines[5]["decision"]["why"] = "hint"
    lines[5]["decision"]["next_at"] = 9.2
    path = tmp_path / "edited.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in lines), encoding="utf-8")
    result = replay_trace(read_trace(path))
    assert result.divergence is not None
    assert (result.divergence.where, result.divergence.line) == ("poll 4", 6)
    text = "\n".join(format_divergence(result))
    assert "decision.why" in text
    assert "'hint'" in text
    assert "'backoff'" in text
    assert "decision.next_at" in text


def _lines(scenario: Scenario) -> list[str]:
    buffer = io.StringIO()
    record_scenario(scenario, buffer)
    return buffer.getvalue().splitlines()


def test_an_answer_changed_in_the_recording_changes_the_outcome(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "specs" / "worked-example-burst-then-complete.yaml")
    lines = [json.loads(line) for line in _lines(scenario)]
    lines[6]["body"]["status"] = "generating"  # poll 5 no longer says complete
    path = tmp_path / "edited.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in lines), encoding="utf-8")
    result = replay_trace(read_trace(path))
    assert result.divergence is not None
    assert result.divergence.where == "poll 5"
    fields = {m.field for m in result.divergence.mismatches}
    assert {"state_after", "decision.action"} <= fields


def test_a_trace_cut_short_replays_as_far_as_it_goes(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "specs" / "worked-example-burst-then-complete.yaml")
    lines = _lines(scenario)
    path = tmp_path / "killed.jsonl"
    path.write_text("\n".join(lines[:5]) + "\n" + lines[5][:20], encoding="utf-8")
    result = replay_trace(read_trace(path))
    assert result.identical
    assert result.polls == 3
    assert any("no end record" in note for note in result.notes)
    assert any("truncated last line" in note for note in result.notes)


def test_replay_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """0 identical, 1 with the first divergence, 2 naming file, line, problem."""
    scenario = load_scenario(ROOT / "specs" / "worked-example-burst-then-complete.yaml")
    lines = _lines(scenario)
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["replay", str(good)]) == 0
    assert "identical: 5 polls" in capsys.readouterr().out

    edited = [json.loads(line) for line in lines]
    edited[3]["has_progress"] = False
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(d) + "\n" for d in edited), encoding="utf-8")
    assert main(["replay", str(bad)]) == 1
    assert "diverged at poll 2 (line 4 of the trace)" in capsys.readouterr().out

    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], "{no", *lines[2:]]) + "\n", encoding="utf-8")
    assert main(["replay", str(broken)]) == 2
    assert f"{broken}:2: not JSON" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_replay_json_reports_the_divergence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(_lines(load_scenario(SPECS[0]))) + "\n", encoding="utf-8")
    assert main(["replay", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["identical"] is True
    assert report["divergence"] is None


def test_replay_speed() -> None:
    """A 2,000-poll trace replays in well under the time it took (figures in
    the report come from the same measurement at 10,000 polls)."""
    scenario = scenario_from_mapping(
        {
            "name": "long",
            "policy": {
                "initial_delay": 1,
                "max_delay": 1,
                "timeout": 1e6,
                "stall_after": None,
                "max_polls": 2000,
            },
            "backend": [{"at": 0, "body": {"status": "generating", "messages": []}}],
        }
    )
    trace = _recorded(scenario)
    started = time.perf_counter()
    result = replay_trace(trace)
    seconds = time.perf_counter() - started
    assert result.identical
    assert result.polls == 2000
    assert seconds < 30
