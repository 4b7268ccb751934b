"""At most one generation per conversation: start, cancel and restart from a UI.

A UI starts a generation when the user asks, lets the user cancel it, and
starts another for the same conversation later. :class:`Generations` runs
each session for it, on a background thread (:meth:`Generations.start`,
for sync code and GUI toolkits) or as an asyncio task
(:meth:`Generations.start_task`), and keeps the rule: while a
conversation's session is active, a second start is refused with
:class:`GenerationRunningError`, or, when the caller passes ``join=True``,
returns the running generation instead. Once the session has ended
(done, failed, ..., or cancelled), the conversation is free again at once.

Cancelling stops following the job, not the job: the server may still be
generating (the reference server answers a new generate-sequence with 409
until it is finished, which ends the new session ``failed``).

Thread safety: every method of :class:`Generations` and :class:`Generation`
may be called from any thread; :meth:`Generations.start_task` and
:meth:`Generations.aclose` need a running event loop (the one the tasks
run on). Views, cancels and update streams go through the session, which
is safe from any thread too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

from pollwise.engine.errors import PollingError, SessionError
from pollwise.engine.outcomes import Outcome
from pollwise.engine.ports import AsyncConversationApi, ConversationApi
from pollwise.engine.runners import run_async, run_sync
from pollwise.engine.session import Session, SessionView
from pollwise.engine.updates import UpdateStream

__all__ = [
    "AsyncConnect",
    "Connect",
    "Generation",
    "GenerationRunningError",
    "Generations",
]

logger = logging.getLogger("pollwise.adapters.generations")

#: Opens the API for one generation (closed when it ends), for example
#: ``lambda: HttpConversationApi(endpoint)``; wrap an object that needs no
#: closing in ``contextlib.nullcontext``.
Connect = Callable[[], AbstractContextManager[ConversationApi]]
#: The asyncio twin of :data:`Connect`, such as
#: ``lambda: AsyncHttpConversationApi(endpoint)``.
AsyncConnect = Callable[[], AbstractAsyncContextManager[AsyncConversationApi]]


class GenerationRunningError(PollingError, RuntimeError):
    """A conversation already has an active generation.

    Attributes:
        key: the conversation.
        running: the generation that is still active.
    """

    def __init__(self, key: str, running: Generation) -> None:
        self.key = key
        self.running = running
        super().__init__(
            f"conversation {key!r} already has an active generation "
            f"(state {running.session.state!r}); cancel it or pass join=True"
        )


class Generation:
    """One session run for one conversation, on a thread or a task.

    Read it with :meth:`view` or :meth:`updates`, stop it with
    :meth:`cancel`; all three are safe from any thread.
    """

    def __init__(self, key: str, session: Session) -> None:
        self.key = key
        self.session = session
        #: an unexpected exception that ended the run (the session then ends
        #: ``cancelled``); None when the runner returned normally
        self.error: BaseException | None = None
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[Outcome | None] | None = None

    @property
    def is_active(self) -> bool:
        """Whether the session is still running (show the indicator)."""
        return not self.session.is_ended

    @property
    def is_finished(self) -> bool:
        """Whether the thread or task has returned (after the session ended)."""
        return self._finished.is_set()

    def view(self) -> SessionView:
        """The session's frozen view now."""
        return self.session.view()

    def updates(self) -> UpdateStream:
        """A new stream of the session's updates, for one reader."""
        return self.session.updates()

    def cancel(self) -> bool:
        """End the session as cancelled now; False when it had ended."""
        return self.session.cancel()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread or task to return; False when time ran out.

        Do not call it on the event loop that runs the task (await
        :meth:`wait` there).
        """
        return self._finished.wait(timeout)

    async def wait(self) -> Outcome | None:
        """Wait, in asyncio, until the run returned; its outcome.

        Raises:
            SessionError: the generation runs on a thread (use :meth:`join`).
        """
        if self._task is None:
            raise SessionError("this generation runs on a thread; use join()")
        await asyncio.wait({self._task})
        return self.session.outcome

    def __repr__(self) -> str:
        return f"<Generation {self.key!r} {self.session.state}>"


class Generations:
    """The generations of many conversations, at most one active per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, Generation] = {}
        self._running: set[Generation] = set()

    def start(
        self,
        key: str,
        session: Session,
        connect: Connect,
        *,
        trigger: bool = True,
        join: bool = False,
    ) -> Generation:
        """Run ``session`` for conversation ``key`` on a background thread.

        Args:
            key: the conversation (any string that names it).
            session: a new session; subscribe to it (``session.updates()``)
                before this call to see every event.
            connect: opens the API for this run.
            trigger: start the job first (False follows one already started).
            join: when ``key`` has an active generation, return it instead
                of raising; ``session`` is then not used.

        Raises:
            GenerationRunningError: ``key`` has an active generation and
                ``join`` is false.
            SessionError: ``session`` was already run.
        """

        def body(generation: Generation) -> None:
            with connect() as api:
                run_sync(generation.session, api, trigger=trigger)

        return self._launch(key, session, join, lambda g: self._thread(g, body))

    def start_task(
        self,
        key: str,
        session: Session,
        connect: AsyncConnect,
        *,
        trigger: bool = True,
        join: bool = False,
    ) -> Generation:
        """Run ``session`` for ``key`` as a task of the running event loop.

        The arguments and errors are those of :meth:`start`. Cancelling the
        task ends the session as cancelled.

        Raises:
            RuntimeError: no event loop is running in this thread.
        """
        loop = asyncio.get_running_loop()

        async def body(generation: Generation) -> Outcome | None:
            async with connect() as api:
                return await run_async(generation.session, api, trigger=trigger)

        return self._launch(key, session, join, lambda g: self._task(loop, g, body))

    def get(self, key: str) -> Generation | None:
        """The active generation of ``key``, or None."""
        with self._lock:
            generation = self._latest.get(key)
        return generation if generation and generation.is_active else None

    def latest(self, key: str) -> Generation | None:
        """The last generation started for ``key``, active or not."""
        with self._lock:
            return self._latest.get(key)

    def cancel(self, key: str) -> bool:
        """Cancel the active generation of ``key``; False when there is none."""
        generation = self.get(key)
        return generation.cancel() if generation is not None else False

    def cancel_all(self) -> int:
        """Cancel every active generation; how many were cancelled."""
        with self._lock:
            running = list(self._running)
        return sum(generation.cancel() for generation in running)

    def close(self, timeout: float | None = None) -> bool:
        """Cancel everything and wait for the threads (and tasks) to return.

        Returns False when some did not return within ``timeout``. Do not
        call it on an event loop that runs tasks of this object (await
        :meth:`aclose` there).
        """
        self.cancel_all()
        with self._lock:
            running = list(self._running)
        return all(generation.join(timeout) for generation in running)

    async def aclose(self) -> None:
        """Cancel everything; await the tasks, then join the threads."""
        self.cancel_all()
        with self._lock:
            running = list(self._running)
        tasks = [g._task for g in running if g._task is not None]
        if tasks:
            await asyncio.wait(tasks)
        threads = [g for g in running if g._task is None]
        if threads:
            await asyncio.to_thread(lambda: [g.join() for g in threads])

    def __enter__(self) -> Generations:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Generations:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- internals ------------------------------------------------------------

    def _launch(
        self,
        key: str,
        session: Session,
        join: bool,
        run: Callable[[Generation], None],
    ) -> Generation:
        with self._lock:
            current = self._latest.get(key)
            if current is not None and current.is_active:
                if join:
                    return current
                raise GenerationRunningError(key, current)
            if session.state != "idle" or session.is_ended:
                raise SessionError(
                    f"a generation needs a new session, not one in state "
                    f"{session.state!r}"
                )
            generation = Generation(key, session)
            self._latest[key] = generation
            self._running.add(generation)
            run(generation)
        return generation

    def _finish(self, generation: Generation, error: BaseException | None) -> None:
        if error is not None:
            generation.error = error
            logger.error(
                "generation of %r ended by %s: %s",
                generation.key,
                type(error).__name__,
                error,
            )
        # A runner that raised has cancelled its session; one that failed
        # before the runner started has not.
        generation.session.cancel()
        with self._lock:
            self._running.discard(generation)
        generation._finished.set()

    def _thread(
        self, generation: Generation, body: Callable[[Generation], None]
    ) -> None:
        def target() -> None:
            error: BaseException | None = None
            try:
                body(generation)
            except BaseException as exc:  # a thread has nobody else to tell
                error = exc
            finally:
                self._finish(generation, error)

        thread = threading.Thread(
            target=target, name=f"pollwise-generation-{generation.key}", daemon=True
        )
        generation._thread = thread
        thread.start()

    def _task(
        self,
        loop: asyncio.AbstractEventLoop,
        generation: Generation,
        body: Callable[[Generation], Coroutine[Any, Any, Outcome | None]],
    ) -> None:
        async def run() -> Outcome | None:
            error: BaseException | None = None
            try:
                return await body(generation)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = exc
                return None
            finally:
                self._finish(generation, error)

        task = loop.create_task(run(), name=f"pollwise-generation-{generation.key}")
        generation._task = task
