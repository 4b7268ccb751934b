"""The ports a session is driven through: a clock, an API and observers.

Adapters implement these; the engine never imports an adapter. Every port
is a :class:`typing.Protocol`, so any object with the right methods fits.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from .answers import Reply
from .events import (
    MessagesDelivered,
    PollAnswered,
    PollFailed,
    PollScheduled,
    PollSent,
    SessionEnded,
    StateChanged,
)

__all__ = ["AsyncConversationApi", "Clock", "ConversationApi", "Observer"]


@runtime_checkable
class Clock(Protocol):
    """Monotonic time, wall time, and sleeping (sync and async).

    Only :meth:`now` measures the schedule. :meth:`wall_time` is read only
    to turn a server's HTTP-date into a delay.
    """

    def now(self) -> float:
        """Monotonic seconds; only differences mean anything."""
        ...

    def wall_time(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float, wake: threading.Event) -> None:
        """Block for ``seconds``, or less if ``wake`` is set meanwhile."""
        ...

    async def sleep_async(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class ConversationApi(Protocol):
    """The server side of one job, for synchronous code.

    Methods return a :class:`~pollwise.engine.answers.Response` or a
    :class:`~pollwise.engine.answers.TransportFailure`; they do not raise for
    anything the network or the server does. An API may also have an
    ``interrupt()`` method, safe from any thread, that makes the request in
    flight return at once; :func:`~pollwise.engine.runners.run_sync` calls
    it when the session is cancelled.
    """

    def trigger(self, timeout: float) -> Reply:
        """Start the job (for example POST generate-sequence)."""
        ...

    def fetch(self, timeout: float) -> Reply:
        """Fetch the job's current snapshot (a GET), within ``timeout``."""
        ...


class AsyncConversationApi(Protocol):
    """The asyncio twin of :class:`ConversationApi`."""

    async def trigger(self, timeout: float) -> Reply:
        """Start the job."""
        ...

    async def fetch(self, timeout: float) -> Reply:
        """Fetch the job's current snapshot within ``timeout``."""
        ...


class Observer(Protocol):
    """Receives a session's events; every method is optional in practice.

    Subclass this protocol explicitly to inherit no-op methods and override
    only what you need. Observers run on the thread that drives the session
    (or the one that cancels it), in the order events happen; an exception
    an observer raises is logged and does not stop the session.
    """

    def state_changed(self, event: StateChanged) -> None:
        """The machine changed state."""
        return None

    def poll_scheduled(self, event: PollScheduled) -> None:
        """The next poll's send time was decided."""
        return None

    def poll_sent(self, event: PollSent) -> None:
        """A poll request went out."""
        return None

    def poll_answered(self, event: PollAnswered) -> None:
        """A poll ended with a readable answer."""
        return None

    def poll_failed(self, event: PollFailed) -> None:
        """A poll failed or got a fatal answer."""
        return None

    def messages_delivered(self, event: MessagesDelivered) -> None:
        """New messages arrived, in the API's order."""
        return None

    def session_ended(self, event: SessionEnded) -> None:
        """The session ended; nothing follows."""
        return None
