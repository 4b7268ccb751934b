"""What ``pollwise watch`` shows: a live indicator, plain lines, or JSON events.

Three observers of one session, chosen by where the output goes:

- :class:`RichView`: a terminal; a spinner with "generating...", the state
  and the next poll, and each message printed as it lands;
- :class:`PlainView`: not a terminal, or ``NO_COLOR`` set; one plain line
  per event worth reading;
- :class:`JsonView`: ``--json``; one JSON object per event.

They only render; they never decide anything about the session.
"""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

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
    StateChanged,
)
from pollwise.engine.ports import Observer
from pollwise.engine.session import Session, SessionView

__all__ = ["JsonView", "PlainView", "RichView", "describe_message", "summary_line"]

_MAX_SHOWN = 300


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


def _answer_words(event: PollAnswered) -> str:
    answer: Readable = event.answer
    status = f" {answer.status}" if answer.status is not None else ""
    news = "progress" if event.has_progress else "no news"
    return f"HTTP {answer.http_status}{status}, {news}"


class PlainView(Observer):
    """Plain lines, for logs, pipes and ``NO_COLOR``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def _line(self, at: float, text: str) -> None:
        print(f"[{at:7.2f}s] {text}", file=self.stream, flush=True)

    def poll_answered(self, event: PollAnswered) -> None:
        self._line(event.at, f"poll {event.number}: {_answer_words(event)}")

    def poll_failed(self, event: PollFailed) -> None:
        self._line(event.at, f"poll {event.number} failed: {event.answer.reason}")

    def poll_scheduled(self, event: PollScheduled) -> None:
        schedule = event.schedule
        self._line(event.at, f"next poll at {schedule.at:.2f}s ({schedule.why})")

    def messages_delivered(self, event: MessagesDelivered) -> None:
        for message in event.messages:
            print(f"  {describe_message(message)}", file=self.stream, flush=True)


class RichView(Observer):
    """A live indicator on a terminal, with messages printed above it.

    Use it as a context manager around the run; it stops its refresh thread
    on exit.
    """

    def __init__(self, session: Session, console: Console) -> None:
        self.session = session
        self.console = console
        self._live = Live(self, console=console, refresh_per_second=8, transient=True)
        self._spinner = Spinner("dots", style="cyan")

    def __enter__(self) -> RichView:
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.stop()

    def __rich__(self) -> RenderableType:
        view = self.session.view()
        if not view.active:
            return Text("")
        parts = [f"state {view.state}", f"{view.statistics.polls} polls"]
        if view.next_poll_at is not None:
            due = max(0.0, view.next_poll_at - view.elapsed)
            parts.append(f"next poll in {due:.1f}s")
        self._spinner.update(
            text=Text.assemble(("generating… ", "bold"), (" · ".join(parts), "dim"))
        )
        return Group(self._spinner)

    def messages_delivered(self, event: MessagesDelivered) -> None:
        for message in event.messages:
            self.console.print(Text(describe_message(message)))

    def poll_failed(self, event: PollFailed) -> None:
        self.console.print(
            Text(f"poll {event.number} failed: {event.answer.reason}", style="yellow")
        )


def _json_default(value: object) -> Any:
    return repr(value)


class JsonView(Observer):
    """One JSON object per event on ``stream`` (``--json``)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._started = time.monotonic()

    def emit(self, kind: str, at: float, **fields: Any) -> None:
        """Write one event object."""
        record = {"event": kind, "at": round(at, 6), **fields}
        text = json.dumps(record, default=_json_default, ensure_ascii=False)
        print(text, file=self.stream, flush=True)

    def state_changed(self, event: StateChanged) -> None:
        self.emit("state_changed", event.at, source=event.source, target=event.target)

    def poll_scheduled(self, event: PollScheduled) -> None:
        schedule = event.schedule
        self.emit(
            "poll_scheduled",
            event.at,
            send_at=schedule.at,
            wait=schedule.wait,
            hint=schedule.hint,
            why=schedule.why,
        )

    def poll_sent(self, event: PollSent) -> None:
        self.emit(
            "poll_sent",
            event.at,
            number=event.number,
            request_timeout=event.request_timeout,
        )

    def poll_answered(self, event: PollAnswered) -> None:
        answer = event.answer
        self.emit(
            "poll_answered",
            event.at,
            number=event.number,
            http_status=answer.http_status,
            status=answer.status,
            progress=event.has_progress,
        )

    def poll_failed(self, event: PollFailed) -> None:
        answer = event.answer
        self.emit(
            "poll_failed",
            event.at,
            number=event.number,
            fatal=isinstance(answer, Fatal),
            reason=answer.reason,
            http_status=answer.http_status,
        )

    def messages_delivered(self, event: MessagesDelivered) -> None:
        for message in event.messages:
            self.emit("message", event.at, id=message.label, message=message.data)

    def session_ended(self, event: SessionEnded) -> None:
        self.emit(
            "ended",
            event.at,
            outcome=event.outcome.value,
            reason=event.reason.value,
            detail=event.detail,
        )
