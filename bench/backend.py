"""The fake backend every strategy polls: a workload served on a fake clock.

A request sent at t sees the conversation as it is at t (every message
whose arrival is <= t, and the status), unless t falls in a fault window;
the answer takes the workload's latency on the fake clock. The poller
"has" a message when the answer that holds it has arrived, so detection
latency counts that latency too, for every strategy alike.
"""

from __future__ import annotations

import bisect
import json

from pollwise.adapters.clocks import FakeClock
from pollwise.engine.answers import FailureKind, Reply, Response, TransportFailure

from .workloads import Workload

__all__ = ["TimelineApi"]

_TRIGGER = Response(202, (("content-type", "application/json"),), b'{"id": "c1"}')


class TimelineApi:
    """A :class:`~pollwise.engine.ports.ConversationApi` over a workload.

    Args:
        workload: the timeline to serve.
        clock: the fake clock; t = 0 is its reading when the API is made.
    """

    def __init__(self, workload: Workload, clock: FakeClock) -> None:
        self.workload = workload
        self.clock = clock
        self.origin = clock.now()
        #: send time of every poll (the trigger is not counted)
        self.requests: list[float] = []
        self._bodies: dict[tuple[int, bool], bytes] = {}

    def now(self) -> float:
        return self.clock.now() - self.origin

    def trigger(self, timeout: float) -> Reply:
        return _TRIGGER

    def fetch(self, timeout: float) -> Reply:
        sent = self.now()
        self.requests.append(sent)
        latency = self.workload.latency
        if latency > timeout:
            self.clock.advance(timeout)
            return TransportFailure(FailureKind.TIMEOUT, f"no answer in {timeout:g}s")
        self.clock.advance(latency)
        return self.snapshot(sent)

    def snapshot(self, t: float) -> Response:
        """The answer to a request sent at ``t``."""
        fault = self.workload.fault_at(t)
        if fault is not None:
            headers: tuple[tuple[str, str], ...] = ()
            if fault.retry_after is not None:
                headers = (("retry-after", fault.retry_after),)
            return Response(fault.status, headers, b'{"error": "try later"}')
        count = bisect.bisect_right(self.workload.arrivals, t)
        complete_at = self.workload.complete_at
        complete = complete_at is not None and t >= complete_at
        key = (count, complete)
        body = self._bodies.get(key)
        if body is None:
            body = self._body(count, complete)
            self._bodies[key] = body
        return Response(200, (("content-type", "application/json"),), body)

    def _body(self, count: int, complete: bool) -> bytes:
        data: dict[str, object] = {"id": "c1"}
        if self.workload.has_status:
            data["status"] = "complete" if complete else "generating"
        data["messages"] = [
            {"id": f"m{i}", "role": "assistant", "content": f"part {i}"}
            for i in range(count)
        ]
        return json.dumps(data).encode()
