"""Runners: carry out a session's decisions with real (or fake) time and I/O.

Both runners drive the same :class:`~pollwise.engine.session.Session`, so
they make the same decisions; they differ only in how they wait and send.

- :func:`run_sync` blocks the calling thread. :meth:`Session.cancel` from
  another thread wakes a sleeping runner at once; a request already in
  flight is abandoned (its reply is dropped): when the API has an
  ``interrupt()`` method (the HTTP adapter has), the runner calls it, so
  the request returns at once; otherwise the runner returns as soon as the
  API call returns, which the request timeout bounds.
- :func:`run_async` is a coroutine. A cancel, from the loop or from another
  thread, abandons the sleep or the request at once; cancelling the task
  that runs it ends the session as cancelled too, then re-raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .events import SessionEnded
from .outcomes import Outcome
from .ports import AsyncConversationApi, ConversationApi, Observer
from .session import Session

__all__ = ["run_async", "run_sync"]

logger = logging.getLogger("pollwise.engine")

_T = TypeVar("_T")


def _outcome(session: Session) -> Outcome:
    outcome = session.outcome
    assert outcome is not None
    return outcome


class _InterruptOnCancel(Observer):
    """Tells the API to abandon its request in flight when the user cancels."""

    def __init__(self, interrupt: Callable[[], object]) -> None:
        self._interrupt = interrupt

    def session_ended(self, event: SessionEnded) -> None:
        if event.outcome is Outcome.CANCELLED:
            self._interrupt()


def run_sync(
    session: Session, api: ConversationApi, *, trigger: bool = True
) -> Outcome:
    """Run a session to its end on the calling thread.

    Args:
        session: a new session.
        api: the job's API; if it has an ``interrupt()`` method, a cancel
            calls it (from the cancelling thread) to abandon the request
            in flight.
        trigger: call ``api.trigger`` first (False polls a job already started).

    Returns:
        The outcome; :meth:`Session.view` tells the rest.
    """
    session.claim_runner()
    interrupt = getattr(api, "interrupt", None)
    if callable(interrupt):
        session.add_observer(_InterruptOnCancel(interrupt))
    try:
        _drive_sync(session, api, trigger)
    except BaseException as exc:
        # KeyboardInterrupt, or a port that broke its promise not to raise:
        # the session must not stay "active" behind the caller's back.
        session.cancel(detail=_stopped_by(exc))
        raise
    return _outcome(session)


def _stopped_by(exc: BaseException) -> str:
    """The cancel's detail when a runner stops on ``exc``."""
    if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
        return "cancelled by the user"
    return f"the runner stopped on {type(exc).__name__}: {exc}"


def _drive_sync(session: Session, api: ConversationApi, trigger: bool) -> None:
    clock = session.clock
    wake = session.ended_event
    if session.is_ended:  # cancelled before the runner started: send nothing
        return
    reply = api.trigger(session.policy.request_timeout) if trigger else None
    # A zero-length sleep lets a fake clock deliver events due at t = 0
    # (a cancel at the trigger's instant wins over it).
    clock.sleep(0.0, wake)
    session.begin(reply)
    while not session.is_ended:
        target = session.sleep_target()
        if target is None:
            break
        while not session.is_ended and (remaining := target - clock.now()) > 0:
            clock.sleep(remaining, wake)
        request_timeout = session.start_poll()
        if request_timeout is None:
            break
        session.end_poll(api.fetch(request_timeout))


class _WakeOnEnd(Observer):
    """Sets an asyncio event when the session ends, from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ended: asyncio.Event) -> None:
        self.loop = loop
        self.ended = ended

    def session_ended(self, event: SessionEnded) -> None:
        # Session events arrive on whichever thread ended the session.
        self.loop.call_soon_threadsafe(self.ended.set)


async def run_async(
    session: Session, api: AsyncConversationApi, *, trigger: bool = True
) -> Outcome:
    """Run a session to its end as an asyncio coroutine.

    The same contract as :func:`run_sync`; in addition a cancel abandons an
    in-flight request at once, and no task is left behind.
    """
    session.claim_runner()
    ended = asyncio.Event()
    session.add_observer(_WakeOnEnd(asyncio.get_running_loop(), ended))
    if session.is_ended:  # cancelled before the runner started: send nothing
        return _outcome(session)
    try:
        reply = None
        if trigger:
            reply = await _unless_ended(
                api.trigger(session.policy.request_timeout), ended
            )
            if session.is_ended:
                return _outcome(session)
        await session.clock.sleep_async(0.0)
        session.begin(reply)
        while not session.is_ended:
            target = session.sleep_target()
            if target is None:
                break
            while (
                not session.is_ended and (remaining := target - session.clock.now()) > 0
            ):
                await _unless_ended(session.clock.sleep_async(remaining), ended)
            request_timeout = session.start_poll()
            if request_timeout is None:
                break
            reply = await _unless_ended(api.fetch(request_timeout), ended)
            if reply is not None:
                session.end_poll(reply)
    except BaseException as exc:
        # Task cancellation (or a port that raised): end as cancelled first.
        session.cancel(detail=_stopped_by(exc))
        raise
    return _outcome(session)


async def _unless_ended(awaitable: Awaitable[_T], ended: asyncio.Event) -> _T | None:
    """Await ``awaitable`` unless the session ends first; then abandon it."""
    work = asyncio.ensure_future(awaitable)
    if ended.is_set():
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
    else:
        stop = asyncio.ensure_future(ended.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, stop):
                if not task.done():
                    task.cancel()
            for task in (work, stop):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if work.cancelled():
        return None
    return work.result()
