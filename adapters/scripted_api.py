"""A fake API that answers from a timeline, on a fake clock.

It is the backend of every scenario (``pollwise simulate``): a request sent
at time t gets the timeline's entry with the greatest ``at`` <= t (of equal
ones, the later), takes the entry's latency on the fake clock, and fails
with a timeout when that latency is longer than the request's timeout.
Before the first entry the API answers an empty 200 ("no news").

A replay (``pollwise replay``) uses the same class ``in_order``: the n-th
request gets the n-th entry, whatever its time, and an entry with
``answer_at`` answers at that recorded time.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence

from pollwise.engine.answers import FailureKind, Reply, Response, TransportFailure
from pollwise.engine.rules import rounding_slack

from .clocks import FakeClock
from .scenario import BackendEntry

__all__ = ["AsyncScriptedApi", "ScriptedApi"]

_NO_NEWS = BackendEntry(at=float("-inf"))


class ScriptedApi:
    """Answers from ``timeline``; times are measured from ``origin``.

    Args:
        timeline: entries in any order (ties keep their given order).
        clock: the fake clock the session runs on; latency advances it.
        trigger: the trigger's answer (a plain 202 by default).
        origin: the clock reading that is t = 0.
        in_order: the n-th request gets the n-th entry (the last one past
            the end), instead of the entry due at its send time.
    """

    def __init__(
        self,
        timeline: Sequence[BackendEntry],
        clock: FakeClock,
        trigger: BackendEntry | None = None,
        origin: float | None = None,
        *,
        in_order: bool = False,
    ) -> None:
        self._in_order = in_order
        self._entries = (
            list(timeline) if in_order else sorted(timeline, key=lambda e: e.at)
        )
        self._times = [entry.at for entry in self._entries]
        self._clock = clock
        self._trigger = (
            trigger if trigger is not None else BackendEntry(at=0, http_status=202)
        )
        self._origin = clock.now() if origin is None else origin
        #: send times of every fetch, seconds since t = 0
        self.requests: list[float] = []

    def entry_at(self, t: float) -> BackendEntry:
        """The entry that answers a request sent at ``t``.

        A send time a rounding below an entry's ``at`` is at it: 1 + 0.3 + 2
        + 0.4 + 4 is 7.699999999999999, and the entry at 7.7 answers it.
        """
        index = bisect.bisect_right(self._times, t + rounding_slack(t))
        return self._entries[index - 1] if index else _NO_NEWS

    def _entry_in_order(self) -> BackendEntry:
        if not self._entries:
            return _NO_NEWS
        return self._entries[min(len(self.requests), len(self._entries)) - 1]

    def trigger(self, timeout: float) -> Reply:
        # t = 0 is the moment the trigger returned, so it takes no time here.
        return _reply(self._trigger)

    def fetch(self, timeout: float) -> Reply:
        sent = self._clock.now() - self._origin
        self.requests.append(sent)
        entry = self._entry_in_order() if self._in_order else self.entry_at(sent)
        if entry.answer_at is not None:
            # A recorded answer arrives when it did, whatever the timeout.
            wait = self._origin + entry.answer_at - self._clock.now()
            self._clock.advance(max(0.0, wait))
            return _reply(entry)
        # The timeout is often the time left (7.1 - 7 is 0.0999999999999996):
        # a latency a rounding over it is within it.
        if entry.error is FailureKind.TIMEOUT or entry.latency > (
            timeout + rounding_slack(sent + timeout)
        ):
            self._clock.advance(timeout)
            return TransportFailure(
                FailureKind.TIMEOUT, f"no answer within {timeout:g}s"
            )
        self._clock.advance(min(entry.latency, timeout))
        return _reply(entry)


class AsyncScriptedApi:
    """The asyncio face of a :class:`ScriptedApi`."""

    def __init__(self, api: ScriptedApi) -> None:
        self.api = api

    async def trigger(self, timeout: float) -> Reply:
        await asyncio.sleep(0)
        return self.api.trigger(timeout)

    async def fetch(self, timeout: float) -> Reply:
        await asyncio.sleep(0)
        return self.api.fetch(timeout)


def _reply(entry: BackendEntry) -> Reply:
    if entry.error is not None:
        return TransportFailure(entry.error, "scripted")
    return Response(entry.http_status, entry.headers, entry.body)
