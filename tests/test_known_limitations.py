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
    """Answers the trigger at once; each fetch blocks until released (or
    interrupted, as the HTTP adapter can be)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def trigger(self, timeout: float) -> Reply:
        return Response(202)

    def fetch(self, timeout: float) -> Reply:
        self.entered.set()
        self.release.wait(10)
        return Response(200, (), b'{"status": "running"}')

    def interrupt(self) -> None:
        self.release.set()


def test_run_sync_returns_at_once_when_cancelled_during_a_request() -> None:
    """A cancel calls the API's interrupt(), so the request in flight ends."""
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


def test_a_sync_request_never_outlives_its_timeout_on_a_slow_drip(
    dripping_server: str,
) -> None:
    with HttpConversationApi(Endpoint(poll_url=dripping_server)) as api:
        started = time.monotonic()
        api.fetch(0.2)
        took = time.monotonic() - started
    assert took <= 0.25


@pytest.mark.xfail(
    strict=True,
    reason="a 404 is fatal (contract: every 4xx but 408/425/429), and a profile "
    "cannot map a status code to done, so a poll-until-gone after a DELETE fails",
)
def test_a_404_after_a_delete_ends_the_session_as_done() -> None:
    """Scaleway's cluster delete is polled until the GET answers 404; the
    recorded client was done then, pollwise ends ``failed`` (fatal answer)."""
    from pathlib import Path

    from pollwise.adapters.import_trace import import_recording
    from pollwise.adapters.whatif import compare_policies

    recording = (
        Path(__file__).resolve().parent
        / "fixtures"
        / "traces"
        / "scaleway-redis-cluster-create-delete.yaml"
    )
    trace = import_recording(recording, session=2).trace
    patient = Policy(stall_after=None, timeout=600)
    assert compare_policies(trace, patient).candidate.outcome == "done"


@pytest.mark.xfail(
    strict=True,
    reason="with an httpx client it was given (shared, so it may not shut "
    "connections down wholesale), the sync adapter learns which connection a "
    "request reuses only when the answer's head arrives; before that a "
    "cancel waits for the request timeout",
)
def test_run_sync_interrupts_a_reused_connection_of_a_client_it_was_given() -> None:
    """The first GET answers (the connection stays open), the second reuses
    it and hangs; a cancel then should not wait 2 s for the request timeout."""
    import httpx

    from pollwise.adapters.reference_server import ReferenceServer, ServerSettings

    with ReferenceServer(ServerSettings(pace=0.02, count=3)) as server:
        created = httpx.post(
            f"{server.url}/conversations",
            json={"faults": {"unreadable": 1, "hang": 10**6}},
        )
        endpoint = Endpoint.for_conversation(server.url, created.json()["id"])
        policy = Policy(initial_delay=0.02, max_delay=0.05, request_timeout=2.0)
        session = Session(SystemClock(), policy)
        with httpx.Client() as shared:
            api = HttpConversationApi(endpoint, client=shared)
            runner = threading.Thread(target=run_sync, args=(session, api))
            runner.start()
            deadline = time.monotonic() + 5
            while session.statistics().polls < 2 and time.monotonic() < deadline:
                threading.Event().wait(0.01)
            threading.Event().wait(0.1)
            session.cancel()
            runner.join(0.5)
            returned_at_once = not runner.is_alive()
            runner.join(10)
    assert returned_at_once
