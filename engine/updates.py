"""Following a session as a stream of frozen updates, with or without asyncio.

An :class:`UpdateStream` is an observer that turns a session's events into
:class:`Update` values for one reader: the session's view when the update
is read, the messages this reader has not been given yet, and every event
since its previous update. Get one with :meth:`Session.updates()
<pollwise.engine.session.Session.updates>` and read it the way the caller
lives:

- ``async for update in session.updates():`` in asyncio; an event raised on
  another thread wakes the reader through ``loop.call_soon_threadsafe``;
- ``for update in session.updates():`` on a thread that does not run the
  session (it blocks between updates);
- :meth:`UpdateStream.get_nowait` from a GUI toolkit's timer.

Updates are coalesced: a reader that is slower than the session gets fewer
updates, each carrying everything since the one before, so no event and no
message is ever lost. The stream ends after the update whose
:attr:`Update.is_final` is true, the one that carries the session's end; a
stream made after the session ended yields that one update and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TYPE_CHECKING

import attrs

from .answers import Message
from .events import (
    MessagesDelivered,
    PollAnswered,
    PollFailed,
    PollScheduled,
    PollSent,
    SessionEnded,
    SessionEvent,
    StateChanged,
)
from .ports import Observer

if TYPE_CHECKING:
    from .session import Session, SessionView

__all__ = ["Update", "UpdateStream"]


@attrs.frozen
class Update:
    """What changed for one reader since its previous update."""

    #: the session when the update was read, between two of its steps
    #: (frozen; call :meth:`Session.view` for a reading that ticks, such as
    #: a countdown to the next poll)
    view: SessionView
    #: messages delivered since this reader's previous update, in order
    new_messages: tuple[Message, ...]
    #: every event since the previous update, in the order it happened
    events: tuple[SessionEvent, ...]
    #: 1 for a stream's first update, then 2, 3, ...
    number: int
    #: whether this update carries the session's end; nothing follows it
    is_final: bool


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class UpdateStream(Observer):
    """One reader's view of a session, as :class:`Update` values.

    Build it with :meth:`Session.updates`, which subscribes it atomically.
    Any thread may read it; a stream has one reader (another reader calls
    :meth:`Session.updates` again and gets its own stream). Events arrive on
    the thread that drives (or cancels) the session, are recorded under a
    lock, and wake the reader; recording one costs a lock and an append.
    Reading takes the session's view once per update.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        #: events not handed out yet, each with the session's version after it
        self._events: list[tuple[int, SessionEvent]] = []
        self._shown = 0
        self._number = 0
        self._finished = False
        # The first update shows the session as it is when it is read.
        self._pending = True
        session.add_observer(self)
        self._born_ended = session.is_ended

    # -- reading -----------------------------------------------------------

    @property
    def is_finished(self) -> bool:
        """Whether the final update was handed out, or the stream closed."""
        with self._lock:
            return self._finished

    def get_nowait(self) -> Update | None:
        """The next update if there is one, else None (never blocks)."""
        return self._handed(self._take())

    def get(self, timeout: float | None = None) -> Update | None:
        """Wait up to ``timeout`` seconds (None: for good) for the next update.

        Returns None when the time ran out or the stream is finished.
        Never call it on the thread that runs the session: it would wait
        for an event that thread cannot send.
        """
        with self._changed:
            if not self._pending and not self._finished:
                self._changed.wait(timeout)
        return self._handed(self._take())

    def close(self) -> None:
        """Stop following: a reader waiting now or later gets no more updates."""
        with self._lock:
            self._finished = True
            self._notify()
        self._session.remove_observer(self)

    def __iter__(self) -> UpdateStream:
        return self

    def __next__(self) -> Update:
        while True:
            update = self.get()
            if update is not None:
                return update
            if self.is_finished:
                raise StopIteration

    def __aiter__(self) -> UpdateStream:
        return self

    async def __anext__(self) -> Update:
        loop = asyncio.get_running_loop()
        while True:
            update = self._take()
            if update is not None:
                self._handed(update)
                return update
            with self._lock:
                if self._finished:
                    raise StopAsyncIteration
                if self._pending:
                    continue
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, waiter))
            try:
                await waiter
            finally:
                with self._lock:
                    if (loop, waiter) in self._waiters:
                        self._waiters.remove((loop, waiter))

    def __enter__(self) -> UpdateStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------

    def _take(self) -> Update | None:
        with self._lock:
            if self._finished or not self._pending:
                return None
        # Read without holding the stream's lock (the session's lock comes
        # first, as when events are recorded). The session holds its lock
        # through each step, so this view is the state between two steps,
        # and every event up to it has been recorded.
        view = self._session.view()
        with self._lock:
            if self._finished:
                return None
            cut = 0
            while cut < len(self._events) and self._events[cut][0] <= view.version:
                cut += 1
            events = tuple(event for _, event in self._events[:cut])
            del self._events[:cut]
            self._pending = bool(self._events)
            is_final = self._born_ended or any(
                isinstance(event, SessionEnded) for event in events
            )
            new_messages = view.messages[self._shown :]
            self._shown = len(view.messages)
            self._number += 1
            if is_final:
                self._finished = True
                self._notify()
            return Update(view, new_messages, events, self._number, is_final)

    def _handed(self, update: Update | None) -> Update | None:
        if update is not None and update.is_final:
            self._session.remove_observer(self)
        return update

    def _notify(self) -> None:
        # Runs with the lock held.
        self._changed.notify_all()
        for loop, waiter in self._waiters:
            # The loop may have closed since its reader gave up waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, waiter)
        self._waiters.clear()

    def _record(self, event: SessionEvent) -> None:
        # Called by the session, with its lock held, right after ``event``.
        version = self._session.version
        with self._lock:
            if self._finished:
                return
            self._events.append((version, event))
            self._pending = True
            self._notify()

    # -- the observer's side -------------------------------------------------

    def state_changed(self, event: StateChanged) -> None:
        self._record(event)

    def poll_scheduled(self, event: PollScheduled) -> None:
        self._record(event)

    def poll_sent(self, event: PollSent) -> None:
        self._record(event)

    def poll_answered(self, event: PollAnswered) -> None:
        self._record(event)

    def poll_failed(self, event: PollFailed) -> None:
        self._record(event)

    def messages_delivered(self, event: MessagesDelivered) -> None:
        self._record(event)

    def session_ended(self, event: SessionEnded) -> None:
        self._record(event)
