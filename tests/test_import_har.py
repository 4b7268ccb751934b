"""Reading HAR 1.2, as a frontend's polling is captured in a browser."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from har_capture import capture_session, har_document

from pollwise.adapters.import_har import read_har
from pollwise.adapters.import_trace import import_recording
from pollwise.adapters.reference_server import ReferenceServer, ServerSettings
from pollwise.adapters.trace import TraceError
from pollwise.adapters.whatif import compare_policies
from pollwise.engine import Outcome, Policy

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "traces"


def test_har_gives_every_request_its_start_and_duration() -> None:
    interactions = read_har(FIXTURES / "reference-session.har")
    assert [i.method for i in interactions] == [
        "POST",
        "GET",
        "POST",
        "GET",
        "GET",
        "GET",
    ]
    assert all(i.started is not None and i.duration is not None for i in interactions)
    starts = [i.started or 0.0 for i in interactions]
    assert starts == sorted(starts)


def test_the_har_and_pollwises_trace_of_one_session_agree() -> None:
    """Captured twice at once: as HAR (the wire) and as pollwise's own trace."""
    from pollwise.adapters.trace import read_trace

    imported = import_recording(FIXTURES / "reference-session.har").trace
    own = read_trace(FIXTURES / "reference-session.jsonl")
    assert [s.exchange.http_status for s in imported.steps] == [
        s.exchange.http_status for s in own.steps
    ]
    assert [s.new_messages for s in imported.steps] == [
        s.new_messages for s in own.steps
    ]
    assert imported.header.history == own.header.history
    for mine, theirs in zip(imported.steps, own.steps, strict=True):
        # The HAR's clock is the wall clock, pollwise's the monotonic one.
        assert mine.exchange.sent == pytest.approx(theirs.exchange.sent, abs=0.05)


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer(ServerSettings(pace=0.02, count=3)) as running:
        yield running


def test_a_session_captured_now_imports_with_exact_message_times(
    server: ReferenceServer, tmp_path: Path
) -> None:
    policy = Policy(initial_delay=0.01, max_delay=0.05)
    capture, session = capture_session(server.url, policy)
    assert session.outcome is Outcome.DONE
    path = tmp_path / "live.har"
    path.write_text(json.dumps(har_document(capture)))
    result = import_recording(path)
    assert result.timing.source == "har"
    assert len(result.trace.steps) == session.statistics().polls
    comparison = compare_policies(result.trace)
    messages = [e for e in comparison.timeline.events if e.kind == "message"]
    assert [e.label for e in messages] == ["m1", "m2", "m3"]
    assert all(e.exact for e in messages)  # created_at in the bodies


def test_base64_bodies_and_requests_without_a_response(tmp_path: Path) -> None:
    def entry(status: int, text: str, encoding: str | None = None) -> dict[str, object]:
        content: dict[str, object] = {"text": text, "mimeType": "application/json"}
        if encoding:
            content["encoding"] = encoding
        return {
            "startedDateTime": "2026-01-01T00:00:00.250Z",
            "time": 12.5,
            "request": {"method": "GET", "url": "https://x/1"},
            "response": {"status": status, "headers": [], "content": content},
        }

    body = base64.b64encode(b'{"status": "done"}').decode()
    path = tmp_path / "x.har"
    path.write_text(
        json.dumps({"log": {"entries": [entry(200, body, "base64"), entry(0, "")]}})
    )
    first, second = read_har(path)
    assert first.document == {"status": "done"}
    assert first.started == 1767225600.25
    assert first.duration == 0.0125
    assert second.status is None


def test_a_broken_har_is_refused_with_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "x.har"
    path.write_text(json.dumps({"log": {"entries": [{"request": {}, "response": {}}]}}))
    with pytest.raises(TraceError, match="entry 0"):
        read_har(path)
    path.write_text("{\n  nope")
    with pytest.raises(TraceError, match="invalid JSON") as caught:
        read_har(path)
    assert caught.value.line == 2
