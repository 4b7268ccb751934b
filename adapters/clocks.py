"""Clocks: the real one, and a fake one that tests and simulations move by hand."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections.abc import Callable

from pollwise.engine.rules import rounding_slack

__all__ = ["FakeClock", "SystemClock"]


class SystemClock:
    """The machine's monotonic clock and wall clock."""

    def now(self) -> float:
        return time.monotonic()

    def wall_time(self) -> float:
        return time.time()

    def sleep(self, seconds: float, wake: threading.Event) -> None:
        if seconds > 0:
            wake.wait(seconds)

    async def sleep_async(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A clock that only moves when told to; sleeping is an addition.

    Callbacks registered with :meth:`call_at` run when time reaches them,
    with :meth:`now` reading exactly their due time, in due-time order
    (ties in registration order). A sync :meth:`sleep` stops early, at the
    callback's instant, when a callback sets its ``wake`` event.

    Args:
        start: the initial reading of :meth:`now`.
        wall_start: the wall clock (seconds since the epoch) at ``start``;
            it moves with the fake clock.
    """

    def __init__(self, start: float = 0.0, wall_start: float = 1767225600.0) -> None:
        self._now = float(start)
        self._wall_offset = wall_start - start
        self._due: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def wall_time(self) -> float:
        return self._now + self._wall_offset

    def call_at(self, when: float, callback: Callable[[], object]) -> None:
        """Run ``callback`` when the clock reaches ``when`` (at once if past, on
        the next move)."""
        heapq.heappush(self._due, (when, next(self._order), callback))

    def advance(self, seconds: float, wake: threading.Event | None = None) -> None:
        """Move time forward, running due callbacks on the way.

        Raises:
            ValueError: ``seconds`` is negative (time never goes back).
        """
        if seconds < 0:
            raise ValueError(f"a clock never goes back (advance({seconds!r}))")
        target = self._now + seconds
        # A callback due a rounding after the target is due at it: a cancel
        # at 3.7 happens at the same instant as an answer at 3.3 + 0.4
        # (3.6999999999999997), and wins over it.
        while self._due and self._due[0][0] <= target + rounding_slack(target):
            when, _, callback = heapq.heappop(self._due)
            self._now = max(self._now, when)
            callback()
            if wake is not None and wake.is_set():
                return
        self._now = max(self._now, target)

    def sleep(self, seconds: float, wake: threading.Event) -> None:
        self.advance(max(0.0, seconds), wake)

    async def sleep_async(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r})"
