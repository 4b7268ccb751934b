"""The clairvoyant oracle: the fewest requests that see everything within L.

It knows every arrival, the completion and every fault window in advance.
For a latency bound L, every event e (an arrival, and the completion when
there is a status) must be seen by a request whose answer arrives by
e + L, that is a request sent in [e, e + L - latency] that does not fail.
Stabbing intervals greedily from the left (send as late as the earliest
uncovered event allows) is optimal for this, so no poller, however clever,
sees every event within L with fewer requests.
"""

from __future__ import annotations

import bisect

from .workloads import Workload

__all__ = ["ORACLE_BOUNDS", "oracle_requests"]

#: The latency bounds the report shows the oracle at.
ORACLE_BOUNDS = (0.5, 1.0, 2.0, 4.0)


def _latest_good_send(workload: Workload, low: float, high: float) -> float:
    """The latest send time in [low, high] outside every fault window;
    the first good time after ``high`` when there is none."""
    t = high
    for fault in sorted(workload.faults, key=lambda f: f.start, reverse=True):
        if fault.start <= t < fault.end:
            t = fault.start - 1e-9
    if t >= low:
        return t
    return workload.first_good_time(high)


def oracle_requests(workload: Workload, bound: float) -> int:
    """Fewest requests that see every event of ``workload`` within ``bound``."""
    if bound < workload.latency:
        raise ValueError(f"no request answers within {bound:g}s")
    events = sorted(workload.events)
    requests = 0
    index = 0
    while index < len(events):
        earliest = events[index]
        send = _latest_good_send(
            workload, earliest, earliest + bound - workload.latency
        )
        requests += 1
        index = bisect.bisect_right(events, send, lo=index)
        if index < len(events) and events[index] <= earliest:
            index += 1
    return requests
