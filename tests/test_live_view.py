"""The CLI's renderers draw a session from its updates, and nothing else."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.live_view import (
    JsonView,
    PlainView,
    RichView,
    status_line,
    unannounced,
    wants_plain,
)
from pollwise.engine.answers import Reply, Response
from pollwise.engine.events import StateChanged
from pollwise.engine.policy import Policy
from pollwise.engine.ports import Observer
from pollwise.engine.runners import run_sync
from pollwise.engine.session import Session
from pollwise.engine.updates import Update

POLICY = Policy(initial_delay=1.0, max_delay=1.0, stall_after=None)


class Script:
    """Answers in turn: a 503, then one message, then two and complete."""

    def __init__(self) -> None:
        self.answers = [
            Response(503, (), b""),
            Response(200, (), b'{"status": "generating", "messages": [{"id": "a"}]}'),
            Response(
                200,
                (),
                b'{"status": "complete", "messages": [{"id": "a"}, '
                b'{"id": "b", "role": "assistant", "content": "hi [b]there[/b]"}]}',
            ),
        ]

    def trigger(self, timeout: float) -> Reply:
        return Response(202, (), b"")

    def fetch(self, timeout: float) -> Reply:
        return self.answers.pop(0)


def _updates(step_by_step: bool = True) -> tuple[Session, list[Update]]:
    """Run the script, reading after every step (or only at the end)."""
    clock = FakeClock()
    session = Session(clock, POLICY)
    stream = session.updates()
    taken: list[Update] = []

    class ReadOften(Observer):
        def state_changed(self, event: StateChanged) -> None:
            if step_by_step:
                while (update := stream.get_nowait()) is not None:
                    taken.append(update)

    session.add_observer(ReadOften())
    run_sync(session, Script())
    taken.extend(stream)
    return session, taken


@pytest.mark.parametrize("step_by_step", [True, False])
def test_plain_lines_are_the_same_however_the_updates_are_cut(
    step_by_step: bool,
) -> None:
    _, updates = _updates(step_by_step)
    out = io.StringIO()
    view = PlainView(out)
    for update in updates:
        view.show(update)
    assert out.getvalue().splitlines() == [
        "[   0.00s] next poll at 1.00s (backoff)",
        "[   1.00s] poll 1 failed: HTTP 503",
        "[   1.00s] next poll at 2.00s (backoff)",
        "[   2.00s] poll 2: HTTP 200 generating, progress",
        '  a: {"id": "a"}',
        "[   2.00s] next poll at 3.00s (backoff)",
        "[   3.00s] poll 3: HTTP 200 complete, progress",
        "  assistant: hi [b]there[/b]",
    ]


def test_json_lines_name_every_event_in_order() -> None:
    _, updates = _updates()
    out = io.StringIO()
    view = JsonView(out)
    for update in updates:
        view.show(update)
    kinds = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert kinds[:3] == ["state_changed", "poll_scheduled", "state_changed"]
    assert kinds.count("message") == 2
    assert kinds.count("poll_failed") == 1
    assert kinds[-1] == "ended"


def test_a_late_reader_still_prints_the_earlier_messages_first() -> None:
    session, _ = _updates()
    (update,) = list(session.updates())
    assert [m.label for m in unannounced(update)] == ["a", "b"]
    out = io.StringIO()
    PlainView(out).show(update)
    assert out.getvalue().splitlines()[0] == '  a: {"id": "a"}'


def test_the_rich_view_prints_messages_and_failures_and_draws_the_indicator() -> None:
    _, updates = _updates()
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, highlight=False)
    view = RichView(console)
    for update in updates:
        view.show(update)
    text = out.getvalue()
    assert "poll 1 failed: HTTP 503" in text
    assert "assistant: hi [b]there[/b]" in text  # never read as markup
    # Ended: the live region is empty.
    assert str(view.__rich__()) == ""


def test_the_rich_indicator_shows_the_state_and_the_countdown() -> None:
    clock = FakeClock()
    session = Session(clock, POLICY)
    session.begin(Response(202, (), b""))
    clock.advance(0.25)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    view = RichView(console, current=session.view)
    console.print(view)
    text = out.getvalue()
    assert "generating…" in text
    assert "state backoff" in text
    assert "next poll in 0.8s" in text


def test_the_status_line_counts_polls_and_failures() -> None:
    session, _ = _updates()
    assert status_line(session.view()) == "state done · 3 polls · 1 failed · 3.0s"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal_or_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert wants_plain(io.StringIO())
    assert not wants_plain(_Terminal())
    monkeypatch.setenv("NO_COLOR", "1")
    assert wants_plain(_Terminal())
    # An empty value is as if it were unset (it turned plain lines on).
    monkeypatch.setenv("NO_COLOR", "")
    assert not wants_plain(_Terminal())
