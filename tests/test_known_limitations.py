"""Known limitations, each shown by a strict xfail test (see the README).

When one of these starts passing, the limitation is gone: remove the xfail
and the README bullet together.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pollwise.adapters.clocks import SystemClock
from pollwise.adapters.httpx_api import Endpoint, HttpConversationApi
from pollwise.engine import Policy, Reply, Response, Session, run_sync


class _BlockingApi:
    """Answers the trigger at once; each fetch blocks until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def trigger(self, timeout: float) -> Reply:
        return Response(202)

    def fetch(self, timeout: float) -> Reply:
        self.entered.set()
        self.release.wait(10)
        return Response(200, (), b'{"status": "running"}')


@pytest.mark.xfail(
    strict=True, reason="run_sync returns only when the in-flight request returns"
)
def test_run_sync_returns_at_once_when_cancelled_during_a_request() -> None:
    api = _BlockingApi()
    session = Session(SystemClock(), Policy(initial_delay=0.0))
    runner = threading.Thread(target=run_sync, args=(session, api))
    runner.start()
    try:
        assert api.entered.wait(5)
        session.cancel()
        assert session.outcome is not None  # the session itself ends at once
        runner.join(0.5)
        assert not runner.is_alive()
    finally:
        api.release.set()
        runner.join(10)


@pytest.fixture
def dripping_server() -> Iterator[str]:
    """Answers headers, then one body byte every 0.15 s (a slow drip)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(5)
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n")
            for _ in range(20):
                if stop.wait(0.15):
                    return
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        listener.close()
        thread.join(5)


@pytest.mark.xfail(
    strict=True,
    reason="the sync adapter checks the total time only between body chunks",
)
def test_a_sync_request_never_outlives_its_timeout_on_a_slow_drip(
    dripping_server: str,
) -> None:
    with HttpConversationApi(Endpoint(poll_url=dripping_server)) as api:
        started = time.monotonic()
        api.fetch(0.2)
        took = time.monotonic() - started
    assert took <= 0.25
