"""The fake API shared by ``simulate`` and ``replay``: by time, or in order."""

from __future__ import annotations

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.scenario import BackendEntry
from pollwise.adapters.scripted_api import ScriptedApi
from pollwise.engine import FailureKind, Response, TransportFailure


def test_in_order_the_nth_request_gets_the_nth_entry_whatever_its_time() -> None:
    clock = FakeClock()
    entries = [BackendEntry(at=0, http_status=s) for s in (200, 429, 204)]
    api = ScriptedApi(entries, clock, in_order=True)
    statuses = []
    for _ in range(4):
        reply = api.fetch(10.0)
        assert isinstance(reply, Response)
        statuses.append(reply.status_code)
    assert statuses == [200, 429, 204, 204]  # the last one past the end


def test_in_order_with_no_entries_is_no_news() -> None:
    reply = ScriptedApi([], FakeClock(), in_order=True).fetch(1.0)
    assert isinstance(reply, Response)
    assert (reply.status_code, reply.body) == (200, b"")


def test_a_recorded_answer_arrives_at_its_time_whatever_the_timeout() -> None:
    """Replay: the answer came at 12.5 on the real clock; so it does here,
    even past the request timeout the schedule gives now."""
    clock = FakeClock()
    api = ScriptedApi(
        [BackendEntry(at=0, http_status=200, answer_at=12.5)], clock, in_order=True
    )
    clock.advance(1.0)
    reply = api.fetch(0.5)
    assert isinstance(reply, Response)
    assert clock.now() == 12.5


def test_a_recorded_answer_already_due_arrives_at_once() -> None:
    clock = FakeClock()
    api = ScriptedApi([BackendEntry(at=0, answer_at=1.0)], clock)
    clock.advance(3.0)
    api.fetch(10.0)
    assert clock.now() == 3.0


def test_a_recorded_timeout_arrives_at_its_time_too() -> None:
    clock = FakeClock()
    entry = BackendEntry(at=0, error=FailureKind.TIMEOUT, answer_at=2.0)
    reply = ScriptedApi([entry], clock, in_order=True).fetch(10.0)
    assert isinstance(reply, TransportFailure)
    assert reply.kind is FailureKind.TIMEOUT
    assert clock.now() == 2.0
