"""Following a session through update streams: sync, async, and by polling.

Sessions run on a fake clock against a small fake API whose answers are
given by hand, step by step, so that a reader can take updates between any
two steps of the session.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from strategies import Recorder

from pollwise.adapters.clocks import FakeClock
from pollwise.engine.answers import Reply, Response
from pollwise.engine.events import (
    PollScheduled,
    PollSent,
    SessionEnded,
    StateChanged,
)
from pollwise.engine.outcomes import Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.runners import run_async, run_sync
from pollwise.engine.session import Session
from pollwise.engine.updates import Update

POLICY = Policy(initial_delay=1.0, max_delay=1.0, timeout=1000, stall_after=None)


def _body(status: str, ids: Sequence[int]) -> Response:
    messages = [{"id": f"m{i}", "role": "assistant", "content": f"c{i}"} for i in ids]
    document = {"status": status, "messages": messages}
    return Response(200, (), json.dumps(document).encode())


class Growing:
    """A fake API: each poll lists one more message; done after ``count``."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.polls = 0

    def trigger(self, timeout: float) -> Reply:
        return Response(202, (), b"")

    def fetch(self, timeout: float) -> Reply:
        self.polls += 1
        shown = min(self.polls, self.count)
        status = "complete" if self.polls >= self.count else "generating"
        return _body(status, range(1, shown + 1))


def _step(session: Session, clock: FakeClock, reply: Reply) -> None:
    """One poll by hand: sleep until it is due, send it, answer it."""
    target = session.sleep_target()
    assert target is not None
    clock.advance(max(0.0, target - clock.now()))
    assert session.start_poll() is not None
    session.end_poll(reply)


def test_a_reader_gets_the_current_view_first_then_each_step() -> None:
    clock = FakeClock()
    session = Session(clock, POLICY)
    updates = session.updates()
    first = updates.get_nowait()
    assert first is not None
    assert (first.number, first.view.state, first.events) == (1, "idle", ())
    assert updates.get_nowait() is None

    session.begin(Response(202, (), b""))
    begun = updates.get_nowait()
    assert begun is not None
    assert begun.view.state == "backoff"
    assert [type(e) for e in begun.events] == [StateChanged, PollScheduled]
    assert begun.view.next_poll_at == 1.0

    _step(session, clock, _body("generating", [1, 2]))
    polled = updates.get_nowait()
    assert polled is not None
    assert [m.label for m in polled.new_messages] == ["m1", "m2"]
    assert polled.view.statistics.polls == 1

    _step(session, clock, _body("generating", [1, 2, 3]))
    _step(session, clock, _body("complete", [1, 2, 3, 4]))
    last = updates.get_nowait()
    assert last is not None
    assert last.is_final
    assert [m.label for m in last.new_messages] == ["m3", "m4"]
    assert isinstance(last.events[-1], SessionEnded)
    assert last.view.outcome is Outcome.DONE
    assert last.number == 4
    assert updates.get_nowait() is None
    assert updates.is_finished
    assert list(updates) == []


def test_updates_are_coalesced_and_nothing_is_lost() -> None:
    """A reader that reads only at the end gets one update with every event."""
    clock = FakeClock()
    recorder = Recorder()
    session = Session(clock, POLICY, observers=[recorder])
    updates = session.updates()
    assert run_sync(session, Growing(3)) is Outcome.DONE
    taken = list(updates)
    assert len(taken) == 1
    (update,) = taken
    assert update.is_final
    assert list(update.events) == recorder.events
    assert [m.label for m in update.new_messages] == ["m1", "m2", "m3"]


def test_a_stream_made_after_the_end_yields_the_final_view_once() -> None:
    clock = FakeClock()
    session = Session(clock, POLICY)
    run_sync(session, Growing(2))
    updates = list(session.updates())
    assert len(updates) == 1
    assert updates[0].is_final
    assert updates[0].events == ()
    assert [m.label for m in updates[0].new_messages] == ["m1", "m2"]
    assert updates[0].view.outcome is Outcome.DONE


def test_each_reader_has_its_own_new_messages() -> None:
    clock = FakeClock()
    session = Session(clock, POLICY)
    early = session.updates()
    session.begin(Response(202, (), b""))
    _step(session, clock, _body("generating", [1]))
    late = session.updates()
    _step(session, clock, _body("generating", [1, 2]))
    assert [m.label for u in _drain(early) for m in u.new_messages] == ["m1", "m2"]
    late_first = late.get_nowait()
    assert late_first is not None
    assert [m.label for m in late_first.new_messages] == ["m1", "m2"]
    # Its events start at the subscription: the poll that follows it.
    assert [type(e) for e in late_first.events][:2] == [StateChanged, PollSent]


def _drain(updates: Any) -> list[Update]:
    taken = []
    while (update := updates.get_nowait()) is not None:
        taken.append(update)
    return taken


def test_a_cancel_gives_a_final_update() -> None:
    clock = FakeClock()
    session = Session(clock, POLICY)
    updates = session.updates()
    session.begin(Response(202, (), b""))
    session.cancel()
    taken = _drain(updates)
    assert taken[-1].is_final
    assert taken[-1].view.outcome is Outcome.CANCELLED
    assert sum(u.is_final for u in taken) == 1


def test_the_view_at_the_final_state_change_already_has_its_reason() -> None:
    """An observer reading the view when the state turns final sees why."""
    clock = FakeClock()
    session = Session(clock, POLICY)
    seen = []

    class Look(Recorder):
        def state_changed(self, event: StateChanged) -> None:
            view = session.view()
            seen.append((view.state, view.active, view.reason, view.outcome))

    session.add_observer(Look())
    run_sync(session, Growing(1))
    assert seen[-1][:2] == ("done", False)
    assert seen[-1][2] is not None
    assert seen[-1][3] is Outcome.DONE


def test_the_version_grows_with_every_event() -> None:
    clock = FakeClock()
    recorder = Recorder()
    session = Session(clock, POLICY, observers=[recorder])
    assert session.view().version == 0
    run_sync(session, Growing(2))
    assert session.view().version == len(recorder.events)


def test_close_ends_a_reader_blocked_on_another_thread() -> None:
    session = Session(FakeClock(), POLICY)
    updates = session.updates()
    assert updates.get_nowait() is not None
    results: list[list[Update]] = []
    reader = threading.Thread(target=lambda: results.append(list(updates)))
    reader.start()
    updates.close()
    reader.join(5)
    assert not reader.is_alive()
    assert results == [[]]
    session.begin(Response(202, (), b""))
    assert updates.get_nowait() is None


def test_a_sync_reader_on_another_thread_sees_the_final_update() -> None:
    clock = FakeClock()
    session = Session(clock, POLICY)
    updates = session.updates()
    taken: list[Update] = []
    reader = threading.Thread(target=lambda: taken.extend(updates))
    reader.start()
    assert run_sync(session, Growing(5)) is Outcome.DONE
    reader.join(5)
    assert not reader.is_alive()
    assert taken[-1].is_final
    assert [m.label for u in taken for m in u.new_messages] == [
        f"m{i}" for i in range(1, 6)
    ]


def test_get_with_a_timeout_returns_none_when_nothing_happens() -> None:
    session = Session(FakeClock(), POLICY)
    updates = session.updates()
    assert updates.get(0) is not None
    assert updates.get(0) is None
    assert not updates.is_finished


def test_an_async_reader_is_woken_by_an_event_from_another_thread() -> None:
    """The session is driven on a thread while the reader awaits."""
    clock = FakeClock()
    session = Session(clock, POLICY)
    go = threading.Event()

    def drive() -> None:
        go.wait(5)
        session.begin(Response(202, (), b""))
        _step(session, clock, _body("generating", [1]))
        _step(session, clock, _body("complete", [1, 2]))

    async def read() -> list[Update]:
        taken = []
        async for update in session.updates():
            taken.append(update)
            go.set()  # only once the reader is waiting
        return taken

    driver = threading.Thread(target=drive)
    driver.start()
    taken = asyncio.run(asyncio.wait_for(read(), timeout=10))
    driver.join(5)
    assert taken[0].view.state == "idle"
    assert taken[-1].is_final
    assert [m.label for u in taken for m in u.new_messages] == ["m1", "m2"]


def test_an_async_reader_follows_run_async_on_the_same_loop() -> None:
    clock = FakeClock()
    recorder = Recorder()
    session = Session(clock, POLICY, observers=[recorder])

    class AsyncGrowing:
        def __init__(self) -> None:
            self.api = Growing(4)

        async def trigger(self, timeout: float) -> Reply:
            return self.api.trigger(timeout)

        async def fetch(self, timeout: float) -> Reply:
            await asyncio.sleep(0)
            return self.api.fetch(timeout)

    async def main() -> list[Update]:
        updates = session.updates()
        task = asyncio.create_task(run_async(session, AsyncGrowing()))
        taken = [update async for update in updates]
        await task
        return taken

    taken = asyncio.run(main())
    assert taken[-1].is_final
    assert [e for u in taken for e in u.events] == recorder.events


def test_an_async_reader_that_gives_up_leaves_no_waiter_behind() -> None:
    session = Session(FakeClock(), POLICY)
    updates = session.updates()

    async def main() -> None:
        assert await updates.__anext__() is not None
        waiting = asyncio.ensure_future(updates.__anext__())
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)

    asyncio.run(main())
    # The loop is closed now; an event must not try to wake it.
    session.begin(Response(202, (), b""))
    assert updates.get_nowait() is not None


@given(
    counts=st.integers(min_value=0, max_value=6),
    reads=st.lists(st.booleans(), min_size=1, max_size=40),
    cancel_at=st.one_of(st.none(), st.integers(min_value=0, max_value=8)),
)
def test_any_reading_pattern_gets_every_event_and_message_exactly_once(
    counts: int, reads: list[bool], cancel_at: int | None
) -> None:
    """Whenever the reader reads, the updates add up to the whole session."""
    clock = FakeClock()
    recorder = Recorder()
    session = Session(clock, POLICY, observers=[recorder])
    updates = session.updates()
    taken: list[Update] = []
    session.begin(Response(202, (), b""))
    step = 0
    while not session.is_ended:
        if reads[step % len(reads)]:
            taken.extend(_drain(updates))
        if cancel_at == step:
            session.cancel()
            break
        step += 1
        shown = min(step, counts)
        status = "complete" if step > counts else "generating"
        _step(session, clock, _body(status, range(1, shown + 1)))
    taken.extend(_drain(updates))

    assert [u.number for u in taken] == list(range(1, len(taken) + 1))
    assert [u.is_final for u in taken] == [False] * (len(taken) - 1) + [True]
    assert [e for u in taken for e in u.events] == recorder.events
    labels = [m.label for u in taken for m in u.new_messages]
    assert labels == [m.label for m in session.view().messages]
    assert taken[-1].view == session.view()
