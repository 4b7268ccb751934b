"""Recording sessions as they happen: every step flushed, secrets kept out."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from strategies import BlockingApi

from pollwise.adapters.cli import main
from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.reference_server import ReferenceServer, ServerSettings
from pollwise.adapters.scenario import Scenario, load_scenario
from pollwise.adapters.scripted_api import AsyncScriptedApi, ScriptedApi
from pollwise.adapters.trace import (
    BeginRecord,
    EndRecord,
    HeaderRecord,
    StepRecord,
    read_trace,
    trace_from_lines,
)
from pollwise.adapters.trace_recorder import MemorySink, TraceRecorder, record_scenario
from pollwise.engine import Observer, PollScheduled, Session, run_async, run_sync
from pollwise.engine.outcomes import Outcome
from pollwise.engine.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def _scenario(name: str) -> Scenario:
    return load_scenario(SPECS / name)


def test_each_record_is_on_disk_before_the_session_goes_on(tmp_path: Path) -> None:
    """A process killed at any moment leaves every record made so far."""
    path = tmp_path / "t.jsonl"
    scenario = _scenario("worked-example-burst-then-complete.yaml")
    clock = FakeClock(0.0, wall_start=scenario.wall_clock)
    session = Session(clock, scenario.policy, scenario.profile)
    TraceRecorder.attach(session, path)
    lines_seen: list[int] = []

    class ReadTheFile(Observer):
        def poll_scheduled(self, event: PollScheduled) -> None:
            lines_seen.append(len(path.read_text(encoding="utf-8").splitlines()))

    session.add_observer(ReadTheFile())
    run_sync(session, ScriptedApi(scenario.backend, clock, trigger=scenario.trigger))
    # header + begin, then one more line after each poll
    assert lines_seen == [2, 3, 4, 5, 6]
    assert len(read_trace(path).steps) == 5


def test_a_poll_cut_short_by_a_cancel_is_recorded_as_abandoned() -> None:
    buffer = io.StringIO()
    record_scenario(_scenario("cancel-in-flight.yaml"), buffer)
    trace = trace_from_lines(buffer.getvalue().splitlines())
    last = trace.steps[-1]
    assert last.exchange.answer == "abandoned"
    assert last.exchange.answered is None
    assert last.state_after == "cancelled"
    assert trace.end is not None
    assert (trace.end.outcome, trace.end.state_before) == ("cancelled", "polling")


def test_a_failed_trigger_has_a_begin_and_an_end_and_no_step() -> None:
    sink = MemorySink()
    record_scenario(_scenario("trigger-transport-error.yaml"), sink)
    kinds = [type(r) for r in sink.records]
    assert kinds == [HeaderRecord, BeginRecord, EndRecord]
    begin = sink.records[1]
    assert isinstance(begin, BeginRecord)
    assert begin.trigger is not None
    assert begin.trigger.answer == "failed"
    assert begin.trigger.transport == "connect"
    assert sink.closed


def _records(scenario: Scenario, *, wrap: bool) -> list[StepRecord]:
    clock = FakeClock(0.0, wall_start=scenario.wall_clock)
    session = Session(clock, scenario.policy, scenario.profile)
    sink = MemorySink()
    recorder = TraceRecorder.attach(session, sink)
    api = ScriptedApi(scenario.backend, clock, trigger=scenario.trigger)
    run_sync(session, recorder.wrap(api) if wrap else api)
    return [r for r in sink.records if isinstance(r, StepRecord)]


def test_an_observer_alone_records_the_decisions_but_no_headers() -> None:
    scenario = _scenario("worked-example-burst-then-complete.yaml")
    wrapped, observed = _records(scenario, wrap=True), _records(scenario, wrap=False)
    assert [s.decision for s in wrapped] == [s.decision for s in observed]
    assert wrapped[3].exchange.headers == (("retry-after", "3"),)
    assert observed[3].exchange.headers == ()
    assert observed[3].exchange.hint == 3.0


def test_the_async_runner_records_the_same_trace_as_the_sync_one() -> None:
    scenario = _scenario("worked-example-burst-then-complete.yaml")
    sync_sink = MemorySink()
    record_scenario(scenario, sync_sink)

    async def record() -> MemorySink:
        clock = FakeClock(0.0, wall_start=scenario.wall_clock)
        session = Session(clock, scenario.policy, scenario.profile)
        sink = MemorySink()
        recorder = TraceRecorder.attach(
            session,
            sink,
            source={"tool": "pollwise simulate", "scenario": scenario.name},
        )
        api = AsyncScriptedApi(
            ScriptedApi(scenario.backend, clock, trigger=scenario.trigger)
        )
        await run_async(session, recorder.wrap_async(api))
        return sink

    assert asyncio.run(record()).records == sync_sink.records


def test_message_contents_are_kept_only_when_asked() -> None:
    scenario = _scenario("burst-of-messages.yaml")
    for keep in (False, True):
        buffer = io.StringIO()
        record_scenario(scenario, buffer, keep_content=keep)
        trace = trace_from_lines(buffer.getvalue().splitlines())
        texts = [s.exchange.body.text for s in trace.steps]
        assert trace.header.content_kept is keep
        assert all(t is not None for t in texts) is keep
        assert all(t is None for t in texts) is not keep


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer(ServerSettings(pace=0.02, count=3)) as running:
        yield running


def test_watch_record_writes_a_trace_that_replays(
    server: ReferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pollwise watch --record`` on the real clock; ``replay`` finds it identical."""
    assert main(["new", server.url]) == 0
    conversation = capsys.readouterr().out.strip()
    path = tmp_path / "live.jsonl"
    url = server.url.replace("http://", "http://someone:pw-s3cret@")
    code = main(
        [
            "watch",
            url,
            "--conversation",
            conversation,
            "--record",
            str(path),
            "--header",
            "Authorization: Bearer tok-s3cret",
            "--initial-delay",
            "0.02",
            "--max-delay",
            "0.1",
            "--plain",
        ]
    )
    assert code == 0
    text = path.read_text(encoding="utf-8")
    assert "s3cret" not in text
    assert "someone" not in text
    trace = read_trace(path)
    assert trace.end is not None
    assert trace.end.outcome == "done"
    assert trace.header.source["tool"] == "pollwise watch"
    assert all(json.loads(line) for line in text.splitlines())
    capsys.readouterr()
    assert main(["replay", str(path)]) == 0
    assert "identical" in capsys.readouterr().out


def test_a_killed_process_leaves_a_trace_that_reads_and_replays(
    server: ReferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL in the middle of a session: no end record, every step so far."""
    import subprocess
    import sys

    assert main(["new", server.url, "--fault", "stall"]) == 0
    conversation = capsys.readouterr().out.strip()
    path = tmp_path / "killed.jsonl"
    argv = [sys.executable, "-m", "pollwise.adapters.cli", "watch", server.url]
    argv += ["--conversation", conversation, "--record", str(path), "--json"]
    argv += ["--initial-delay", "0.01", "--max-delay", "0.02", "--stall-after", "none"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    answered = 0
    for line in process.stdout:
        answered += json.loads(line).get("event") in ("poll_answered", "poll_failed")
        if answered == 4:
            break
    process.kill()
    process.wait(10)
    process.stdout.close()
    trace = read_trace(path)
    assert trace.end is None
    assert len(trace.steps) >= 3  # poll 4 was answered, so steps 1-3 were written
    assert main(["replay", str(path)]) == 0
    captured = capsys.readouterr()
    assert "identical" in captured.out
    assert "no end record" in captured.err


def test_api_keys_in_the_polled_url_are_not_recorded(
    server: ReferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", server.url]) == 0
    conversation = capsys.readouterr().out.strip()
    path = tmp_path / "t.jsonl"
    url = f"{server.url}/conversations/{conversation}?api_key=s3cret&page=1"
    assert main(["watch", url, "--no-trigger", "--record", str(path), "--plain"]) == 0
    text = path.read_text(encoding="utf-8")
    assert "s3cret" not in text
    trace = read_trace(path)
    assert "page=1" in trace.header.source["url"]
    assert trace.header.trigger is False
    assert trace.begin is not None
    assert trace.begin.trigger is None
    capsys.readouterr()
    assert main(["replay", str(path)]) == 0


def test_a_cancel_reaches_the_request_through_the_recorder() -> None:
    """Found by an embedding trial: RecordingApi had no interrupt(), so a
    cancelled recorded session waited out its request timeout."""
    clock = FakeClock()
    session = Session(clock, Policy())
    recorder = TraceRecorder.attach(session, MemorySink())
    api = BlockingApi()
    canceller = threading.Thread(
        target=lambda: api.entered.wait(10) and session.cancel()
    )
    canceller.start()
    run_sync(session, recorder.wrap(api))
    canceller.join(10)
    assert api.release.is_set()  # only interrupt() sets it
    assert session.outcome is Outcome.CANCELLED


def test_a_recorder_over_an_api_without_interrupt_interrupts_nothing() -> None:
    clock = FakeClock()
    api = ScriptedApi([], clock)
    session = Session(clock, Policy())
    recorder = TraceRecorder.attach(session, MemorySink())
    recorder.wrap(api).interrupt()  # nothing to abandon: no error
