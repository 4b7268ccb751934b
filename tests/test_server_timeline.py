"""The server rebuilt from a recording: what holds when, and what is only bounded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.import_trace import import_recording
from pollwise.adapters.scenario import load_scenario, scenario_from_mapping
from pollwise.adapters.scripted_api import ScriptedApi
from pollwise.adapters.server_timeline import ServerTimeline, rebuild_timeline
from pollwise.adapters.trace import Trace, trace_from_lines
from pollwise.adapters.trace_recorder import record_scenario

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "traces"


def _trace(scenario_path: Path | None = None, **document: object) -> Trace:
    scenario = (
        load_scenario(scenario_path)
        if scenario_path is not None
        else scenario_from_mapping(document)
    )
    buffer = io.StringIO()
    record_scenario(scenario, buffer)
    return trace_from_lines(buffer.getvalue().splitlines())


def _body_at(timeline: ServerTimeline, t: float) -> dict[str, object]:
    api = ScriptedApi(timeline.entries, FakeClock())
    entry = api.entry_at(t)
    return json.loads(entry.body) if entry.body else {}


def test_an_answer_seen_at_t_holds_from_t() -> None:
    trace = _trace(ROOT / "specs" / "worked-example-burst-then-complete.yaml")
    timeline = rebuild_timeline(trace)
    assert _body_at(timeline, 2.99) == {"status": "generating", "messages": []}
    assert _body_at(timeline, 3.0)["messages"] == [{"id": "m1"}]
    api = ScriptedApi(timeline.entries, FakeClock())
    assert api.entry_at(6.5).http_status == 429
    assert api.entry_at(6.5).latency == pytest.approx(0.2)
    assert _body_at(timeline, 10.2)["status"] == "complete"
    assert _body_at(timeline, 500.0)["status"] == "complete"  # the last holds


def test_a_message_is_there_from_its_created_at() -> None:
    trace = _trace(
        name="created",
        backend=[
            {"at": 0, "body": {"status": "generating", "messages": []}},
            {
                "at": 4,
                "body": {
                    "status": "generating",
                    "messages": [{"id": "a", "created_at": "2026-01-01T00:00:02.5Z"}],
                },
            },
        ],
        policy={"initial_delay": 1, "max_delay": 8, "timeout": 20, "stall_after": None},
    )
    timeline = rebuild_timeline(trace)
    (event,) = [e for e in timeline.events if e.kind == "message"]
    assert (event.earliest, event.latest, event.exact) == (2.5, 2.5, True)
    assert _body_at(timeline, 2.4)["messages"] == []
    assert _body_at(timeline, 2.5)["messages"] == [{"id": "a"}]


def test_without_created_at_a_change_lies_between_two_polls() -> None:
    trace = _trace(ROOT / "specs" / "worked-example-burst-then-complete.yaml")
    events = {e.label: e for e in rebuild_timeline(trace).events}
    m1, m2 = events["m1"], events["m2"]
    assert (m1.earliest, m1.latest, m1.exact) == (1.0, 3.0, False)
    # The 429 at 6 showed nothing, so m2 is known since 4 at the earliest.
    assert (m2.earliest, m2.latest) == (4.0, 10.2)
    # The 429 at 6 did answer, without saying "complete": it bounds completion.
    completion = events["completion (complete)"]
    assert (completion.earliest, completion.latest) == (6.0, 10.2)


def test_status_moves_are_phases_and_the_final_status_is_completion() -> None:
    result = import_recording(FIXTURES / "scaleway-redis-cluster-create-delete.yaml")
    events = rebuild_timeline(result.trace).events
    assert [e.kind for e in events] == ["phase", "completion"]
    assert events[0].label == "status initializing"
    assert events[0].earliest < events[0].latest


def test_before_the_first_poll_its_answer_holds_unless_it_was_final() -> None:
    running = import_recording(FIXTURES / "azure-formrec-copy-model.yaml").trace
    timeline = rebuild_timeline(running)
    assert timeline.first_answer_holds
    assert _body_at(timeline, 0.0)["status"] == "notStarted"
    finished = _trace(
        name="done-at-once",
        backend=[{"at": 0, "body": {"status": "complete", "messages": []}}],
    )
    timeline = rebuild_timeline(finished)
    assert not timeline.first_answer_holds
    assert _body_at(timeline, 0.5) == {}


def test_a_404_after_a_delete_completes_the_job() -> None:
    result = import_recording(
        FIXTURES / "scaleway-redis-cluster-create-delete.yaml", session=2
    )
    events = rebuild_timeline(result.trace).events
    assert events[-1].kind == "completion"
    assert events[-1].match == ("http", 404)
