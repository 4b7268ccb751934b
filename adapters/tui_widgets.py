"""Textual widgets that show a pollwise session: embed them in any Textual app.

- :class:`Transcript`: the chat so far, each message as it lands, plus the
  notes an app adds (the user's prompt, errors, the outcome);
- :class:`GeneratingIndicator`: "assistant is typing" while the generation
  is active, hidden otherwise;
- :class:`SessionStatus`: one line with the state, the next poll and the
  counters (a status bar).

Each renders from :class:`~pollwise.engine.updates.Update` values through
``show(update)``; :func:`follow` runs one worker that reads a session's
update stream and shows every update on the widgets given, on the app's
event loop, so a session run on another thread is shown safely too::

    worker = follow(self, session, self.query_one(Transcript),
                    self.query_one(GeneratingIndicator))
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import ClassVar, Literal

from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker

from pollwise.engine.answers import Message
from pollwise.engine.session import Session, SessionView
from pollwise.engine.updates import Update

from .live_view import UpdateView, describe_message, status_line

__all__ = [
    "EntryKind",
    "GeneratingIndicator",
    "SessionStatus",
    "Transcript",
    "TranscriptEntry",
    "follow",
]

logger = logging.getLogger("pollwise.adapters.tui")

#: What a transcript line is: a message from the API, the user's prompt, a
#: remark of the app, an error, or the outcome of a generation.
EntryKind = Literal["message", "prompt", "note", "error", "outcome"]


class TranscriptEntry(Static):
    """One line of a :class:`Transcript`; its text is never read as markup."""

    DEFAULT_CSS = """
    TranscriptEntry { padding: 0 1; margin: 0 0 1 0; }
    TranscriptEntry.-message { background: $boost; }
    TranscriptEntry.-prompt { color: $text-accent; text-style: bold; }
    TranscriptEntry.-note { color: $text-muted; }
    TranscriptEntry.-error { color: $text-error; }
    TranscriptEntry.-outcome { color: $text-success; text-style: italic; }
    """

    def __init__(self, text: str, kind: EntryKind) -> None:
        super().__init__(text, markup=False, classes=f"-{kind}")
        self.text = text
        self.kind: EntryKind = kind


class Transcript(VerticalScroll):
    """A chat transcript that follows the end as lines are added."""

    DEFAULT_CSS = """
    Transcript { height: 1fr; padding: 1 1 0 1; }
    """

    class EntryAdded(TextualMessage):
        """Posted when a line is added (after it is mounted)."""

        def __init__(self, transcript: Transcript, entry: TranscriptEntry) -> None:
            super().__init__()
            self.transcript = transcript
            self.entry = entry

    @property
    def entries(self) -> tuple[TranscriptEntry, ...]:
        """Every line so far, in order."""
        return tuple(self.query(TranscriptEntry))

    def add(self, text: str, kind: EntryKind = "note") -> TranscriptEntry:
        """Add one line of ``kind`` and scroll to it."""
        entry = TranscriptEntry(text, kind)
        self.mount(entry)
        self.call_after_refresh(self._shown, entry)
        return entry

    def add_messages(self, messages: Iterable[Message]) -> None:
        """Add messages from the API, in order."""
        for message in messages:
            self.add(describe_message(message), "message")

    def show(self, update: Update) -> None:
        """Add the messages that ``update`` brings."""
        self.add_messages(update.new_messages)

    def _shown(self, entry: TranscriptEntry) -> None:
        self.scroll_end(animate=False)
        self.post_message(self.EntryAdded(self, entry))


class GeneratingIndicator(Static):
    """Shown while a generation is active: the typing indicator.

    Args:
        label: the words beside the dots.
        animated: move the dots (off for screenshots that must not change).
    """

    DEFAULT_CSS = """
    GeneratingIndicator { height: 1; padding: 0 2; color: $text-accent; }
    GeneratingIndicator.-idle { display: none; }
    """

    FRAMES: ClassVar[tuple[str, ...]] = ("●∙∙", "∙●∙", "∙∙●", "∙●∙")

    #: whether a generation is active (the indicator is shown)
    active: reactive[bool] = reactive(False, init=False)

    class Changed(TextualMessage):
        """Posted when the indicator turns on or off."""

        def __init__(self, indicator: GeneratingIndicator, active: bool) -> None:
            super().__init__()
            self.indicator = indicator
            self.active = active

    def __init__(
        self,
        label: str = "assistant is typing",
        *,
        animated: bool = True,
        id: str | None = None,
    ) -> None:
        super().__init__("", markup=False, id=id, classes="-idle")
        self.label = label
        self.animated = animated
        self._frame = 0
        self._timer: Timer | None = None

    def on_mount(self) -> None:
        if self.animated:
            self._timer = self.set_interval(0.25, self._tick, pause=True)
        self._draw()

    def show(self, update: Update) -> None:
        """On while the session is active, off once it ended."""
        self.active = update.view.active

    def watch_active(self, active: bool) -> None:
        self.set_class(not active, "-idle")
        if self._timer is not None:
            if active:
                self._timer.resume()
            else:
                self._timer.pause()
        self._draw()
        self.post_message(self.Changed(self, active))

    def _tick(self) -> None:
        self._frame = (self._frame + 1) % len(self.FRAMES)
        self._draw()

    def _draw(self) -> None:
        self.update(f"{self.FRAMES[self._frame]} {self.label}")


class SessionStatus(Static):
    """The state, the next poll and the counters of a session, on one line.

    Between updates, call :meth:`show_view` with ``session.view()`` on a
    timer to make the countdown tick.
    """

    DEFAULT_CSS = """
    SessionStatus { height: 1; padding: 0 1; background: $panel; color: $text; }
    """

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(text, markup=False, id=id)
        #: the view last shown
        self.view: SessionView | None = None

    def show(self, update: Update) -> None:
        """Show the view ``update`` carries."""
        self.show_view(update.view)

    def show_view(self, view: SessionView) -> None:
        """Show ``view``: the outcome once ended, else the state and counters."""
        self.view = view
        if view.outcome is not None:
            detail = f" ({view.detail})" if view.detail else ""
            stats = view.statistics
            self.update(
                f"{view.outcome.value}{detail} · {stats.polls} polls · "
                f"{stats.failed_polls} failed · {stats.elapsed:.1f}s"
            )
        else:
            self.update(status_line(view))


def follow(host: DOMNode, session: Session, *views: UpdateView) -> Worker[None]:
    """Show every update of ``session`` on ``views``, from a worker of ``host``.

    The worker reads a new update stream of the session (subscribed now, so
    its first update shows the session as it is) and ends after the final
    update; await ``worker.wait()`` to know that everything was shown.
    """
    updates = session.updates()

    async def run() -> None:
        with updates:
            async for update in updates:
                for view in views:
                    try:
                        view.show(update)
                    except Exception:
                        # Like an observer's: logged, and the others go on.
                        logger.exception("%r raised showing an update", view)

    return host.run_worker(
        run(), name="pollwise-follow", group="pollwise", exit_on_error=False
    )
