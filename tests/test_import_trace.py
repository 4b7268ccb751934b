"""Importing real recordings: every shared file becomes a trace that replays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pollwise.adapters.cli import main
from pollwise.adapters.import_trace import (
    detect_format,
    find_sessions,
    import_recording,
    read_interactions,
    resolve_times,
)
from pollwise.adapters.recording import Interaction
from pollwise.adapters.trace import TraceError, read_trace
from pollwise.adapters.whatif import compare_policies

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "traces"

#: file: (format, polls, outcome, timing source, words of the profile guess)
EXPECTED = {
    "openai-assistants-run-poll.yaml": (
        "vcr",
        19,
        "done",
        "date",
        "status at 'status'",
    ),
    "replicate-prediction-poll.yaml": ("vcr", 4, "done", "date", "status at 'status'"),
    "azure-formrec-train-model.yaml": ("vcr", 3, "done", "date", "'modelInfo.status'"),
    "azure-formrec-copy-model.yaml": ("vcr", 5, "done", "date", "status at 'status'"),
    "azure-arm-deploymentscript-failed.json": (
        "azure",
        4,
        "failed",
        "date",
        "creating -> provisioningResources -> failed",
    ),
    "linode-lke-kubeconfig-503-poll.yaml": (
        "govcr",
        14,
        "done",
        "expires",
        "first readable answer ends",
    ),
    "scaleway-snapshot-poll.yaml": ("govcr", 7, "done", "date", "'snapshot.state'"),
    "scaleway-redis-cluster-create-delete.yaml": (
        "govcr",
        20,
        "done",
        "date+duration",
        "provisioning -> initializing -> ready",
    ),
    "scaleway-tem-domain-check-backoff.yaml": (
        "govcr",
        11,
        "done",
        "date+duration",
        "autoconfiguring -> checked",
    ),
    "upcloud-objstorage-bucket-delete-poll.yaml": (
        "govcr",
        44,
        "done",
        "date",
        "after DELETE of 'test'",
    ),
    "reference-session.har": ("har", 3, "done", "har", "messages at 'messages'"),
}
SHARED = sorted(
    p.name for p in FIXTURES.iterdir() if p.suffix in (".yaml", ".json", ".har")
)


def test_every_shared_recording_has_an_expectation() -> None:
    assert sorted(EXPECTED) == SHARED


@pytest.mark.parametrize("name", SHARED)
def test_every_recording_imports_as_its_readme_says(name: str) -> None:
    fmt, polls, outcome, timing, guess = EXPECTED[name]
    result = import_recording(FIXTURES / name)
    assert result.format == fmt
    assert len(result.trace.steps) == polls
    assert result.trace.end is not None
    assert result.trace.end.outcome == outcome
    assert result.timing.source == timing
    assert not result.timing.assumed
    assert guess in result.chosen.guess.explanation
    sent = [s.exchange.sent or 0.0 for s in result.trace.steps]
    assert sent == sorted(sent)
    assert sent[0] >= 0.0


@pytest.mark.parametrize("name", SHARED)
def test_every_recording_replays_against_pollwise(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Imported with ``pollwise import`` or given to ``replay`` as it is, each
    recording is compared with pollwise's session on the rebuilt timeline."""
    trace_path = tmp_path / "imported.jsonl"
    assert main(["import", str(FIXTURES / name), "-o", str(trace_path)]) == 0
    report = capsys.readouterr().out
    assert "profile guess:" in report
    assert "timing:" in report
    assert read_trace(trace_path).is_imported
    assert main(["replay", str(trace_path)]) == 0
    from_trace = capsys.readouterr().out
    assert "recorded (another client)" in from_trace
    assert main(["replay", str(FIXTURES / name)]) == 0
    direct = capsys.readouterr().out
    assert direct.splitlines()[1:] == from_trace.splitlines()[1:]


def test_every_session_of_every_recording_imports() -> None:
    for name in SHARED:
        result = import_recording(FIXTURES / name)
        for session in result.sessions:
            other = import_recording(FIXTURES / name, session=session.number)
            assert other.trace.steps
            compare_policies(other.trace)


def test_the_redis_delete_session_ends_done_on_a_404_after_the_delete() -> None:
    result = import_recording(
        FIXTURES / "scaleway-redis-cluster-create-delete.yaml", session=2
    )
    assert len(result.trace.steps) == 7
    assert result.trace.end is not None
    assert result.trace.end.outcome == "done"
    assert "404 after DELETE" in result.trace.end.detail
    assert result.chosen.trigger is not None
    assert result.chosen.trigger.method == "DELETE"


def test_the_azure_operation_is_found_by_its_async_operation_url() -> None:
    """The sign-in calls before it are not the operation."""
    result = import_recording(FIXTURES / "azure-arm-deploymentscript-failed.json")
    assert result.chosen.trigger is not None
    assert result.chosen.trigger.method == "PUT"
    begin = result.trace.begin
    assert begin is not None
    assert begin.trigger is not None
    assert begin.trigger.hint == 17.0  # Retry-After: 17 (the client ignored it)


def test_a_session_that_does_not_exist_is_refused() -> None:
    with pytest.raises(TraceError, match="there is no session 3"):
        import_recording(
            FIXTURES / "scaleway-redis-cluster-create-delete.yaml", session=3
        )


def _cassette(tmp_path: Path, dates: bool, stamps: bool) -> Path:
    interactions = []
    for n, status in enumerate(["running", "running", "done"]):
        body: dict[str, object] = {"status": status}
        if stamps:
            body["updated_at"] = 1767225601 + 3 * n
        headers = (
            {"Date": [f"Thu, 01 Jan 2026 00:00:0{3 * n + 1} GMT"]} if dates else {}
        )
        interactions.append(
            {
                "request": {"method": "GET", "uri": "https://api.example/jobs/1"},
                "response": {
                    "status": {"code": 200},
                    "headers": headers,
                    "body": {"string": json.dumps(body)},
                },
            }
        )
    trigger = {
        "request": {"method": "POST", "uri": "https://api.example/jobs"},
        "response": {
            "status": {"code": 201},
            "headers": {"Date": ["Thu, 01 Jan 2026 00:00:00 GMT"]} if dates else {},
            "body": {"string": ""},
        },
    }
    path = tmp_path / "cassette.yaml"
    path.write_text(yaml.safe_dump({"interactions": [trigger, *interactions]}))
    return path


@pytest.mark.parametrize(
    ("dates", "stamps", "source", "assumed", "times"),
    [
        (True, True, "date", False, [1.0, 4.0, 7.0]),
        (False, True, "created_at", False, [0.0, 3.0, 6.0]),
        (False, False, "order", True, [1.0, 2.0, 3.0]),
    ],
)
def test_timing_comes_from_dates_else_created_at_else_order_assumed(
    tmp_path: Path,
    dates: bool,
    stamps: bool,
    source: str,
    assumed: bool,
    times: list[float],
) -> None:
    result = import_recording(_cassette(tmp_path, dates, stamps))
    assert result.timing.source == source
    assert result.timing.assumed is assumed
    assert result.trace.header.timing["assumed"] is assumed
    assert [s.exchange.sent for s in result.trace.steps] == times
    if assumed:
        assert "ASSUMED" in result.timing.note
        assert "ASSUMED" in "\n".join(result.report())


def test_requests_within_one_second_are_spread_across_it() -> None:
    base = 1767225600.0
    items = [
        Interaction(
            index=i,
            method="GET",
            url="u",
            status=200,
            headers=(("Date", f"Thu, 01 Jan 2026 00:00:0{s} GMT"),),
        )
        for i, s in enumerate([0, 0, 0, 1])
    ]
    times, timing = resolve_times(items)
    answered = [a - base for _, a in times]
    assert answered == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    assert "spread evenly" in timing.note


def test_a_run_ends_at_another_change_on_the_server() -> None:
    """GET, PUT of the same URL, then GETs: the session is the GETs after."""

    def item(i: int, method: str, url: str = "https://x/snap/1") -> Interaction:
        return Interaction(index=i, method=method, url=url, status=200, body=b"{}")

    items = [
        item(0, "POST", "https://x/snap"),
        item(1, "GET"),
        item(2, "PUT"),
        item(3, "GET"),
        item(4, "GET"),
        item(5, "GET"),
    ]
    sessions = find_sessions(items)
    assert [[p.index for p in s.polls] for s in sessions] == [[3, 4, 5]]
    assert sessions[0].trigger is not None
    assert sessions[0].trigger.index == 2


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("openai-assistants-run-poll.yaml", "vcr"),
        ("linode-lke-kubeconfig-503-poll.yaml", "govcr"),
        ("scaleway-redis-cluster-create-delete.yaml", "govcr"),
        ("azure-arm-deploymentscript-failed.json", "azure"),
        ("reference-session.har", "har"),
    ],
)
def test_the_format_is_detected(name: str, fmt: str) -> None:
    assert detect_format(FIXTURES / name) == fmt
    chosen, interactions = read_interactions(FIXTURES / name)
    assert chosen == fmt
    assert interactions


def test_a_file_of_no_known_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(TraceError, match="give --format"):
        detect_format(path)


def test_import_to_stdout_and_its_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(FIXTURES / "replicate-prediction-poll.yaml")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[0])["type"] == "header"
    assert "4 polls" in err
    assert main(["import", str(tmp_path / "missing.har")]) == 2
    assert "no such file" in capsys.readouterr().err
