"""What ``pollwise watch`` shows: a live indicator, plain lines, or JSON events.

Three renderers of one session's :class:`~pollwise.engine.updates.Update`
values, chosen by where the output goes; each has ``show(update)`` and reads
nothing but the update (and, for the ticking countdown, the session's
frozen view), so they follow a session the way any other UI does:

- :class:`RichView`: a terminal; a spinner with "generating...", the state
  and the next poll, and each message printed as it lands;
- :class:`PlainView`: not a terminal, or ``NO_COLOR`` set; one plain line
  per event worth reading;
- :class:`JsonView`: ``--json``; one JSON object per event.

They only render; they never decide anything about the session.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from pollwise.engine.answers import Fatal, Message, Readable
from pollwise.engine.events import (
    MessagesDelivered,
    PollAnswered,
    PollFailed,
    PollScheduled,
    PollSent,
    SessionEnded,
    SessionEvent,
    StateChanged,
)
from pollwise.engine.session import SessionView
from pollwise.engine.updates import Update

__all__ = [
    "JsonView",
    "PlainView",
    "RichView",
    "UpdateView",
    "describe_message",
    "status_line",
    "summary_line",
    "unannounced",
    "wants_plain",
    "write_line",
]

_MAX_SHOWN = 300


class UpdateView(Protocol):
    """Anything that renders a session from its updates."""

    def show(self, update: Update) -> None:
        """Render what ``update`` brings."""
        ...


def wants_plain(stream: TextIO) -> bool:
    """Whether ``stream`` gets plain lines: not a terminal, or NO_COLOR set
    (to anything but the empty string, as no-color.org says)."""
    return not stream.isatty() or bool(os.environ.get("NO_COLOR"))


def write_line(stream: TextIO, text: str) -> None:
    """Write one line of a view to ``stream`` and flush it, so a pipe or a
    log sees each line when it happens."""
    stream.write(text + "\n")
    stream.flush()


def printable(text: str) -> str:
    """Text from a server, safe for a terminal: control characters escaped.

    A message could otherwise clear the screen, move the cursor or recolour
    what follows (ESC sequences, BEL, CR).
    """
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode()
        for ch in text
    )


def describe_message(message: Message) -> str:
    """One message as a line of text: ``role: content`` when it has those."""
    data = message.data
    content = data.get("content") if isinstance(data, dict) else None
    if isinstance(content, str):
        role = data.get("role")
        prefix = f"{role}: " if isinstance(role, str) else ""
        text = prefix + content
    else:
        text = f"{message.label}: {json.dumps(data, ensure_ascii=False)}"
    text = printable(text)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def summary_line(view: SessionView) -> str:
    """The one-line summary printed when a session ends."""
    stats = view.statistics
    outcome = view.outcome.value if view.outcome else view.state
    detail = f" ({view.detail})" if view.detail else ""
    return (
        f"{outcome}{detail} · {stats.polls} polls · {stats.messages} messages"
        f" · {stats.failed_polls} failed · {stats.elapsed:.1f}s"
    )


def status_line(view: SessionView) -> str:
    """The state, the next poll and the counters, for a status bar."""
    parts = [f"state {view.state}"]
    if view.next_poll_at is not None:
        due = max(0.0, view.next_poll_at - view.elapsed)
        parts.append(f"next poll in {due:.1f}s")
    stats = view.statistics
    parts.append(f"{stats.polls} polls")
    parts.append(f"{stats.failed_polls} failed")
    parts.append(f"{stats.elapsed:.1f}s")
    return " · ".join(parts)


def unannounced(update: Update) -> tuple[Message, ...]:
    """New messages that no event of ``update`` announces.

    Only a stream made after the session began has them, in its first
    update: they were delivered before the reader subscribed.
    """
    announced = sum(
        len(event.messages)
        for event in update.events
        if isinstance(event, MessagesDelivered)
    )
    return update.new_messages[: len(update.new_messages) - announced]


def _answer_words(event: PollAnswered) -> str:
    answer: Readable = event.answer
    status = f" {printable(str(answer.status))}" if answer.status is not None else ""
    news = "progress" if event.has_progress else "no news"
    return f"HTTP {answer.http_status}{status}, {news}"


class PlainView:
    """Plain lines, for logs, pipes and ``NO_COLOR``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def _print(self, text: str) -> None:
        write_line(self.stream, text)

    def _line(self, at: float, text: str) -> None:
        self._print(f"[{at:7.2f}s] {text}")

    def show(self, update: Update) -> None:
        for message in unannounced(update):
            self._print(f"  {describe_message(message)}")
        for event in update.events:
            self._event(event)

    def _event(self, event: SessionEvent) -> None:
        if isinstance(event, PollAnswered):
            self._line(event.at, f"poll {event.number}: {_answer_words(event)}")
        elif isinstance(event, PollFailed):
            self._line(event.at, f"poll {event.number} failed: {event.answer.reason}")
        elif isinstance(event, PollScheduled):
            schedule = event.schedule
            self._line(event.at, f"next poll at {schedule.at:.2f}s ({schedule.why})")
        elif isinstance(event, MessagesDelivered):
            for message in event.messages:
                self._print(f"  {describe_message(message)}")


class RichView:
    """A live indicator on a terminal, with messages printed above it.

    Args:
        console: where to draw.
        current: a fresh view for each refresh (``session.view``), so the
            countdown to the next poll ticks between updates; without it,
            the latest update's view is drawn.

    Use it as a context manager around the run; it stops its refresh thread
    on exit.
    """

    def __init__(
        self,
        console: Console,
        current: Callable[[], SessionView] | None = None,
    ) -> None:
        self.console = console
        self._current = current
        self._latest: SessionView | None = None
        self._live = Live(self, console=console, refresh_per_second=8, transient=True)
        self._spinner = Spinner("dots", style="cyan")

    def __enter__(self) -> RichView:
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.stop()

    def __rich__(self) -> RenderableType:
        view = self._current() if self._current is not None else self._latest
        if view is None or not view.active:
            return Text("")
        self._spinner.update(
            text=Text.assemble(("generating… ", "bold"), (status_line(view), "dim"))
        )
        return Group(self._spinner)

    def show(self, update: Update) -> None:
        self._latest = update.view
        for message in unannounced(update):
            self.console.print(Text(describe_message(message)))
        for event in update.events:
            if isinstance(event, MessagesDelivered):
                for message in event.messages:
                    self.console.print(Text(describe_message(message)))
            elif isinstance(event, PollFailed):
                reason = event.answer.reason
                self.console.print(
                    Text(f"poll {event.number} failed: {reason}", style="yellow")
                )


def _json_default(value: object) -> Any:
    return repr(value)


class JsonView:
    """One JSON object per event on ``stream`` (``--json``)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def emit(self, kind: str, at: float, **fields: Any) -> None:
        """Write one event object."""
        record = {"event": kind, "at": round(at, 6), **fields}
        text = json.dumps(record, default=_json_default, ensure_ascii=False)
        write_line(self.stream, text)

    def show(self, update: Update) -> None:
        for message in unannounced(update):
            self._message(update.view.elapsed, message)
        for event in update.events:
            self._event(event)

    def _message(self, at: float, message: Message) -> None:
        self.emit("message", at, id=message.label, message=message.data)

    def _event(self, event: SessionEvent) -> None:
        if isinstance(event, StateChanged):
            self.emit(
                "state_changed", event.at, source=event.source, target=event.target
            )
        elif isinstance(event, PollScheduled):
            schedule = event.schedule
            self.emit(
                "poll_scheduled",
                event.at,
                send_at=schedule.at,
                wait=schedule.wait,
                hint=schedule.hint,
                why=schedule.why,
            )
        elif isinstance(event, PollSent):
            self.emit(
                "poll_sent",
                event.at,
                number=event.number,
                request_timeout=event.request_timeout,
            )
        elif isinstance(event, PollAnswered):
            answer = event.answer
            self.emit(
                "poll_answered",
                event.at,
                number=event.number,
                http_status=answer.http_status,
                status=answer.status,
                progress=event.has_progress,
            )
        elif isinstance(event, PollFailed):
            failure = event.answer
            self.emit(
                "poll_failed",
                event.at,
                number=event.number,
                fatal=isinstance(failure, Fatal),
                reason=failure.reason,
                http_status=failure.http_status,
            )
        elif isinstance(event, MessagesDelivered):
            for message in event.messages:
                self._message(event.at, message)
        elif isinstance(event, SessionEnded):
            self.emit(
                "ended",
                event.at,
                outcome=event.outcome.value,
                reason=event.reason.value,
                detail=event.detail,
            )
