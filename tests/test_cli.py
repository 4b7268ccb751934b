"""The ``pollwise`` command line, end to end against the real reference server."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from livekit import handler_server

from pollwise.adapters.cli import main
from pollwise.adapters.httpx_api import Endpoint
from pollwise.adapters.reference_server import ReferenceServer, ServerSettings
from pollwise.adapters.watch import WatchOptions, watch
from pollwise.engine import Policy

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--initial-delay", "0.02", "--max-delay", "0.1", "--max-retry-after", "0.05"]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with ReferenceServer(ServerSettings(pace=0.02, count=3)) as running:
        yield running.url


def _new(url: str, capsys: pytest.CaptureFixture[str], *faults: str) -> str:
    argv = ["new", url]
    for fault in faults:
        argv += ["--fault", fault]
    assert main(argv) == 0
    return capsys.readouterr().out.strip()


@pytest.mark.parametrize(
    ("faults", "extra", "code", "outcome"),
    [
        ((), [], 0, "done"),
        (("stall",), ["--stall-after", "0.3"], 4, "stalled"),
        (("fail",), [], 1, "failed"),
        (("rate-limit",), [], 0, "done"),
        (("503",), [], 0, "done"),
        (("503-forever",), [], 1, "failed"),
        (("slow",), [], 0, "done"),
        (("unreadable",), [], 0, "done"),
        (("stall",), ["--timeout", "0.3"], 3, "timed_out"),
        (("stall",), ["--max-polls", "2"], 3, "timed_out"),
    ],
)
def test_watch_ends_each_fault_with_its_outcome_and_exit_code(
    server: str,
    capsys: pytest.CaptureFixture[str],
    faults: tuple[str, ...],
    extra: list[str],
    code: int,
    outcome: str,
) -> None:
    conversation = _new(server, capsys, *faults)
    argv = ["watch", server, "--conversation", conversation, "--json", *FAST, *extra]
    assert main(argv) == code
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["event"] == "summary"
    assert events[-1]["outcome"] == outcome
    ended = [e for e in events if e["event"] == "ended"]
    assert len(ended) == 1


def test_watch_prints_every_message_once_in_order(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    conversation = _new(server, capsys)
    assert main(["watch", server, "--conversation", conversation, "--json", *FAST]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ids = [e["id"] for e in events if e["event"] == "message"]
    assert ids == ["m1", "m2", "m3"]


def test_watch_without_a_terminal_prints_plain_lines_and_a_summary(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    conversation = _new(server, capsys)
    assert main(["watch", server, "--conversation", conversation, *FAST]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("watching http://127.0.0.1:")
    assert sum(line.startswith("  assistant: ") for line in lines) == 3
    assert lines[-1].startswith("done (status 'complete') · ")
    assert "\x1b[" not in "".join(lines)


def test_an_unknown_conversation_fails_with_exit_1(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["watch", server, "--conversation", "nope", "--json", *FAST]
    assert main(argv) == 1
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-2]["reason"] == "trigger_failed"


def test_no_trigger_polls_a_running_generation(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import httpx

    conversation = _new(server, capsys)
    url = f"{server}/conversations/{conversation}"
    assert httpx.post(url + "/generate-sequence").status_code == 202
    assert main(["watch", url, "--no-trigger", "--json", *FAST]) == 0


def test_a_secret_header_never_reaches_the_output_or_the_logs(
    server: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    conversation = _new(server, capsys)
    secret = "Bearer planted-s3cret-value"
    argv = [
        "-vv",
        "watch",
        f"http://user:pa55word@{server.removeprefix('http://')}",
        "--conversation",
        conversation,
        "--header",
        f"Authorization: {secret}",
        *FAST,
    ]
    with caplog.at_level("DEBUG"):
        assert main(argv) == 0
    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text
    assert "planted-s3cret-value" not in everything
    assert "pa55word" not in everything
    assert "GET http://127.0.0.1" in caplog.text  # the log did record requests


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["watch", "http://127.0.0.1:9/", "--multiplier", "0.5"], "multiplier"),
        (["watch", "http://127.0.0.1:9/", "--jitter", "wild"], "jitter"),
        (["watch", "http://127.0.0.1:9/", "--timeout", "0"], "timeout"),
        (["watch", "ftp://x/", "--conversation", "c"], "not an http(s) URL"),
        (["watch", "http://127.0.0.1:9/", "--header", "nocolon"], "Name: value"),
        (["watch", "http://127.0.0.1:9/", "--profile", "/no/such.yaml"], "such.yaml"),
        (["demo", "--fault", "gremlins"], "gremlins"),
        (["new", "http://127.0.0.1:9/"], "cannot reach"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_bad_profile_file_names_the_file_and_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text("status_path: status\nmessages_path: 'a[\n", encoding="utf-8")
    argv = ["watch", "http://127.0.0.1:9/", "--profile", str(profile)]
    assert main(argv) == 2
    assert f"{profile}:" in capsys.readouterr().err


def test_an_invalid_jmespath_in_a_profile_is_refused_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text("status_path: 'a..b'\n", encoding="utf-8")
    assert main(["watch", "http://127.0.0.1:9/", "--profile", str(profile)]) == 2
    assert "status_path" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["watch"])
    assert exit_info.value.code == 2


def test_the_demo_runs_a_generation_to_done(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--pace", "0.02", "--count", "3", "--json", *FAST]
    assert main(argv) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["id"] for e in events if e["event"] == "message"] == ["m1", "m2", "m3"]


def test_the_demo_shows_a_fault(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--pace", "0.02", "--fault", "fail", "--json", *FAST]
    assert main(argv) == 1


def test_simulate_passes_the_shared_scenarios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = sorted(str(p) for p in (ROOT / "specs").glob("*.yaml"))
    assert files
    assert main(["simulate", *files]) == 0


def test_simulate_exits_1_when_an_expectation_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "wrong.yaml"
    scenario.write_text(
        "name: wrong\nbackend: [{at: 0, body: {status: done}}]\n"
        "expect: {outcome: stalled, request_times: [2]}\n",
        encoding="utf-8",
    )
    assert main(["simulate", "--json", str(scenario)]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["outcome"] == "done"
    assert result["request_times"] == [1.0]
    assert len(result["expect_failures"]) == 2


def test_simulate_exits_2_naming_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("name: bad\nbackend:\n  - {at: 0, latency: -1}\n")
    assert main(["simulate", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert f"{scenario}:3:" in err
    assert "latency" in err


def test_the_diagram_check_passes_on_the_committed_files() -> None:
    assert main(["diagram", "--check", "--out", str(ROOT / "diagrams")]) == 0


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
def test_ctrl_c_cancels_the_session_and_exits_130(server: str) -> None:
    import httpx

    conversation = httpx.post(f"{server}/conversations", json={"faults": ["stall"]})
    argv = [
        sys.executable,
        "-m",
        "pollwise.adapters.cli",
        "watch",
        server,
        "--conversation",
        conversation.json()["id"],
        "--stall-after",
        "none",
        "--plain",
        *FAST,
    ]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("watching")
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=10)
    assert process.returncode == 130
    assert out.splitlines()[-1].startswith("cancelled")


class _UnreadableBeforeTheTrigger(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.server.triggered = True  # type: ignore[attr-defined]
        self._answer(202, b"{}")

    def do_GET(self) -> None:
        if getattr(self.server, "triggered", False):
            self._answer(200, b'{"status": "complete", "messages": [{"id": "a"}]}')
        else:
            self._answer(503, b"")


def test_watch_warns_when_it_cannot_read_the_conversation_before_the_trigger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without that first read, every message already there shows as new; it
    used to happen silently."""
    with handler_server(_UnreadableBeforeTheTrigger) as base:
        endpoint = Endpoint(poll_url=f"{base}/c", trigger_url=f"{base}/c/run")
        options = WatchOptions(policy=Policy(initial_delay=0.01), output="json")
        with caplog.at_level(logging.WARNING, logger="pollwise.adapters.watch"):
            view = watch(endpoint, options, stdout=io.StringIO())
    assert [m.label for m in view.messages] == ["a"]
    [record] = caplog.records
    assert "before the trigger (HTTP 503)" in record.getMessage()


class _HangsBeforeTheTrigger(_UnreadableBeforeTheTrigger):
    def do_GET(self) -> None:
        if getattr(self.server, "triggered", False):
            self._answer(200, b'{"status": "complete", "messages": []}')
        else:
            self.server.release.wait(5)  # type: ignore[attr-defined]


def test_watch_reads_the_conversation_before_the_trigger_within_the_timeout() -> None:
    """That read waited for the request timeout (10 s here) whatever the
    overall timeout (0.5 s): watch said nothing for the whole wait."""
    with handler_server(_HangsBeforeTheTrigger) as base:
        endpoint = Endpoint(poll_url=f"{base}/c", trigger_url=f"{base}/c/run")
        policy = Policy(initial_delay=0.01, timeout=0.5, request_timeout=10.0)
        options = WatchOptions(policy=policy, output="json")
        started = time.monotonic()
        watch(endpoint, options, stdout=io.StringIO())
        took = time.monotonic() - started
    assert took < 2.0


def test_new_and_watch_keep_a_query_on_the_base_url(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A base URL with ``?api_key=...`` (found by an embedding trial: the
    path went into the query, and the trigger answered 404)."""
    base = f"{server}?api_key=abc"
    conversation = _new(base, capsys)
    argv = ["watch", base, "--conversation", conversation, "--json", *FAST]
    assert main(argv) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["outcome"] == "done"
