"""Cancellation at any moment, and what a session leaves behind: nothing.

A cancel (``session.cancel()`` from another thread, cancelling the asyncio
task, or Ctrl-C in the CLI) must end the session as cancelled at once,
without waiting for the wait or the request in flight to finish; the
runner must return just as fast. Afterwards no thread, asyncio task,
timer or connection of pollwise may remain, and thousands of sessions in
one process must leave memory flat.

The latencies asserted here have generous margins for a busy machine; the
measured ones are printed (``pytest tests/test_cancellation.py -s``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from livekit import (
    MODES,
    Mode,
    Trail,
    fast_policy,
    new_conversation,
)

from pollwise.adapters.clocks import FakeClock, SystemClock
from pollwise.adapters.httpx_api import (
    AsyncHttpConversationApi,
    Endpoint,
    HttpConversationApi,
)
from pollwise.adapters.reference_server import ReferenceServer, ServerSettings
from pollwise.adapters.scenario import BackendEntry
from pollwise.adapters.scripted_api import AsyncScriptedApi, ScriptedApi
from pollwise.engine.answers import Response
from pollwise.engine.outcomes import Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.runners import run_async, run_sync
from pollwise.engine.session import Session

#: The latency a cancel must beat in these tests (the target is 0.1 s).
LIMIT = 0.5


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer(ServerSettings(pace=0.02, count=3)) as running:
        yield running


def pollwise_threads() -> set[threading.Thread]:
    """Threads pollwise started (its adapters name theirs ``pollwise-...``),
    not counting the reference server's own."""
    return {
        t
        for t in threading.enumerate()
        if t.name.startswith("pollwise") and "reference-server" not in t.name
    }


def client_connections(server: ReferenceServer) -> list[Any]:
    """This process's open TCP connections to the server (client ends)."""
    return [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == server.port and c.fd != -1
    ]


class Leftovers:
    """What a finished session may have left: threads, tasks, timers."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.timers: list[Any] = []

    def look_inside_the_loop(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks = asyncio.all_tasks() - {asyncio.current_task()}
        scheduled = getattr(loop, "_scheduled", [])
        self.timers = [h for h in scheduled if not h.cancelled()]


def cancel_live(
    server: ReferenceServer,
    mode: Mode,
    *,
    faults: dict[str, Any],
    policy: Policy,
    when: float,
    after_a_poll: bool,
) -> tuple[float, Session, Leftovers]:
    """Start a session, cancel it from this thread ``when`` seconds after
    its first poll went out (or after it started), and time how long the
    runner takes to return (closing the client and the loop come after)."""
    conversation = new_conversation(server.url, faults=faults)
    endpoint = Endpoint.for_conversation(server.url, conversation)
    trail = Trail()
    session = Session(SystemClock(), policy, observers=[trail])
    leftovers = Leftovers()
    returned = threading.Event()
    returned_at: list[float] = []

    # Built here, before the clock starts: making an httpx client (its TLS
    # context) takes tens of milliseconds that are no part of a cancel.
    sync_api = HttpConversationApi(endpoint)
    async_api = AsyncHttpConversationApi(endpoint)

    def drive() -> None:
        try:
            if mode == "sync":
                with sync_api as api:
                    run_sync(session, api)
                    returned_at.append(time.monotonic())
            else:

                async def follow() -> None:
                    async with async_api as api:
                        await run_async(session, api)
                        returned_at.append(time.monotonic())
                    leftovers.look_inside_the_loop()

                asyncio.run(follow())
        finally:
            returned.set()

    worker = threading.Thread(target=drive, name="test-driver")
    worker.start()
    if after_a_poll:
        assert trail.a_poll_went_out.wait(5)
    threading.Event().wait(when)
    cancelled_at = time.monotonic()
    assert session.cancel()
    assert session.outcome is Outcome.CANCELLED  # the state changes at once
    assert returned.wait(10)
    worker.join(5)
    sync_api.close()
    asyncio.run(async_api.aclose())
    return returned_at[0] - cancelled_at, session, leftovers


# -- a cancel call from another thread -----------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_cancel_during_a_hung_request_returns_at_once(
    server: ReferenceServer, mode: Mode
) -> None:
    """The request would wait 30 s for an answer that never comes."""
    policy = fast_policy(request_timeout=30.0, timeout=60.0)
    threads = pollwise_threads()

    latency, session, leftovers = cancel_live(
        server,
        mode,
        faults={"hang": 10**6},
        policy=policy,
        when=0.05,
        after_a_poll=True,
    )

    print(f"\ncancel during a request ({mode}): {latency * 1000:.1f} ms")
    assert latency < LIMIT
    assert session.statistics().polls == 1
    assert pollwise_threads() <= threads
    assert not leftovers.tasks
    assert not leftovers.timers
    assert client_connections(server) == []


@pytest.mark.parametrize("mode", MODES)
def test_a_cancel_during_a_long_wait_returns_at_once(
    server: ReferenceServer, mode: Mode
) -> None:
    """The first poll is 30 s away; the cancel does not wait for it."""
    policy = fast_policy(initial_delay=30.0, max_delay=30.0, timeout=60.0)

    latency, session, leftovers = cancel_live(
        server, mode, faults={}, policy=policy, when=0.05, after_a_poll=False
    )

    print(f"\ncancel during a wait ({mode}): {latency * 1000:.1f} ms")
    assert latency < LIMIT
    assert session.statistics().polls == 0
    assert not leftovers.tasks
    assert not leftovers.timers


@pytest.mark.parametrize("mode", MODES)
def test_cancels_at_random_moments_all_end_the_session_at_once(
    server: ReferenceServer, mode: Mode
) -> None:
    """Slow answers (0.05 s) and short waits: a cancel at a random moment
    lands while sleeping, while sending or while reading, alike."""
    rng = random.Random(6)
    policy = fast_policy(timeout=30.0, stall_after=None)
    threads = pollwise_threads()
    latencies = []
    for _ in range(8):
        latency, session, leftovers = cancel_live(
            server,
            mode,
            faults={"slow": 0.05, "stall_after": 1},
            policy=policy,
            when=rng.uniform(0.0, 0.25),
            after_a_poll=False,
        )
        latencies.append(latency)
        assert session.outcome is Outcome.CANCELLED
        assert not leftovers.tasks
        assert not leftovers.timers

    print(f"\nworst of 8 random cancels ({mode}): {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < LIMIT
    assert pollwise_threads() <= threads
    assert client_connections(server) == []


# -- asyncio task cancellation ------------------------------------------------


@pytest.mark.parametrize("phase", ["request", "wait"])
def test_cancelling_the_task_ends_the_session_cancelled_at_once(
    server: ReferenceServer, phase: str
) -> None:
    """task.cancel() abandons the request or the sleep; the session says
    cancelled and the task ends with CancelledError, leaving nothing."""
    if phase == "request":
        faults: dict[str, Any] = {"hang": 10**6}
        policy = fast_policy(request_timeout=30.0, timeout=60.0)
    else:
        faults = {}
        policy = fast_policy(initial_delay=30.0, max_delay=30.0, timeout=60.0)
    conversation = new_conversation(server.url, faults=faults)
    endpoint = Endpoint.for_conversation(server.url, conversation)
    trail = Trail()
    session = Session(SystemClock(), policy, observers=[trail])

    async def main() -> tuple[float, set[asyncio.Task[Any]]]:
        async with AsyncHttpConversationApi(endpoint) as api:
            task = asyncio.ensure_future(run_async(session, api))
            while phase == "request" and not trail.a_poll_went_out.is_set():
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
            cancelled_at = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            latency = time.monotonic() - cancelled_at
        return latency, asyncio.all_tasks() - {asyncio.current_task()}

    latency, tasks = asyncio.run(main())

    print(f"\ntask cancellation during a {phase}: {latency * 1000:.1f} ms")
    assert session.outcome is Outcome.CANCELLED
    assert latency < LIMIT
    assert not tasks
    assert client_connections(server) == []


# -- Ctrl-C in the CLI ---------------------------------------------------------


def _watch(server: ReferenceServer, conversation: str, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pollwise.adapters.cli",
        "watch",
        server.url,
        "--conversation",
        conversation,
        "--json",
        "--initial-delay",
        "0.02",
        "--max-delay",
        "0.1",
        *flags,
    ]


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
@pytest.mark.parametrize("phase", ["request", "wait"])
def test_ctrl_c_in_the_cli_cancels_at_once_and_exits_130(
    server: ReferenceServer, phase: str
) -> None:
    """SIGINT while a request hangs (or while waiting 30 s for the next
    poll): the summary says cancelled, the exit code is 130, quickly."""
    if phase == "request":
        conversation = new_conversation(server.url, faults={"hang": 10**6})
        argv = _watch(server, conversation, "--request-timeout", "30")
        wanted = "poll_sent"
    else:
        conversation = new_conversation(server.url, faults={"stall_after": 0})
        argv = _watch(server, conversation, "--stall-after", "none")
        argv += ["--max-delay", "30", "--multiplier", "1000"]
        wanted = "poll_scheduled"
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == wanted and (phase == "request" or len(seen) > 4):
            break
    threading.Event().wait(0.05)
    interrupted_at = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=10)
    latency = time.monotonic() - interrupted_at

    print(f"\nCtrl-C during a {phase} until exit: {latency * 1000:.1f} ms")
    assert process.returncode == 130
    events = [json.loads(line) for line in out.splitlines()]
    summary = events[-1]
    assert summary["event"] == "summary"
    assert summary["outcome"] == "cancelled"
    # The end shows as every other end does (they were missing after Ctrl-C).
    assert [e["event"] for e in events[-3:-1]] == ["state_changed", "ended"]
    assert events[-3]["target"] == "cancelled"
    assert latency < 2.0


# -- many sessions, flat memory ------------------------------------------------

_SCRIPT = (
    BackendEntry(at=0.0, body=b'{"status": "generating", "messages": [{"id": "a"}]}'),
    BackendEntry(at=1.5, http_status=503),
    BackendEntry(at=3.0, body=b'{"status": "complete", "messages": [{"id": "b"}]}'),
)


def _session(index: int) -> tuple[Session, ScriptedApi, FakeClock]:
    clock = FakeClock()
    session = Session(clock, Policy(initial_delay=1.0), observers=[Trail()])
    if index % 3 == 0:
        clock.call_at(2.0, session.cancel)
    return session, ScriptedApi(_SCRIPT, clock), clock


async def _many_sessions(first: int, count: int) -> None:
    """``count`` sessions, every other one on the async runner (in this loop)."""
    for index in range(first, first + count):
        session, api, _ = _session(index)
        if index % 2:
            run_sync(session, api)
        else:
            await run_async(session, AsyncScriptedApi(api))
        assert session.is_ended


async def _measure() -> tuple[int, int]:
    await _many_sessions(0, 200)  # warm caches, imports and interned strings
    gc.collect()
    blocks = sys.getallocatedblocks()
    await _many_sessions(200, 1500)
    gc.collect()
    block_growth = sys.getallocatedblocks() - blocks
    tracemalloc.start()
    try:
        # Under tracing, the first sessions fill caches afresh (json's
        # scanner, the machine library's); only what grows after counts.
        await _many_sessions(1700, 200)
        gc.collect()
        before, _ = tracemalloc.get_traced_memory()
        await _many_sessions(1900, 500)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return block_growth, after - before


def test_thousands_of_sessions_leave_memory_flat() -> None:
    """2400 sessions in one process (sync and async, a third cancelled):
    over 1500 of them the interpreter's allocated blocks barely move, and
    over 500 more, traced, the memory kept grows by a few KiB at most."""
    block_growth, kept = asyncio.run(_measure())

    print(f"\nafter 1500 sessions: {block_growth:+d} allocated blocks")
    print(f"kept by 500 more sessions: {kept / 1024:+.1f} KiB (tracemalloc)")
    assert block_growth < 1000
    assert kept < 32 * 1024


class _CountingApi:
    """Counts every request; answers each with an empty 200."""

    def __init__(self) -> None:
        self.requests = 0

    def trigger(self, timeout: float) -> Response:
        self.requests += 1
        return Response(202)

    def fetch(self, timeout: float) -> Response:
        self.requests += 1
        return Response(200)


class _AsyncCountingApi:
    def __init__(self, api: _CountingApi) -> None:
        self.api = api

    async def trigger(self, timeout: float) -> Response:
        return self.api.trigger(timeout)

    async def fetch(self, timeout: float) -> Response:
        return self.api.fetch(timeout)


@pytest.mark.parametrize("mode", MODES)
def test_a_session_cancelled_before_its_runner_starts_sends_nothing(
    mode: Mode,
) -> None:
    """A UI may cancel before the worker that runs the session got going:
    the runner then returns at once, and the trigger (a POST that starts a
    job) is never sent, as "a session that has ended sends no request"."""
    api = _CountingApi()
    session = Session(FakeClock(), Policy())
    session.cancel()

    if mode == "sync":
        outcome = run_sync(session, api)
    else:
        outcome = asyncio.run(run_async(session, _AsyncCountingApi(api)))

    assert outcome is Outcome.CANCELLED
    assert api.requests == 0


def test_a_callback_a_rounding_after_the_target_is_at_it() -> None:
    """3.3 + 0.4 is 3.6999999999999997: a cancel at 3.7 is at that instant,
    runs on that move, and the clock never reads earlier than the callback
    it ran (found by a contract audit: the answer won over the cancel)."""
    clock = FakeClock(start=3.3)
    fired: list[float] = []
    clock.call_at(3.7, lambda: fired.append(clock.now()))
    clock.call_at(3.7000001, lambda: fired.append(clock.now()))
    clock.advance(0.4)
    assert fired == [3.7]
    assert clock.now() == 3.7
    clock.advance(1e-6)
    assert fired == [3.7, 3.7000001]
