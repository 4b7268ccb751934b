"""A transition table compiled from :class:`~pollwise.engine.machine.PollMachine`.

The declarative machine stays the single description of a session's life
(the diagrams and the docs are drawn from it, and it is the default
runner's machine). What it costs is the library's general event loop:
about 100 us and hundreds of Python calls per transition, and some 18 KiB
per instance. A simulation, a replay or thousands of sessions in one
process need much less than that: a session's machine is flat, its guards
only read the event's data, and no transition has an action. So this
module reads the class once and builds a plain table, state by event, of
the transitions in the order the class declares them; :class:`TableMachine`
then does what the library does for such a machine (the first transition
whose guards all pass wins; no transition is an error) in a dictionary
look-up and one guard call or two.

The two agree on every event sequence: ``tests/test_machine_table.py``
drives both with arbitrary sequences (hypothesis) and compares the state
and the refusals after every step. :func:`compile_table` refuses a class
that uses anything the table does not model (actions, validators,
compound states, boolean guard expressions), so a later change to the
machine cannot silently drift from its table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
from statemachine import State, StateChart
from statemachine.exceptions import TransitionNotAllowed

from .machine import PollMachine

__all__ = ["MACHINE_KINDS", "Table", "TableMachine", "TableRow", "compile_table"]

#: The machines a :class:`~pollwise.engine.session.Session` can run on.
MACHINE_KINDS: Final = ("declarative", "table")

Guard = Callable[..., bool]


@attrs.frozen
class TableRow:
    """One transition: its target and the guards that must all hold."""

    target: str
    guards: tuple[str, ...]


@attrs.frozen
class Table:
    """Transitions of a machine class, by source state and event, in order."""

    initial: str
    finals: frozenset[str]
    #: (source state id, event id) -> the candidate transitions, in order
    rows: Mapping[tuple[str, str], tuple[TableRow, ...]]
    #: guard name -> the class's method (called with the event's data)
    guards: Mapping[str, Guard]
    #: state id -> the library's State, for refusals that read like its own
    states: Mapping[str, State]
    events: frozenset[str]


_NO_ACTIONS: Final = frozenset(
    {
        "before_transition",
        "on_transition",
        "after_transition",
    }
)


def _convention_only(specs: Any, event: str) -> bool:
    allowed = _NO_ACTIONS | {f"{when}_{event}" for when in ("before", "on", "after")}
    return all(spec.is_convention and spec.attr_name in allowed for spec in specs)


def compile_table(machine_class: type[StateChart[Any]] = PollMachine) -> Table:
    """Read a flat, action-free machine class into a :class:`Table`.

    Raises:
        TypeError: the class uses something the table does not model; the
            message names it.
    """
    rows: dict[tuple[str, str], list[TableRow]] = {}
    guards: dict[str, Guard] = {}
    states: dict[str, State] = {}
    events: set[str] = set()
    initial: str | None = None
    for state in machine_class.states:
        states[state.id] = state
        if state.initial:
            initial = state.id
        if state.states:
            raise TypeError(f"state {state.id!r} is compound; tables are flat")
        for transition in state.transitions:
            event = str(transition.event)
            if " " in event:
                raise TypeError(f"transition {event!r} has several events")
            if list(transition.validators):
                raise TypeError(f"transition {event!r} has validators")
            for group in (transition.before, transition.on, transition.after):
                if not _convention_only(group, event):
                    raise TypeError(f"transition {event!r} has an action")
            names: list[str] = []
            for spec in transition.cond:
                name = spec.attr_name
                method = getattr(machine_class, str(name), None)
                if not (isinstance(name, str) and name.isidentifier()) or not callable(
                    method
                ):
                    raise TypeError(f"guard {name!r} is not a method of the class")
                if spec.expected_value is not True:
                    raise TypeError(f"guard {name!r} is an 'unless' guard")
                guards[name] = method
                names.append(name)
            events.add(event)
            rows.setdefault((state.id, event), []).append(
                TableRow(target=transition.target.id, guards=tuple(names))
            )
    if initial is None:
        raise TypeError(f"{machine_class.__name__} has no initial state")
    finals = frozenset(state.id for state in machine_class.states if state.final)
    return Table(
        initial=initial,
        finals=finals,
        rows={key: tuple(value) for key, value in rows.items()},
        guards=guards,
        states=states,
        events=frozenset(events),
    )


_POLL_TABLE: Table | None = None


def poll_table() -> Table:
    """The table of :class:`PollMachine`, compiled once per process."""
    global _POLL_TABLE
    if _POLL_TABLE is None:
        _POLL_TABLE = compile_table(PollMachine)
    return _POLL_TABLE


class TableMachine:
    """Runs a :class:`Table` with the interface a session uses.

    ``send(event, **data)`` takes the first transition from the current
    state whose guards all hold for ``data``; with none, it raises the
    library's :class:`~statemachine.exceptions.TransitionNotAllowed` and
    leaves the state as it was, as the declarative machine (strict, no
    event without a transition) does.
    """

    __slots__ = ("_state", "_table")

    def __init__(self, table: Table | None = None) -> None:
        self._table = table if table is not None else poll_table()
        self._state = self._table.initial

    def send(self, event: str, **data: Any) -> None:
        table = self._table
        for row in table.rows.get((self._state, event), ()):
            if all(table.guards[name](self, **data) for name in row.guards):
                self._state = row.target
                return
        raise TransitionNotAllowed(None, {table.states[self._state]})

    @property
    def current_state_value(self) -> str:
        """The current state's id (the declarative machine's value)."""
        return self._state

    @current_state_value.setter
    def current_state_value(self, value: str) -> None:
        if value not in self._table.states:
            raise ValueError(f"{value!r} is not a state of the table")
        self._state = value

    @property
    def state_name(self) -> str:
        """The current state's id (``"backoff"``, ``"done"``, ...)."""
        return self._state

    @property
    def is_final(self) -> bool:
        """Whether the machine reached a final state."""
        return self._state in self._table.finals

    def __repr__(self) -> str:
        return f"TableMachine(state={self._state!r})"
