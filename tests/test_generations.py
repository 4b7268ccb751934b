"""One generation per conversation: refuse or join, cancel, restart, threads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from pollwise.adapters.clocks import FakeClock, SystemClock
from pollwise.adapters.generations import GenerationRunningError, Generations
from pollwise.adapters.httpx_api import (
    AsyncHttpConversationApi,
    Endpoint,
    HttpConversationApi,
)
from pollwise.adapters.reference_server import ReferenceServer, ServerSettings
from pollwise.engine.answers import Reply, Response
from pollwise.engine.errors import PollingError, SessionError
from pollwise.engine.outcomes import EndReason, Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.session import Session, SessionView

FAST = Policy(initial_delay=0.02, max_delay=0.1, max_retry_after=0.05, timeout=10)
FINAL_STATES = {"done", "failed", "timed_out", "stalled", "cancelled"}


def _pollwise_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pollwise-gen")]


class Gate:
    """A fake API whose polls wait until the test opens the gate."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.polled = threading.Event()

    def trigger(self, timeout: float) -> Reply:
        return Response(202, (), b"")

    def fetch(self, timeout: float) -> Reply:
        self.polled.set()
        self.opened.wait(10)
        return Response(200, (), b'{"status": "complete", "messages": []}')


class Endless:
    """A fake API that never finishes: one more message every third poll."""

    def __init__(self) -> None:
        self.polls = 0

    def trigger(self, timeout: float) -> Reply:
        return Response(202, (), b"")

    def fetch(self, timeout: float) -> Reply:
        self.polls += 1
        messages = [{"id": i} for i in range(self.polls // 3)]
        body = json.dumps({"status": "generating", "messages": messages})
        return Response(200, (), body.encode())


def _session(clock: FakeClock | SystemClock | None = None) -> Session:
    return Session(clock or FakeClock(), Policy(initial_delay=1, max_delay=1))


def test_a_second_start_is_refused_while_one_runs_and_join_returns_it() -> None:
    gate = Gate()
    with Generations() as generations:
        first = generations.start(
            "c1", _session(), lambda: contextlib.nullcontext(gate)
        )
        assert gate.polled.wait(5)
        with pytest.raises(GenerationRunningError) as refused:
            generations.start("c1", _session(), lambda: contextlib.nullcontext(gate))
        assert refused.value.key == "c1"
        assert refused.value.running is first
        assert isinstance(refused.value, PollingError)
        assert isinstance(refused.value, RuntimeError)
        joined = generations.start(
            "c1", _session(), lambda: contextlib.nullcontext(gate), join=True
        )
        assert joined is first
        assert generations.get("c1") is first
        # Another conversation is not affected.
        other = generations.start(
            "c2", _session(), lambda: contextlib.nullcontext(gate)
        )
        assert other is not first
        gate.opened.set()
        assert first.join(5)
        assert other.join(5)
    assert first.session.outcome is Outcome.DONE
    assert generations.get("c1") is None
    assert generations.latest("c1") is first


def test_cancel_then_restart_runs_a_new_generation() -> None:
    gate = Gate()
    with Generations() as generations:
        first = generations.start("c", _session(), lambda: contextlib.nullcontext(gate))
        assert gate.polled.wait(5)
        assert generations.cancel("c")
        assert not generations.cancel("c")
        # The conversation is free as soon as the session ended, even while
        # the thread still waits for its request.
        assert first.session.outcome is Outcome.CANCELLED
        assert not first.is_finished
        gate.opened.set()
        second = generations.start(
            "c", _session(), lambda: contextlib.nullcontext(gate)
        )
        assert second.join(5)
        assert second.session.outcome is Outcome.DONE
        assert first.join(5)
    assert first.session.outcome is Outcome.CANCELLED


def test_a_session_that_already_ran_is_refused() -> None:
    session = _session()
    session.cancel()
    with Generations() as generations, pytest.raises(SessionError):
        generations.start("c", session, lambda: contextlib.nullcontext(Gate()))
    assert generations.get("c") is None


def test_an_api_that_cannot_open_ends_the_session_and_frees_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> contextlib.AbstractContextManager[Gate]:
        raise OSError("no route")

    with Generations() as generations:
        generation = generations.start("c", _session(), broken)
        assert generation.join(5)
        assert isinstance(generation.error, OSError)
        assert generation.session.outcome is Outcome.CANCELLED
        assert generations.get("c") is None
    assert "no route" in caplog.text


def test_wait_is_for_tasks_and_join_for_threads() -> None:
    gate = Gate()
    gate.opened.set()
    with Generations() as generations:
        generation = generations.start(
            "c", _session(), lambda: contextlib.nullcontext(gate)
        )
        with pytest.raises(SessionError):
            asyncio.run(generation.wait())
        assert generation.join(5)


def test_view_and_cancel_are_safe_from_many_threads_while_a_session_runs() -> None:
    """Four threads read the view, and then cancel, while a session polls on
    a fake clock on its own thread; the main thread follows the updates.

    Every view is consistent (counters agree with the messages, an ended
    view has an outcome and a reason, a view never goes back), exactly one
    cancel wins, and the reader gets a final update that says cancelled.
    """
    clock = FakeClock()
    policy = Policy(initial_delay=1, max_delay=1, timeout=5000, stall_after=None)
    session = Session(clock, policy)
    updates = session.updates()
    api = Endless()
    wins: list[bool] = []
    problems: list[str] = []
    start = threading.Barrier(5)

    def check(view: SessionView, previous: SessionView | None) -> None:
        if view.statistics.messages != len(view.messages):
            problems.append(f"messages disagree: {view}")
        if view.active != (view.outcome is None) or view.active == (
            view.state in FINAL_STATES
        ):
            problems.append(f"active disagrees: {view}")
        if not view.active and view.reason is None:
            problems.append(f"ended without a reason: {view}")
        if view.next_poll_at is not None and view.state != "backoff":
            problems.append(f"next poll outside backoff: {view}")
        if previous is not None and (
            view.version < previous.version
            or view.statistics.polls < previous.statistics.polls
            or (not previous.active and view.active)
        ):
            problems.append(f"went back: {previous} -> {view}")

    def hammer() -> None:
        start.wait(5)
        previous: SessionView | None = None
        while True:
            view = session.view()
            check(view, previous)
            previous = view
            if view.statistics.polls >= 200 or not view.active:
                break
        wins.append(session.cancel())
        check(session.view(), previous)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    with Generations() as generations:
        generation = generations.start(
            "c", session, lambda: contextlib.nullcontext(api)
        )
        start.wait(5)
        taken = list(updates)
        for thread in threads:
            thread.join(10)
        assert generation.join(10)
    assert not problems, problems[:3]
    assert wins.count(True) == 1
    assert taken[-1].is_final
    assert taken[-1].view.outcome is Outcome.CANCELLED
    assert taken[-1].view.reason is EndReason.CANCELLED
    assert sum(u.is_final for u in taken) == 1
    assert taken[-1].view.statistics.polls >= 200
    delivered = [m.label for u in taken for m in u.new_messages]
    assert delivered == [m.label for m in session.view().messages]


# -- against the reference server ------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with ReferenceServer(ServerSettings(pace=0.02, count=3)) as running:
        yield running.url


def _conversation(url: str) -> str:
    return str(httpx.post(f"{url}/conversations").json()["id"])


def test_a_thread_generation_runs_against_the_server_and_leaves_no_thread(
    server: str,
) -> None:
    endpoint = Endpoint.for_conversation(server, _conversation(server))
    session = Session(SystemClock(), FAST)
    updates = session.updates()
    with Generations() as generations:
        generations.start("c", session, lambda: HttpConversationApi(endpoint))
        taken = list(updates)
    assert taken[-1].view.outcome is Outcome.DONE
    assert [m.label for u in taken for m in u.new_messages] == ["m1", "m2", "m3"]
    assert _pollwise_threads() == []


def test_a_task_generation_is_cancelled_and_restarted_on_one_loop(server: str) -> None:
    conversation = _conversation(server)
    endpoint = Endpoint.for_conversation(server, conversation)

    async def main() -> tuple[Outcome | None, Outcome | None]:
        async with Generations() as generations:
            first = generations.start_task(
                conversation,
                Session(SystemClock(), FAST),
                lambda: AsyncHttpConversationApi(endpoint),
            )
            async for update in first.updates():
                if update.view.state == "backoff":
                    assert first.cancel()
            cancelled = await first.wait()
            # The server's generation is finished after 3 paces; a restart
            # before that gets a 409 (see the next test).
            while httpx.get(endpoint.poll_url).json()["status"] != "complete":
                await asyncio.sleep(0)
            second = generations.start_task(
                conversation,
                Session(SystemClock(), FAST, history=["m1", "m2", "m3"]),
                lambda: AsyncHttpConversationApi(endpoint),
            )
            done = await second.wait()
            assert [m.label for m in second.view().messages] == ["m4", "m5", "m6"]
        leftovers = [
            t for t in asyncio.all_tasks() if t.get_name().startswith("pollwise-")
        ]
        assert leftovers == []
        return cancelled, done

    assert asyncio.run(main()) == (Outcome.CANCELLED, Outcome.DONE)


def test_a_restart_while_the_server_still_generates_fails_on_its_409(
    server: str,
) -> None:
    """Cancelling stops following, not the server's job."""
    conversation = _conversation(server)
    endpoint = Endpoint.for_conversation(server, conversation)
    assert httpx.post(endpoint.trigger_url or "", json={"pace": 60}).status_code == 202
    with Generations() as generations:
        generation = generations.start(
            conversation,
            Session(SystemClock(), FAST),
            lambda: HttpConversationApi(endpoint),
        )
        assert generation.join(5)
    view = generation.view()
    assert view.outcome is Outcome.FAILED
    assert view.reason is EndReason.TRIGGER_FAILED
    assert "409" in view.detail
