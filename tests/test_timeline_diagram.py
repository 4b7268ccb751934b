"""One session drawn: an SVG timeline, a Mermaid sequence, the state path."""

from __future__ import annotations

import io
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import statemachine.contrib.diagram as sm_diagram

from pollwise.adapters.cli import main
from pollwise.adapters.import_trace import import_recording
from pollwise.adapters.scenario import load_scenario
from pollwise.adapters.timeline_diagram import (
    render_machine_path,
    render_sequence,
    render_timeline_svg,
    session_diagrams,
    stale_session_diagrams,
    visited_states,
)
from pollwise.adapters.trace import Trace, trace_from_lines
from pollwise.adapters.trace_recorder import record_scenario
from pollwise.adapters.trace_sources import open_session

ROOT = Path(__file__).resolve().parent.parent
WORKED = ROOT / "specs" / "worked-example-burst-then-complete.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "traces"


def _trace(spec: str) -> Trace:
    buffer = io.StringIO()
    record_scenario(load_scenario(ROOT / "specs" / spec), buffer)
    return trace_from_lines(buffer.getvalue().splitlines(), spec)


def test_the_committed_session_example_is_current() -> None:
    """diagrams/session-example.* are drawn from the worked example; if this
    fails, run ``pollwise diagram --trace specs/worked-example-burst-then-complete.yaml
    --name session-example``."""
    trace = open_session(WORKED).trace
    assert stale_session_diagrams(trace, ROOT / "diagrams", "session-example") == []


def test_diagram_check_reports_a_stale_session_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "session-example.svg",
        "session-example.mmd",
        "session-example-machine.mmd",
    ):
        shutil.copy(ROOT / "diagrams" / name, tmp_path / name)
    argv = [
        "diagram",
        "--trace",
        str(WORKED),
        "--name",
        "session-example",
        "--out",
        str(tmp_path),
    ]
    assert main([*argv, "--check"]) == 0
    (tmp_path / "session-example.mmd").write_text("sequenceDiagram\n", encoding="utf-8")
    assert main([*argv, "--check"]) == 1
    assert "stale: session-example.mmd" in capsys.readouterr().err
    assert main(argv) == 0
    assert main([*argv, "--check"]) == 0


def test_the_svg_is_well_formed_and_draws_every_poll() -> None:
    trace = _trace("worked-example-burst-then-complete.yaml")
    root = ET.fromstring(render_timeline_svg(trace))
    titles = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert sum(t.startswith("poll ") for t in titles) == 5
    assert "poll 4: sent 6s, failed HTTP 429" in titles
    assert any(t.startswith("m2 seen at 10.2s") for t in titles)


def test_the_sequence_has_a_request_and_an_answer_per_poll() -> None:
    trace = _trace("worked-example-burst-then-complete.yaml")
    text = render_sequence(trace)
    assert text.startswith("sequenceDiagram\n")
    assert text.count("C->>S: poll") == 5
    assert text.count("S-->>C:") == 5
    assert "S-->>C: HTTP 429, hint 3s, at 6.2s" in text
    assert "Note over C: wait 4s, next poll at 10.2s (backoff)" in text
    assert text.rstrip().endswith("done at 10.2s: completed (status 'complete')")


def test_mermaid_special_characters_are_escaped() -> None:
    text = render_sequence(_trace("messages-without-id.yaml"))
    assert "#35;0" in text
    assert ";" not in text.replace("#35;", "")


@pytest.mark.parametrize(
    ("spec", "final"),
    [
        ("worked-example-burst-then-complete.yaml", "done"),
        ("stall.yaml", "stalled"),
        ("cancel-at-zero.yaml", "cancelled"),
    ],
)
def test_the_state_path_is_highlighted_on_the_machine(spec: str, final: str) -> None:
    trace = _trace(spec)
    text = render_machine_path(trace)
    visited = visited_states(trace)
    assert visited[0] == "idle"
    assert visited[-1] == final
    assert f"    class {final} ended" in text
    assert "classDef visited" in text


def test_an_imported_recording_is_drawn_too() -> None:
    trace = import_recording(FIXTURES / "scaleway-snapshot-poll.yaml").trace
    files = session_diagrams(trace, "snap")
    assert "participant C as client" in files["snap.mmd"]
    ET.fromstring(files["snap.svg"])
    assert "class done ended" in files["snap-machine.mmd"]


def test_drawing_never_reaches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(sm_diagram, "urlopen", lambda *a, **k: calls.append(a))
    session_diagrams(_trace("worked-example-burst-then-complete.yaml"), "x")
    assert calls == []
