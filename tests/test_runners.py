"""Runners, cancels, observers and the UI view, on fake clocks only.

Nothing here sleeps for real: a clock that "blocks" waits for an event that
another thread (or task) sets as soon as it sees the runner waiting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pytest
from strategies import BoundedApi, Recorder

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.scenario import BackendEntry
from pollwise.adapters.scripted_api import AsyncScriptedApi, ScriptedApi
from pollwise.engine.answers import Reply, Response
from pollwise.engine.errors import SessionError
from pollwise.engine.events import MessagesDelivered, PollSent, SessionEnded
from pollwise.engine.outcomes import EndReason, Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.ports import Observer
from pollwise.engine.runners import run_async, run_sync
from pollwise.engine.session import Session

#: how long a test waits for another thread before calling the engine stuck;
#: never reached when the engine works
STUCK = 10.0


def snapshot(status: str, *ids: str) -> bytes:
    return json.dumps({"status": status, "messages": [{"id": i} for i in ids]}).encode()


RUNNING = BackendEntry(at=0, body=snapshot("running"))


class BlockingClock(FakeClock):
    """A fake clock whose sleep blocks until woken, like a real one, but
    never for a set time: it waits for the session's wake event."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = threading.Event()

    def sleep(self, seconds: float, wake: threading.Event) -> None:
        if seconds <= 0:
            super().sleep(seconds, wake)
            return
        self.sleeping.set()
        assert wake.wait(STUCK), "the runner was never woken"

    async def sleep_async(self, seconds: float) -> None:
        if seconds <= 0:
            await super().sleep_async(seconds)
            return
        self.sleeping.set()
        await asyncio.Event().wait()


class CountingApi:
    """A sync API answering one fixed reply; optionally acts during a fetch."""

    def __init__(self, reply: Reply, during_fetch: Any = None) -> None:
        self.reply = reply
        self.during_fetch = during_fetch
        self.fetches = 0
        self.triggers = 0

    def trigger(self, timeout: float) -> Reply:
        self.triggers += 1
        return Response(202)

    def fetch(self, timeout: float) -> Reply:
        self.fetches += 1
        if self.during_fetch is not None:
            self.during_fetch()
        return self.reply


class HangingApi:
    """An async API whose fetch never answers (until cancelled)."""

    def __init__(self) -> None:
        self.fetches = 0
        self.fetching = asyncio.Event()
        self.abandoned = False

    async def trigger(self, timeout: float) -> Reply:
        return Response(202)

    async def fetch(self, timeout: float) -> Reply:
        self.fetches += 1
        self.fetching.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.abandoned = True
            raise
        raise AssertionError("unreachable")


# -- run_sync ---------------------------------------------------------------------


def test_run_sync_cancelled_from_another_thread_while_sleeping() -> None:
    """A cancel wakes the sleeping runner at once; no request goes out."""
    clock = BlockingClock()
    session = Session(clock, Policy())
    api = CountingApi(Response(200, (), snapshot("complete")))

    def cancel_when_asleep() -> None:
        assert clock.sleeping.wait(STUCK)
        session.cancel()

    canceller = threading.Thread(target=cancel_when_asleep)
    canceller.start()
    outcome = run_sync(session, api)
    canceller.join(STUCK)

    assert outcome is Outcome.CANCELLED
    assert api.fetches == 0
    assert session.ended_at == 0.0
    assert not canceller.is_alive()


def test_run_sync_cancelled_during_a_fetch_drops_the_reply_and_stops() -> None:
    """A cancel while a request is in flight: its reply is dropped unread."""
    clock = FakeClock()
    recorder = Recorder()
    session = Session(clock, Policy(), observers=[recorder])
    api = CountingApi(Response(200, (), snapshot("complete", "m1")), session.cancel)

    outcome = run_sync(session, api)

    assert outcome is Outcome.CANCELLED
    assert api.fetches == 1
    assert session.ended_at == 1.0
    assert recorder.of(MessagesDelivered) == []
    assert session.view().messages == ()


def test_run_sync_cancelled_from_another_thread_during_a_fetch() -> None:
    """The runner returns once the API call returns, and sends nothing more."""
    clock = FakeClock()
    session = Session(clock, Policy())
    in_fetch, release = threading.Event(), threading.Event()

    def block() -> None:
        in_fetch.set()
        assert release.wait(STUCK)

    api = CountingApi(Response(200, (), snapshot("running", "m1")), block)

    def cancel_in_flight() -> None:
        assert in_fetch.wait(STUCK)
        session.cancel()
        release.set()

    canceller = threading.Thread(target=cancel_in_flight)
    canceller.start()
    outcome = run_sync(session, api)
    canceller.join(STUCK)

    assert outcome is Outcome.CANCELLED
    assert api.fetches == 1
    assert session.view().messages == ()


def test_run_sync_leaves_no_thread_behind() -> None:
    """A session that has ended leaves no thread behind."""
    before = threading.active_count()
    clock = FakeClock()
    api = BoundedApi([RUNNING], clock)

    run_sync(Session(clock, Policy(timeout=30.0)), api)

    assert threading.active_count() == before


def test_run_sync_without_trigger_polls_a_job_already_started() -> None:
    """trigger=False: no trigger call; t = 0 is the start of the run."""
    clock = FakeClock(start=5.0)
    api = CountingApi(Response(200, (), snapshot("complete")))
    session = Session(clock, Policy())

    outcome = run_sync(session, api, trigger=False)

    assert (outcome, api.triggers, api.fetches) == (Outcome.DONE, 0, 1)
    assert session.ended_at == 1.0


def test_a_port_that_raises_ends_the_session_as_cancelled_and_propagates() -> None:
    """A broken port must not leave a session "active" behind the caller."""
    session = Session(FakeClock(), Policy())

    def explode() -> None:
        raise RuntimeError("port broke its promise")

    with pytest.raises(RuntimeError, match="port broke"):
        run_sync(session, CountingApi(Response(200), explode))

    assert session.outcome is Outcome.CANCELLED


# -- run_async --------------------------------------------------------------------


def test_run_async_task_cancel_during_a_fetch_cancels_the_session() -> None:
    """task.cancel(): CancelledError re-raised, session cancelled, no task left."""
    session = Session(FakeClock(), Policy())

    async def main() -> None:
        api = HangingApi()
        task = asyncio.create_task(run_async(session, api))
        await asyncio.wait_for(api.fetching.wait(), STUCK)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert session.outcome is Outcome.CANCELLED
        assert session.ended_at == 1.0
        assert api.fetches == 1
        assert api.abandoned
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(main())


def test_run_async_task_cancel_during_a_sleep_cancels_the_session() -> None:
    """Cancelling the task while it waits for the next poll ends the session."""
    clock = BlockingClock()
    session = Session(clock, Policy())
    api = AsyncScriptedApi(BoundedApi([RUNNING], clock))

    async def main() -> None:
        task = asyncio.create_task(run_async(session, api))
        for _ in range(1000):
            if clock.sleeping.is_set():
                break
            await asyncio.sleep(0)
        assert clock.sleeping.is_set(), "the runner never went to sleep"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(main())

    assert session.outcome is Outcome.CANCELLED
    assert api.api.requests == []


def test_run_async_cancelled_from_another_thread_while_sleeping_returns() -> None:
    """A session cancel (not a task cancel) abandons the sleep and returns."""
    clock = BlockingClock()
    session = Session(clock, Policy())
    api = AsyncScriptedApi(BoundedApi([RUNNING], clock))

    def cancel_when_asleep() -> None:
        assert clock.sleeping.wait(STUCK)
        session.cancel()

    async def main() -> Outcome:
        canceller = threading.Thread(target=cancel_when_asleep)
        canceller.start()
        outcome = await asyncio.wait_for(run_async(session, api), STUCK)
        canceller.join(STUCK)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return outcome

    assert asyncio.run(main()) is Outcome.CANCELLED
    assert api.api.requests == []


def test_run_async_leaves_no_task_behind_after_a_normal_end() -> None:
    """A session that has ended leaves no task behind."""
    clock = FakeClock()
    api = AsyncScriptedApi(BoundedApi([RUNNING], clock))
    session = Session(clock, Policy(timeout=20.0))

    async def main() -> Outcome:
        outcome = await run_async(session, api)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return outcome

    assert asyncio.run(main()) is Outcome.TIMED_OUT
    assert api.api.requests == [1.0, 3.0, 7.0, 15.0, 20.0]


def test_run_async_cancelled_during_a_fetch_by_the_session_drops_the_reply() -> None:
    """session.cancel() while a request is in flight: no answer is read."""
    session = Session(FakeClock(), Policy())

    async def main() -> Outcome:
        api = HangingApi()
        task = asyncio.create_task(run_async(session, api))
        await asyncio.wait_for(api.fetching.wait(), STUCK)
        session.cancel()
        outcome = await asyncio.wait_for(task, STUCK)
        assert api.abandoned
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return outcome

    assert asyncio.run(main()) is Outcome.CANCELLED


# -- observers ----------------------------------------------------------------------

OBSERVER_METHODS = [
    "state_changed",
    "poll_scheduled",
    "poll_sent",
    "poll_answered",
    "poll_failed",
    "messages_delivered",
    "session_ended",
]


class Exploding:
    """An observer whose every callback raises."""

    def __getattr__(self, name: str) -> Any:
        if name not in OBSERVER_METHODS:
            raise AttributeError(name)

        def explode(event: object) -> None:
            raise ValueError(f"observer bug in {name}")

        return explode


def _story(clock: FakeClock) -> BoundedApi:
    return BoundedApi(
        [
            BackendEntry(at=0, body=snapshot("running")),
            BackendEntry(at=2, http_status=503),
            BackendEntry(at=5, body=snapshot("running", "m1")),
            BackendEntry(at=9, body=snapshot("complete", "m1", "m2")),
        ],
        clock,
    )


def test_an_observer_that_raises_is_logged_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Observer errors are logged; the session does exactly what it would have."""
    quiet_clock, loud_clock = FakeClock(), FakeClock()
    quiet = Session(quiet_clock, Policy())
    loud = Session(loud_clock, Policy(), observers=[Exploding(), Recorder()])
    quiet_api, loud_api = _story(quiet_clock), _story(loud_clock)

    with caplog.at_level(logging.ERROR, logger="pollwise"):
        run_sync(quiet, quiet_api)
        outcome = run_sync(loud, loud_api)

    assert outcome is Outcome.DONE
    assert loud_api.requests == quiet_api.requests == [1.0, 3.0, 7.0, 8.0, 10.0]
    assert [m.label for m in loud.view().messages] == ["m1", "m2"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    logged = {r.getMessage().split(" in ")[-1] for r in errors}
    assert logged == set(OBSERVER_METHODS)
    assert all(r.exc_info is not None for r in errors)


@pytest.mark.parametrize(
    ("method", "backend", "cancelled_at", "requests"),
    [
        pytest.param("state_changed", RUNNING, 0.0, [], id="state_changed"),
        pytest.param("poll_scheduled", RUNNING, 0.0, [], id="poll_scheduled"),
        # "A cancel at the same instant as a send ... wins over it"
        pytest.param("poll_sent", RUNNING, 1.0, [], id="poll_sent"),
        pytest.param("poll_answered", RUNNING, 1.0, [1.0], id="poll_answered"),
        pytest.param(
            "messages_delivered",
            BackendEntry(at=0, body=snapshot("running", "m1")),
            1.0,
            [1.0],
            id="messages_delivered",
        ),
        pytest.param(
            "poll_failed",
            BackendEntry(at=0, http_status=503),
            1.0,
            [1.0],
            id="poll_failed",
        ),
    ],
)
def test_a_cancel_from_inside_an_observer_callback_works(
    method: str, backend: BackendEntry, cancelled_at: float, requests: list[float]
) -> None:
    """An observer may cancel from any callback: the session ends cancelled at
    that moment, the runner returns normally, and no request follows."""
    clock = FakeClock()
    holder: list[Session] = []

    class Canceller:
        def __getattr__(self, name: str) -> Any:
            if name != method:
                raise AttributeError(name)
            return lambda event: holder[0].cancel()

    recorder = Recorder()
    session = Session(clock, Policy(), observers=[Canceller(), recorder])
    holder.append(session)
    api = BoundedApi([backend], clock)

    outcome = run_sync(session, api)

    assert outcome is Outcome.CANCELLED
    assert session.ended_at == cancelled_at
    assert api.requests == requests
    assert len(recorder.of(SessionEnded)) == 1


def test_a_cancel_from_session_ended_is_a_harmless_no_op() -> None:
    """Cancelling an ended session returns False and changes nothing."""
    clock = FakeClock()
    results: list[bool] = []
    holder: list[Session] = []

    class Late(Observer):
        def session_ended(self, event: object) -> None:
            results.append(holder[0].cancel())

    session = Session(clock, Policy(), observers=[Late()])
    holder.append(session)

    outcome = run_sync(
        session, BoundedApi([BackendEntry(at=0, body=snapshot("done"))], clock)
    )

    assert outcome is Outcome.DONE
    assert results == [False]


# -- the view -----------------------------------------------------------------------


def test_the_view_follows_a_session_from_start_to_end() -> None:
    """Active on, next poll time while waiting, messages so far, then the end."""
    clock = FakeClock(start=100.0)
    session = Session(clock, Policy())

    idle = session.view()
    assert (idle.state, idle.active, idle.next_poll_at, idle.elapsed) == (
        "idle",
        True,
        None,
        0.0,
    )

    session.begin(Response(202))
    waiting = session.view()
    assert (waiting.state, waiting.active, waiting.next_poll_at) == (
        "backoff",
        True,
        1.0,
    )
    assert (waiting.outcome, waiting.reason, waiting.detail) == (None, None, "")

    clock.advance(1.0)
    session.start_poll()
    polling = session.view()
    assert (polling.state, polling.active, polling.next_poll_at) == (
        "polling",
        True,
        None,
    )
    assert polling.statistics.polls == 1

    clock.advance(0.5)
    session.end_poll(Response(200, (), snapshot("running", "m1", "m2")))
    again = session.view()
    assert (again.state, again.next_poll_at, again.elapsed) == ("backoff", 2.5, 1.5)
    assert [m.label for m in again.messages] == ["m1", "m2"]
    assert again.statistics.messages == 2

    clock.advance(1.0)
    session.start_poll()
    clock.advance(0.25)
    session.end_poll(Response(200, (), snapshot("Completed", "m1", "m2", "m3")))
    clock.advance(60.0)
    final = session.view()
    assert (final.state, final.active, final.next_poll_at) == ("done", False, None)
    assert (final.outcome, final.reason) == (Outcome.DONE, EndReason.COMPLETED)
    assert "Completed" in final.detail
    assert [m.label for m in final.messages] == ["m1", "m2", "m3"]
    assert final.elapsed == 2.75
    assert final.statistics.polls == 2


def test_the_view_is_safe_to_read_from_another_thread_while_running() -> None:
    """A UI thread reading views never sees a final state turn active again."""
    clock = BlockingClock()
    session = Session(clock, Policy())
    api = CountingApi(Response(200, (), snapshot("running")))
    views = []

    def watch_then_cancel() -> None:
        assert clock.sleeping.wait(STUCK)
        views.append(session.view())
        session.cancel()
        views.append(session.view())

    watcher = threading.Thread(target=watch_then_cancel)
    watcher.start()
    run_sync(session, api)
    watcher.join(STUCK)

    assert [v.active for v in views] == [True, False]
    assert views[0].next_poll_at == 1.0
    assert views[1].outcome is Outcome.CANCELLED


def test_statistics_count_polls_failures_and_messages() -> None:
    """statistics() is one frozen record of the counters."""
    clock = FakeClock()
    session = Session(clock, Policy())

    run_sync(session, _story(clock))

    stats = session.statistics()
    assert (stats.polls, stats.failed_polls, stats.messages) == (5, 1, 2)
    assert stats.elapsed == 10.0


def test_a_second_runner_is_refused_and_leaves_the_first_run_alone() -> None:
    """Found by an embedding trial (a double-click): the second run_sync
    sent a second trigger, failed in begin(), and its error handler
    cancelled the first, legitimate run."""
    clock = FakeClock()
    session = Session(clock, Policy())
    api = ScriptedApi([BackendEntry(at=0, body=b'{"status": "running"}')], clock)
    session.add_observer(_SecondRunner(session, api))
    assert run_sync(session, api) is Outcome.STALLED  # the first run's own end
    assert session.view().reason is EndReason.STALLED


class _SecondRunner(Observer):
    def __init__(self, session: Session, api: ScriptedApi) -> None:
        self.session, self.api, self.tried = session, api, False

    def poll_sent(self, event: PollSent) -> None:
        if self.tried:
            return
        self.tried = True
        with pytest.raises(SessionError, match="already drives"):
            run_sync(self.session, self.api)
        assert not self.session.is_ended


def test_a_port_that_raises_ends_the_session_saying_so() -> None:
    """A port that broke its promise not to raise: the session ends
    cancelled (it must not stay active), but not "by the user"."""

    class Broken:
        def trigger(self, timeout: float) -> Reply:
            raise ValueError("no such host in the config")

        def fetch(self, timeout: float) -> Reply:
            raise AssertionError("never polled")

    session = Session(FakeClock(), Policy())
    with pytest.raises(ValueError, match="no such host"):
        run_sync(session, Broken())
    view = session.view()
    assert view.outcome is Outcome.CANCELLED
    assert view.detail == "the runner stopped on ValueError: no such host in the config"


def test_a_cancel_can_say_why() -> None:
    session = Session(FakeClock(), Policy())
    assert session.cancel(detail="window closed")
    assert session.view().detail == "window closed"
