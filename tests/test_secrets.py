"""A planted secret never leaves the request it was meant for.

The secret rides in every place a credential can: an Authorization header,
a Cookie header, an API-key header, an API key in the query string, the
userinfo of the URL, a Set-Cookie from the server, and the Location of a
redirect (which ends the session: a 3xx is fatal). A server on 127.0.0.1
checks that it did receive every secret sent (so the test cannot pass by
sending nothing); then every artefact a
session writes is searched for it: the library's logs at DEBUG (its own
and those of httpx and httpcore), the CLI's output and logs at ``-vvv``,
the recorded trace, what ``replay`` prints and the diagrams it draws,
observer events, views and error messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pollwise.adapters.cli import main
from pollwise.adapters.clocks import SystemClock
from pollwise.adapters.httpx_api import (
    AsyncHttpConversationApi,
    Endpoint,
    HttpConversationApi,
)
from pollwise.adapters.trace_recorder import TraceRecorder
from pollwise.engine.outcomes import EndReason, Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.runners import run_async, run_sync
from pollwise.engine.session import Session

SECRET = "pl4nted-s3cret-Zq9"
HEADERS = (
    ("Authorization", f"Bearer {SECRET}"),
    ("Cookie", f"sid={SECRET}"),
    ("X-Api-Key", SECRET),
)
POLICY = Policy(initial_delay=0.01, max_delay=0.05, max_consecutive_errors=5)


class _Job(BaseHTTPRequestHandler):
    """A job that answers with cookies and ends on a redirect, and notes what
    it got."""

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _answer(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Set-Cookie", f"session={SECRET}; HttpOnly")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _note(self) -> None:
        seen: list[str] = self.server.seen  # type: ignore[attr-defined]
        seen.append(self.path)
        seen.extend(f"{k}: {v}" for k, v in self.headers.items())

    def do_POST(self) -> None:
        self._note()
        self._answer(202, b"{}")

    def do_GET(self) -> None:
        self._note()
        count: list[int] = self.server.gets  # type: ignore[attr-defined]
        count.append(1)
        if len(count) % 4 == 1:
            self._answer(429, b'{"error": "slow"}', Retry_After="0.01")
        elif len(count) < 8:
            body = {"status": "running", "messages": [{"id": f"m{len(count)}"}]}
            self._answer(200, json.dumps(body).encode())
        else:
            # A 3xx is fatal (the contract): the session ends on it, with the
            # secret in a Location it was handed and did not follow.
            target = f"/moved?api_key={SECRET}&token={SECRET}"
            self._answer(307, b"", Location=target)


@pytest.fixture
def job() -> Iterator[tuple[str, list[str]]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Job)
    httpd.daemon_threads = True
    httpd.seen = []  # type: ignore[attr-defined]
    httpd.gets = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}", httpd.seen  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _urls(address: str) -> tuple[str, str]:
    """The poll URL carries an API key; the trigger URL a password too (as
    basic auth it takes the place of the bearer token on that request)."""
    poll = f"http://{address}/job?api_key={SECRET}&page=1"
    return poll, f"http://reader:{SECRET}@{address}/job/start?access_token={SECRET}"


def _assert_the_server_got_every_secret(seen: list[str]) -> None:
    text = "\n".join(seen)
    assert f"Authorization: Bearer {SECRET}" in text
    assert f"Cookie: sid={SECRET}" in text
    assert f"X-Api-Key: {SECRET}" in text
    assert f"/job?api_key={SECRET}" in text
    assert "Authorization: Basic " in text  # the userinfo, as basic auth


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_library_at_debug_level_never_writes_a_secret(
    job: tuple[str, list[str]],
    mode: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    address, seen = job
    poll_url, trigger_url = _urls(address)
    endpoint = Endpoint(poll_url=poll_url, trigger_url=trigger_url, headers=HEADERS)
    events: list[Any] = []

    class Everything:
        def __getattr__(self, name: str) -> Any:
            return events.append

    session = Session(SystemClock(), POLICY, observers=[Everything()])
    trace = tmp_path / "trace.jsonl"
    recorder = TraceRecorder.attach(session, trace, keep_content=True)
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="httpx"),
        caplog.at_level(logging.DEBUG, logger="httpcore"),
    ):
        if mode == "sync":
            with HttpConversationApi(endpoint) as api:
                run_sync(session, recorder.wrap(api))
        else:

            async def follow() -> None:
                async with AsyncHttpConversationApi(endpoint) as api:
                    await run_async(session, recorder.wrap_async(api))

            asyncio.run(follow())

    assert session.verdict is not None
    assert (session.outcome, session.verdict.reason) == (
        Outcome.FAILED,
        EndReason.FATAL_ANSWER,
    )
    _assert_the_server_got_every_secret(seen)
    assert "HTTP Request: GET" in caplog.text  # httpx did log
    assert "receive_response_headers" in caplog.text  # httpcore did log
    written = [
        caplog.text,
        trace.read_text(encoding="utf-8"),
        repr(events),
        repr(session.view()),
        repr(endpoint),
        repr(session.verdict),
    ]
    for artefact in written:
        assert SECRET not in artefact


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pollwise.adapters.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def test_the_cli_never_prints_logs_records_or_draws_a_secret(
    job: tuple[str, list[str]], tmp_path: Path
) -> None:
    """watch -vvv --json --record, then replay and diagram --trace."""
    address, seen = job
    poll_url, trigger_url = _urls(address)
    header_flags = [f"--header={name}: {value}" for name, value in HEADERS]
    trace = tmp_path / "trace.jsonl"
    fast = ["--initial-delay", "0.01", "--max-delay", "0.05"]

    plain = _run("-vvv", "watch", poll_url, "--trigger-url", trigger_url,
                 *header_flags, "--plain", *fast, cwd=tmp_path)  # fmt: skip
    watched = _run("-vvv", "watch", poll_url, "--trigger-url", trigger_url,
                   *header_flags, "--json", "--record", str(trace), *fast,
                   cwd=tmp_path)  # fmt: skip
    replayed = _run("-vv", "replay", str(trace), "--json", cwd=tmp_path)
    drawn = _run("diagram", "--trace", str(trace), "--out", str(tmp_path / "d"),
                 cwd=tmp_path)  # fmt: skip

    # 1: failed, on the 307 that ends the job.
    assert plain.returncode == 1, plain.stderr[-2000:]
    assert watched.returncode == 1, watched.stderr[-2000:]
    assert "HTTP Request: GET" in watched.stderr  # the logs were on
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert drawn.returncode == 0, drawn.stderr
    _assert_the_server_got_every_secret(seen)
    outputs = [plain, watched, replayed, drawn]
    for process in outputs:
        assert SECRET not in process.stdout
        assert SECRET not in process.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert trace in files
    assert len(files) >= 2  # the trace and at least one diagram
    for path in files:
        assert SECRET not in path.read_text(encoding="utf-8", errors="replace")


_USERINFO = f"u:{SECRET}@"
BAD_COMMANDS = [
    ["watch", f"ftp://{_USERINFO}example.invalid/?key={SECRET}", "--conversation", "c"],
    [
        *("watch", f"http://{_USERINFO}127.0.0.1:9/x?token={SECRET}"),
        *("--no-trigger", "--timeout", "0.2", "--initial-delay", "0.01"),
    ],
    ["new", f"http://{_USERINFO}127.0.0.1:9/?api_key={SECRET}"],
    ["watch", "http://127.0.0.1:9/", "--header", f"Authorization {SECRET}"],
]


@pytest.mark.parametrize("argv", BAD_COMMANDS)
def test_error_messages_never_repeat_a_secret(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bad URL, an unreachable one, a malformed header: the message says
    what is wrong without repeating the credential."""
    with caplog.at_level(logging.DEBUG):
        code = main(argv)

    captured = capsys.readouterr()
    assert code in (1, 2, 3)
    assert captured.out + captured.err
    assert SECRET not in captured.out + captured.err + caplog.text
