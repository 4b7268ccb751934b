"""The compiled transition table decides exactly as the declarative machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from statemachine import State, StateChart
from statemachine.exceptions import TransitionNotAllowed

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.scenario import load_scenario
from pollwise.adapters.scripted_api import ScriptedApi
from pollwise.engine.errors import SessionError
from pollwise.engine.machine import PollMachine
from pollwise.engine.machine_table import TableMachine, compile_table, poll_table
from pollwise.engine.outcomes import EndReason, Outcome, Verdict
from pollwise.engine.runners import run_sync
from pollwise.engine.session import Session

SPECS = Path(__file__).resolve().parent.parent / "specs"

_REASONS = {
    Outcome.DONE: EndReason.COMPLETED,
    Outcome.FAILED: EndReason.SERVER_FAILED,
    Outcome.TIMED_OUT: EndReason.DEADLINE,
    Outcome.STALLED: EndReason.STALLED,
    Outcome.CANCELLED: EndReason.CANCELLED,
}

verdicts = st.one_of(
    st.none(),
    st.sampled_from(list(Outcome)).map(lambda o: Verdict(_REASONS[o], "test")),
)
steps = st.tuples(
    st.sampled_from([*sorted(poll_table().events), "no_such_event"]), verdicts
)


def _step(machine: Any, event: str, verdict: Verdict | None) -> str:
    try:
        machine.send(event, verdict=verdict)
    except TransitionNotAllowed:
        return "refused"
    except AttributeError:
        # the declarative machine has no attribute for an unknown event
        return "refused"
    return "taken"


@given(st.lists(steps, max_size=30))
def test_the_table_and_the_machine_agree_on_any_event_sequence(
    sequence: list[tuple[str, Verdict | None]],
) -> None:
    """After every event both are in the same state, and both took or both
    refused it (an event no transition takes is refused by both)."""
    declarative, table = PollMachine(), TableMachine()
    for event, verdict in sequence:
        assert _step(declarative, event, verdict) == _step(table, event, verdict)
        assert table.current_state_value == declarative.current_state_value
        assert table.is_final == declarative.is_final
        assert table.state_name == declarative.state_name


def test_the_table_lists_the_transitions_in_the_order_the_class_declares() -> None:
    rows = poll_table().rows[("polling", "poll_ended")]
    assert [row.target for row in rows] == [
        "done",
        "failed",
        "timed_out",
        "stalled",
        "backoff",
    ]
    assert rows[0].guards == ("ends_done",)
    assert rows[-1].guards == ()


def test_a_refused_event_leaves_the_table_where_it_was() -> None:
    machine = TableMachine()
    with pytest.raises(TransitionNotAllowed):
        machine.send("poll_sent", verdict=None)
    assert machine.current_state_value == "idle"


def test_a_class_with_an_action_is_refused() -> None:
    class WithAction(StateChart[Any]):
        a = State(initial=True)
        b = State(final=True)
        go = a.to(b, on="shout")

        def shout(self) -> None:
            return None

    with pytest.raises(TypeError, match="action"):
        compile_table(WithAction)


def test_a_class_with_an_unless_guard_is_refused() -> None:
    class WithUnless(StateChart[Any]):
        a = State(initial=True)
        b = State(final=True)
        go = a.to(b, unless="blocked")

        def blocked(self) -> bool:
            return False

    with pytest.raises(TypeError, match="unless"):
        compile_table(WithUnless)


def test_a_session_refuses_an_unknown_machine_kind() -> None:
    with pytest.raises(SessionError, match="machine"):
        Session(FakeClock(), machine="fast")


def _run(path: Path, machine: str) -> tuple[Any, ...]:
    scenario = load_scenario(str(path))
    clock = FakeClock(start=0.0, wall_start=scenario.wall_clock)
    session = Session(
        clock,
        scenario.policy,
        scenario.profile,
        history=scenario.history,
        machine=machine,
    )
    if scenario.cancel_at is not None:
        clock.call_at(scenario.cancel_at, session.cancel)
    api = ScriptedApi(scenario.backend, clock, trigger=scenario.trigger)
    outcome = run_sync(session, api)
    view = session.view()
    return (
        outcome,
        session.ended_at,
        tuple(api.requests),
        tuple(message.label for message in view.messages),
        session.verdict,
    )


@pytest.mark.parametrize(
    "path",
    sorted(SPECS.glob("*.yaml")) + sorted(SPECS.glob("*.json")),
    ids=lambda path: path.stem,
)
def test_every_scenario_ends_the_same_on_the_table(path: Path) -> None:
    assert _run(path, "table") == _run(path, "declarative")
