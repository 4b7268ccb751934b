"""Trace records: JSON Lines that round-trip, match the schema, and read safely."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pollwise.adapters.trace as trace_module
from pollwise.adapters.cli import main
from pollwise.adapters.scenario import load_scenario
from pollwise.adapters.trace import (
    BeginRecord,
    BodySummary,
    Decision,
    EndRecord,
    Exchange,
    HeaderRecord,
    MessageSummary,
    Record,
    StepRecord,
    TraceError,
    TraceStatistics,
    TraceWriter,
    read_trace,
    record_from_json,
    record_to_json,
    trace_from_lines,
)
from pollwise.adapters.trace_recorder import record_scenario

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads(
    (ROOT / "adapters" / "trace_schema.json").read_text(encoding="utf-8")
)
WORKED = ROOT / "specs" / "worked-example-burst-then-complete.yaml"
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _worked_lines() -> list[str]:
    buffer = io.StringIO()
    record_scenario(load_scenario(WORKED), buffer)
    return buffer.getvalue().splitlines()


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize(
    "spec",
    [
        "worked-example-burst-then-complete.yaml",
        "cancel-in-flight.yaml",
        "trigger-transport-error.yaml",
        "unreadable-2xx-bodies-are-failed.yaml",
        "messages-without-id.yaml",
        "retry-after-ms-too-many-digits-is-clamped.yaml",
    ],
)
def test_every_recorded_line_matches_the_schema(spec: str) -> None:
    buffer = io.StringIO()
    record_scenario(load_scenario(ROOT / "specs" / spec), buffer, keep_content=True)
    for line in buffer.getvalue().splitlines():
        VALIDATOR.validate(json.loads(line))


def test_a_trace_is_a_header_a_begin_a_step_per_poll_and_an_end() -> None:
    trace = trace_from_lines(_worked_lines(), "worked")
    assert trace.header.format == "pollwise-trace"
    assert trace.header.version == 1
    assert trace.begin is not None
    assert [s.exchange.sent for s in trace.steps] == [1, 3, 4, 6, 10.2]
    assert trace.end is not None
    assert (trace.end.outcome, trace.end.at) == ("done", 10.2)
    assert trace.lines == {"begin": 2, 1: 3, 2: 4, 3: 5, 4: 6, 5: 7, "end": 8}


def test_the_decision_says_why_the_next_poll_is_when_it_is() -> None:
    """Backoff step, server hint, progress reset: as the contract's worked example."""
    steps = trace_from_lines(_worked_lines()).steps
    second, fourth = steps[1].decision, steps[3].decision
    assert second is not None
    assert fourth is not None
    assert (second.why, second.no_progress_polls, second.progress_reset) == (
        "backoff",
        0,
        True,
    )
    assert (fourth.wait, fourth.hint, fourth.next_at, fourth.why) == (
        4.0,
        3.0,
        10.2,
        "backoff",
    )
    assert steps[3].exchange.headers == (("retry-after", "3"),)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
_TIME = st.floats(min_value=-5, max_value=1e6, allow_nan=False)
_MAYBE_TIME = st.none() | _TIME
_EXCHANGE = st.builds(
    Exchange,
    sent=_MAYBE_TIME,
    answered=_MAYBE_TIME,
    answer=st.sampled_from(trace_module.ANSWER_KINDS),
    http_status=st.none() | st.integers(100, 599),
    headers=st.lists(
        st.tuples(st.sampled_from(["date", "retry-after"]), st.text(max_size=5)),
        max_size=2,
        unique_by=lambda h: h[0],
    ).map(tuple),
    body=st.builds(
        BodySummary,
        kind=st.just("json"),
        status=_JSON,
        messages=st.lists(
            st.builds(MessageSummary, id=_JSON, created_at=_JSON), max_size=3
        ).map(tuple),
        progress=_JSON,
        text=st.none() | st.text(max_size=5),
    )
    | st.builds(BodySummary, kind=st.sampled_from(["empty", "none", "not_json"])),
    error=st.none() | st.text(max_size=5),
    transport=st.none() | st.sampled_from(["connect", "timeout", "reset"]),
    hint=_MAYBE_TIME,
)
_DECISION = st.none() | st.builds(
    Decision,
    action=st.just("poll"),
    next_at=_TIME,
    wait=_TIME,
    hint=_TIME,
    why=st.sampled_from(["backoff", "adaptive", "hint", "stall deadline", "timeout"]),
    no_progress_polls=st.integers(0, 50),
    progress_reset=st.booleans(),
)
_RECORDS = st.one_of(
    st.builds(
        StepRecord,
        number=st.integers(1, 1000),
        exchange=_EXCHANGE,
        request_timeout=_MAYBE_TIME,
        has_progress=st.none() | st.booleans(),
        new_messages=st.lists(_JSON, max_size=3).map(tuple),
        state_before=st.sampled_from(["backoff", None]),
        state_after=st.sampled_from(["backoff", "done", None]),
        decision=_DECISION,
    ),
    st.builds(
        BeginRecord,
        wall=_MAYBE_TIME,
        trigger=st.none() | _EXCHANGE,
        state_after=st.sampled_from(["backoff", "failed"]),
        decision=_DECISION,
    ),
    st.builds(
        EndRecord,
        at=_TIME,
        outcome=st.sampled_from(["done", "stalled", "unknown"]),
        reason=st.text(max_size=5),
        detail=st.text(max_size=5),
        statistics=st.none()
        | st.builds(
            TraceStatistics,
            polls=st.integers(0, 9),
            failed_polls=st.integers(0, 9),
            messages=st.integers(0, 9),
            elapsed=_TIME,
        ),
    ),
)


@given(_RECORDS)
def test_every_record_round_trips_through_a_json_line(record: Record) -> None:
    line = json.dumps(record_to_json(record))
    assert record_from_json(json.loads(line)) == record


@given(_RECORDS)
def test_every_record_matches_the_schema(record: Record) -> None:
    VALIDATOR.validate(json.loads(json.dumps(record_to_json(record))))


def test_a_records_repr_is_python_that_builds_it_again() -> None:
    """STYLE 8: a trace record's repr is valid Python."""
    trace = trace_from_lines(_worked_lines())
    names: dict[str, Any] = {
        name: getattr(trace_module, name) for name in trace_module.__all__
    }
    for record in trace.records():
        assert eval(repr(record), names) == record


def test_the_writer_flushes_every_record(tmp_path: Path) -> None:
    """Crash safety: what was written is on disk before the next record."""
    path = tmp_path / "t.jsonl"
    writer = TraceWriter(path)
    header = trace_from_lines(_worked_lines()).header
    writer.write(header)
    assert path.read_text(encoding="utf-8").count("\n") == 1
    writer.write(BeginRecord())
    assert path.read_text(encoding="utf-8").count("\n") == 2
    writer.close()


def test_a_truncated_last_line_is_reported_and_skipped(tmp_path: Path) -> None:
    lines = _worked_lines()
    path = tmp_path / "killed.jsonl"
    path.write_text("\n".join(lines[:4]) + "\n" + lines[4][:37], encoding="utf-8")
    trace = read_trace(path)
    assert len(trace.steps) == 2
    assert trace.end is None
    assert trace.warnings == ("line 5: truncated last line skipped",)


def _broken(lines: list[str], index: int, text: str) -> list[str]:
    return [*lines[:index], text, *lines[index + 1 :]]


@pytest.mark.parametrize(
    ("change", "line", "problem"),
    [
        (lambda ls: _broken(ls, 2, "{oops"), 3, "not JSON"),
        (lambda ls: ls[1:], 1, "the first line must be the header"),
        (lambda ls: [ls[0], ls[0], *ls[1:]], 2, "a second header"),
        (lambda ls: [ls[0], *ls[2:]], 2, "a step before the begin record"),
        (lambda ls: [*ls[:2], ls[3], ls[2], *ls[4:]], 3, "step 2 where step 1 was due"),
        (lambda ls: [*ls, ls[2]], 9, "a record after the end record"),
        (
            lambda ls: _broken(ls, 0, ls[0].replace('"version": 1', '"version": 7')),
            1,
            "trace format version 7 is not supported",
        ),
        (lambda ls: _broken(ls, 2, ls[2].replace('"step"', '"stop"')), 3, "'type'"),
        (
            lambda ls: _broken(ls, 2, ls[2].replace('"sent": 1.0', '"sent": "1"')),
            3,
            "'sent'",
        ),
        (lambda ls: _broken(ls, 1, ""), 2, "empty line"),
    ],
)
def test_a_broken_trace_names_the_file_the_line_and_the_problem(
    tmp_path: Path, change: Any, line: int, problem: str
) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(change(_worked_lines())) + "\n", encoding="utf-8")
    with pytest.raises(TraceError) as caught:
        read_trace(path)
    assert caught.value.line == line
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_a_file_that_is_not_there_or_not_text_is_a_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such file"):
        read_trace(tmp_path / "missing.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TraceError, match="not UTF-8"):
        read_trace(tmp_path / "bin.jsonl")
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(TraceError, match="empty file"):
        read_trace(tmp_path / "empty.jsonl")


def test_the_header_rebuilds_the_policy_and_profile() -> None:
    header = trace_from_lines(_worked_lines()).header
    assert isinstance(header, HeaderRecord)
    scenario = load_scenario(WORKED)
    assert header.build_policy() == scenario.policy
    assert header.build_profile() == scenario.profile


def test_a_number_beyond_a_doubles_range_is_recorded_as_json_and_replays(
    tmp_path: Path,
) -> None:
    """An id of ``1e400`` reads as infinity; the trace writer refused it
    (ValueError) and replay could not rebuild the body. It is written as
    ``1e999``, strict JSON that reads back as infinity, and the trace
    replays identically."""
    scenario = tmp_path / "huge.yaml"
    scenario.write_text(
        "name: huge\nbackend:\n"
        '  - {at: 0, raw: "{\\"status\\": \\"running\\", \\"messages\\": '
        '[{\\"id\\": 1e400}]}"}\n'
        '  - {at: 1.5, raw: "{\\"status\\": \\"complete\\", \\"messages\\": '
        '[{\\"id\\": 5}, {\\"id\\": 1e400}]}"}\n',
        encoding="utf-8",
    )
    recorded = tmp_path / "huge.jsonl"
    session = record_scenario(load_scenario(scenario), recorded)
    assert [m.label for m in session.view().messages] == [float("inf"), 5]
    text = recorded.read_text(encoding="utf-8")
    assert "Infinity" not in text
    assert '"id": 1e999' in text
    for line in text.splitlines():
        json.loads(line, parse_constant=lambda name: pytest.fail(name))
    assert main(["replay", str(recorded)]) == 0


def test_a_full_disk_names_the_trace_file() -> None:
    """The OSError of a failed write names no file; the CLI printed only
    "No space left on device" (``--record /dev/full``)."""

    class Full(io.StringIO):
        name = "session.jsonl"

        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    writer = TraceWriter(Full())
    header = HeaderRecord(pollwise="0", created="now", policy={}, profile={})
    with pytest.raises(OSError, match="No space left") as raised:
        writer.write(header)
    assert raised.value.filename == "session.jsonl"
    assert raised.value.errno == errno.ENOSPC
