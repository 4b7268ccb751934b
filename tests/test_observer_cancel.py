"""An observer may cancel from any callback: the session ends there, and
nothing follows its end (no event, no request)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.scenario import BackendEntry
from pollwise.adapters.scripted_api import ScriptedApi
from pollwise.engine import (
    Observer,
    Outcome,
    Policy,
    Session,
    SessionEnded,
    StateChanged,
    run_sync,
)

CALLBACKS = (
    "state_changed",
    "poll_scheduled",
    "poll_sent",
    "poll_answered",
    "messages_delivered",
)
ALL_CALLBACKS = (*CALLBACKS, "poll_failed", "session_ended")


class _CancelOn:
    """Records every event; cancels on the n-th call of one callback."""

    def __init__(self, session: Session, callback: str, nth: int) -> None:
        self.session, self.callback, self.nth = session, callback, nth
        self.events: list[Any] = []
        self.calls = 0
        self.cancelled_on = 0

    def __getattr__(self, name: str) -> Any:
        if name not in ALL_CALLBACKS:
            raise AttributeError(name)

        def record(event: Any) -> None:
            self.events.append(event)
            if name == self.callback:
                self.calls += 1
                if self.calls == self.nth:
                    self.cancelled_on = self.calls
                    self.session.cancel()

        return record


#: (callback, n): cancel on the n-th call; this session delivers messages twice.
CASES = [(c, n) for c in CALLBACKS for n in (1, 2, 3)]
CASES.remove(("messages_delivered", 3))


@pytest.mark.parametrize(("callback", "nth"), CASES)
def test_a_cancel_from_an_observer_ends_the_session_and_nothing_follows(
    callback: str, nth: int
) -> None:
    clock = FakeClock()
    session = Session(clock, Policy())
    observer = _CancelOn(session, callback, nth)
    session.add_observer(observer)
    body = json.dumps({"status": "running", "messages": [{"id": 1}, {"id": 2}]})
    api = ScriptedApi(
        [
            BackendEntry(at=0, body=body.encode()),
            BackendEntry(at=2.5, body=body.replace("2}", "3}").encode()),
        ],
        clock,
    )

    outcome = run_sync(session, api)

    assert observer.cancelled_on == nth
    assert outcome is Outcome.CANCELLED
    ends = [i for i, e in enumerate(observer.events) if isinstance(e, SessionEnded)]
    assert ends == [len(observer.events) - 1]
    sends = [e for e in observer.events if type(e).__name__ == "PollSent"]
    assert len(api.requests) <= len(sends)


class _CtrlCOnDone(Observer):
    """A Ctrl-C landing in an observer as the session ends."""

    def state_changed(self, event: StateChanged) -> None:
        if event.target == "done":
            raise KeyboardInterrupt


class _Ends(Observer):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def state_changed(self, event: StateChanged) -> None:
        self.seen.append(f"state {event.target}")

    def session_ended(self, event: SessionEnded) -> None:
        self.seen.append(f"ended {event.outcome.value}")


def test_a_ctrl_c_in_an_observer_still_tells_every_other_one_of_the_end() -> None:
    """Found by an embedding trial: a KeyboardInterrupt raised in an
    observer during the final transition skipped the observers after it
    and session_ended, so an update stream's reader waited for ever."""
    clock = FakeClock()
    api = ScriptedApi([BackendEntry(at=0, body=b'{"status": "done"}')], clock)
    before, after = _Ends(), _Ends()
    session = Session(clock, Policy(), observers=[before, _CtrlCOnDone(), after])
    stream = session.updates()
    with pytest.raises(KeyboardInterrupt):
        run_sync(session, api)
    assert session.outcome is Outcome.DONE
    assert before.seen[-2:] == after.seen[-2:] == ["state done", "ended done"]
    updates = []
    while (update := stream.get_nowait()) is not None:  # never blocks
        updates.append(update)
    assert [update.is_final for update in updates][-1:] == [True]
