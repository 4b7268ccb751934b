"""``replay`` and ``diagram --trace`` take a trace, a recording or a scenario."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pollwise.adapters.scenario import load_scenario
from pollwise.adapters.trace import TraceError
from pollwise.adapters.trace_recorder import record_scenario
from pollwise.adapters.trace_sources import open_session

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "traces"


def test_a_trace_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    buffer = io.StringIO()
    record_scenario(load_scenario(ROOT / "specs" / "stall.yaml"), buffer)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    opened = open_session(path)
    assert opened.kind == "trace"
    assert opened.imported is None


def test_a_recording_is_imported_on_the_fly() -> None:
    opened = open_session(FIXTURES / "upcloud-objstorage-bucket-delete-poll.yaml")
    assert opened.kind == "import"
    assert opened.imported is not None
    assert opened.trace.is_imported


def test_a_scenario_is_run_and_recorded() -> None:
    opened = open_session(ROOT / "specs" / "json-burst-then-complete.json")
    assert opened.kind == "scenario"
    assert opened.trace.end is not None
    assert opened.trace.end.outcome == "done"


def test_anything_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("hello\n")
    with pytest.raises(TraceError, match="not a recording"):
        open_session(path)
    with pytest.raises(TraceError, match="no such file"):
        open_session(tmp_path / "missing")
