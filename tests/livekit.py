"""Helpers for tests that run whole sessions over real HTTP on 127.0.0.1.

A :class:`Trail` observer keeps every event a session sends (from any
thread) and raises flags that a test can wait on; :func:`run_live` runs one
session with either runner against a reference server (or any URL) and
times it on the real clock; :class:`RawServer` is a one-behaviour socket
server for what a well-behaved HTTP stack cannot do (a TCP reset).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import attrs
import httpx

from pollwise.adapters.clocks import SystemClock
from pollwise.adapters.httpx_api import (
    AsyncHttpConversationApi,
    Endpoint,
    HttpConversationApi,
)
from pollwise.engine.events import (
    MessagesDelivered,
    PollAnswered,
    PollFailed,
    PollScheduled,
    PollSent,
    SessionEnded,
    StateChanged,
)
from pollwise.engine.outcomes import EndReason, Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.ports import Observer
from pollwise.engine.runners import run_async, run_sync
from pollwise.engine.session import Session

Mode = Literal["sync", "async"]
MODES: tuple[Mode, ...] = ("sync", "async")

#: Generous slack for real-clock timing asserts on a busy 2-core machine.
MARGIN = 0.5


def fast_policy(**overrides: Any) -> Policy:
    """A policy on the scale of a test: 20 ms first wait, 100 ms cap."""
    values: dict[str, Any] = {
        "initial_delay": 0.02,
        "max_delay": 0.1,
        "timeout": 5.0,
        "stall_after": None,
        "max_consecutive_errors": 3,
        "max_retry_after": 0.3,
        "request_timeout": 1.0,
    }
    values.update(overrides)
    return Policy(**values)


class Trail(Observer):
    """Every event of a session, in order, safe to read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[Any] = []
        self.first_message = threading.Event()
        self.a_poll_failed = threading.Event()
        self.a_poll_went_out = threading.Event()
        self.ended = threading.Event()

    def _add(self, event: object) -> None:
        with self._lock:
            self.events.append(event)

    def state_changed(self, event: StateChanged) -> None:
        self._add(event)

    def poll_scheduled(self, event: PollScheduled) -> None:
        self._add(event)

    def poll_sent(self, event: PollSent) -> None:
        self._add(event)
        self.a_poll_went_out.set()

    def poll_answered(self, event: PollAnswered) -> None:
        self._add(event)

    def poll_failed(self, event: PollFailed) -> None:
        self._add(event)
        self.a_poll_failed.set()

    def messages_delivered(self, event: MessagesDelivered) -> None:
        self._add(event)
        self.first_message.set()

    def session_ended(self, event: SessionEnded) -> None:
        self._add(event)
        self.ended.set()

    def of(self, kind: type[Any]) -> list[Any]:
        """The events of one type, in order."""
        with self._lock:
            return [event for event in self.events if isinstance(event, kind)]

    def delivered(self) -> list[Any]:
        """Labels of the messages delivered, in order."""
        return [m.label for e in self.of(MessagesDelivered) for m in e.messages]

    def failures(self) -> list[str]:
        """The reasons of every failed poll, in order."""
        return [e.answer.reason for e in self.of(PollFailed)]


@attrs.frozen(eq=False)
class LiveRun:
    """A session run to its end over HTTP."""

    session: Session
    trail: Trail
    #: seconds the runner call took on the real clock (trigger included)
    took: float

    @property
    def outcome(self) -> Outcome | None:
        return self.session.outcome

    @property
    def reason(self) -> EndReason | None:
        verdict = self.session.verdict
        return verdict.reason if verdict else None

    @property
    def ended_at(self) -> float:
        ended = self.session.ended_at
        assert ended is not None
        return ended

    @property
    def polls(self) -> int:
        return self.session.statistics().polls

    @property
    def failed_polls(self) -> int:
        return self.session.statistics().failed_polls


def new_conversation(base_url: str, **body: Any) -> str:
    """Create a conversation on a reference server; ``body`` as its POST body."""
    answer = httpx.post(f"{base_url}/conversations", json=body, timeout=5.0)
    assert answer.status_code == 201, answer.text
    conversation: str = answer.json()["id"]
    return conversation


def drive(
    session: Session, endpoint: Endpoint, mode: Mode, *, trigger: bool = True
) -> None:
    """Run ``session`` against ``endpoint`` with the sync or the async runner."""
    if mode == "sync":
        with HttpConversationApi(endpoint) as api:
            run_sync(session, api, trigger=trigger)
        return

    async def follow() -> None:
        async with AsyncHttpConversationApi(endpoint) as api:
            await run_async(session, api, trigger=trigger)

    asyncio.run(follow())


def run_live(
    endpoint: Endpoint,
    policy: Policy,
    mode: Mode,
    *,
    trigger: bool = True,
    during: Callable[[Session, Trail], None] | None = None,
) -> LiveRun:
    """Run one session to its end; ``during`` runs meanwhile on this thread
    (the session then runs on a worker thread)."""
    trail = Trail()
    session = Session(SystemClock(), policy, observers=[trail])
    started = time.monotonic()
    if during is None:
        drive(session, endpoint, mode, trigger=trigger)
    else:
        worker = threading.Thread(
            target=drive, args=(session, endpoint, mode), kwargs={"trigger": trigger}
        )
        worker.start()
        try:
            during(session, trail)
        finally:
            worker.join(30)
        assert not worker.is_alive(), "the session did not end"
    return LiveRun(session, trail, time.monotonic() - started)


def free_port() -> int:
    """A port nothing listens on (for a moment, at least)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


class RawServer:
    """Answers every connection with ``behave(connection)`` on its own thread.

    For what a real HTTP stack will not do on request, such as a TCP reset
    halfway through a body.
    """

    def __init__(self, behave: Callable[[socket.socket], object]) -> None:
        self.behave = behave
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, name="test-raw-server")

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with connection, contextlib.suppress(OSError):
                self.behave(connection)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self._thread.join(5)
        self.listener.close()


def read_request(connection: socket.socket) -> bytes:
    """Read one request's head (enough for a GET or an empty POST)."""
    connection.settimeout(2)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def reset_mid_body(connection: socket.socket) -> None:
    """Answer a 200 that promises 100 bytes, send 10, then reset (RST)."""
    read_request(connection)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    connection.sendall(b'{"status":')
    # SO_LINGER with a zero timeout turns close() into a TCP reset.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@contextmanager
def raw_server(behave: Callable[[socket.socket], object]) -> Iterator[RawServer]:
    """A :class:`RawServer` for the duration of a block."""
    with RawServer(behave) as server:
        yield server


@contextmanager
def handler_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 for the duration of a block; yields the
    base URL. The server's ``release`` event is set on the way out, so a
    handler that waits on it (a hung answer) ends with the block."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.release = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.release.set()  # type: ignore[attr-defined]
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
