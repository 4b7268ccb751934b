"""Bad input found by trying pollwise as a new user: each one is refused
clearly, or handled as the contract says, never with a traceback."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from pollwise.adapters.cli import main
from pollwise.adapters.httpx_api import Endpoint
from pollwise.adapters.live_view import describe_message, printable
from pollwise.adapters.scenario import load_scenario
from pollwise.adapters.simulate import simulate
from pollwise.engine import Profile, ProfileError, Readable, Response, classify
from pollwise.engine.answers import Message
from pollwise.engine.profile import StatusKind


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("X-Name", "é", "printable ASCII"),
        ("X-Name", "a\r\nInjected: 1", "printable ASCII"),
        ("X-Name", "a\x00b", "printable ASCII"),
        ("Content-Length", "5", "set by pollwise"),
        ("Host", "elsewhere", "set by pollwise"),
        ("Bad Name", "v", "not an HTTP token"),
    ],
)
def test_a_header_that_would_corrupt_the_request_is_refused_without_its_value(
    name: str, value: str, says: str
) -> None:
    with pytest.raises(ValueError, match=says) as info:
        Endpoint(poll_url="http://127.0.0.1:1/", headers={name: value})
    assert value not in str(info.value) or value == "5"


def test_a_bad_header_on_the_command_line_exits_2_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["watch", "http://127.0.0.1:9/", "--header", "Authorization: s3cr\u00e9t"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "s3cr" not in err


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://127.0.0.1:0/"])
def test_a_port_out_of_range_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="port"):
        Endpoint(poll_url=url)


def test_serve_refuses_a_port_out_of_range() -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", "70000"])
    assert info.value.code == 2


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name: x\nbackend: &b [{at: 0, body: *b}]\n", "recursive node"),
        ("name: x\n\x00\n", "invalid YAML"),
    ],
)
def test_hostile_yaml_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["simulate", str(path)]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_body_nested_too_deeply_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    path = tmp_path / f"deep{suffix}"
    body = "[" * 5000 + "]" * 5000
    path.write_text('{"backend": [{"at": 0, "body": ' + body + "}]}\n")
    assert main(["simulate", str(path)]) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_a_scenario_where_time_never_passes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A zero delay and an instant backend would poll at t = 0 forever."""
    path = tmp_path / "zero.yaml"
    path.write_text("policy: {initial_delay: 0, max_delay: 0, timeout: 5}\n")
    assert main(["simulate", str(path)]) == 2
    assert "would never end" in capsys.readouterr().err


def test_a_zero_delay_session_that_max_polls_ends_runs_to_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """max_polls ends a session at one instant, so it is no runaway: with
    12000 polls (the guard was 10000) simulate refused it as never ending.
    The guard is made small here to keep the test fast."""
    module = importlib.import_module("pollwise.adapters.simulate")
    monkeypatch.setattr(module, "MAX_REQUESTS_AT_ONE_INSTANT", 50)
    path = tmp_path / "budget.yaml"
    path.write_text(
        "policy: {initial_delay: 0, max_delay: 0, max_polls: 60}\n"
        "backend: [{at: 0, body: {status: running}}]\n"
        "expect: {outcome: timed_out, ended_by: 0, min_requests: 60, "
        "max_requests: 60}\n"
    )
    result = simulate(load_scenario(path))
    assert result.passed, result.expect_failures
    assert len(result.request_times) == 60
    path.write_text(
        "policy: {initial_delay: 0, max_delay: 0, max_polls: 40}\n"
        "backend: [{at: 0, body: {status: running}}]\n"
    )
    assert len(simulate(load_scenario(path)).request_times) == 40


def test_an_unknown_jmespath_function_is_refused_when_the_profile_is_built() -> None:
    with pytest.raises(ProfileError, match=r"unknown JMESPath function foo\(\)"):
        Profile(status_path="foo(status)")
    with pytest.raises(ProfileError, match="nope"):
        Profile(messages_path="items[?nope(@)]")


def test_a_path_that_cannot_read_a_body_yields_nothing() -> None:
    """A valid expression that fails on one body (sort_by over items without
    the key, length of a number) yields nothing there; the body is still
    JSON, so the answer is readable, as the contract defines it."""
    profile = Profile(messages_path="sort_by(items, &ts)")
    good = Response(200, (), b'{"items": [{"ts": 2, "id": "b"}, {"ts": 1, "id": "a"}]}')
    bad = Response(200, (), b'{"status": "done", "items": [{"ts": 1}, {"other": 2}]}')
    answer = classify(good, profile, 0.0)
    assert isinstance(answer, Readable)
    assert [m.id for m in answer.messages] == ["a", "b"]
    unread = classify(bad, profile, 0.0)
    assert isinstance(unread, Readable)
    assert unread.messages == ()
    assert unread.status_kind is StatusKind.DONE
    ids = classify(
        Response(200, (), b'{"messages": [{"id": "abc"}, {"id": 5}]}'),
        Profile(id_path="length(id)"),
        0.0,
    )
    assert isinstance(ids, Readable)
    assert [(m.key, m.id) for m in ids.messages] == [
        (("id", "3"), 3),
        (("position", "1"), None),
    ]
    phase = classify(
        Response(200, (), b'{"phase": "x", "messages": []}'),
        Profile(progress_path="abs(phase)"),
        0.0,
    )
    assert isinstance(phase, Readable)
    assert phase.progress_value is None


def test_control_characters_from_a_server_never_reach_the_terminal() -> None:
    data = {"role": "assistant", "content": "hi\x1b[2J\x07\rthere é ✓"}
    line = describe_message(Message(("id", '"1"'), "1", 0, data))
    assert line == "assistant: hi\\x1b[2J\\x07\\rthere é ✓"
    assert printable("tab\there") == "tab\\there"


def test_output_closed_early_ends_quietly_with_141() -> None:
    """``pollwise ... | head`` stops at once, with no traceback."""
    command = (
        f"{sys.executable} -m pollwise.adapters.cli demo --json --pace 0.05 "
        "--count 20 --initial-delay 0.05 | head -1"
    )
    done = subprocess.run(
        ["bash", "-c", command + "; echo ${PIPESTATUS[0]}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.splitlines()[-1] == "141"
    assert "Traceback" not in done.stderr


def test_a_trigger_latency_is_accepted_and_changes_nothing(tmp_path: Path) -> None:
    """t = 0 is when the trigger returned, so its latency cannot move anything."""
    path = tmp_path / "slow-trigger.yaml"
    path.write_text(
        "trigger: {http_status: 202, latency: 3}\n"
        "backend: [{at: 0, body: {status: done, messages: [{id: a}]}}]\n"
        "expect: {outcome: done, request_times: [1], messages: [a]}\n",
        encoding="utf-8",
    )
    assert simulate(load_scenario(path)).expect_failures == ()
