"""The adaptive mode's rules: learn the pace of arrivals, and wait by it.

Opt-in (``Policy(mode="adaptive")``); the default mode is the contract's
backoff and does not read this module. Only the wait ``w`` of the
schedule formula changes: the stop rules, the deadline clamps and the
server hint's floor apply exactly as in the default mode.

Theory of operation. Every poll's snapshot is taken when it is sent, so a
message first seen in the answer to a poll sent at ``s`` arrived in
``(s', s]``, where ``s'`` is the send time of the previous readable poll.
:func:`learn_pace` places the new messages evenly in that window (the
expected order statistics of uniform arrivals) and keeps the last few
gaps between successive estimated arrivals. :func:`adaptive_wait` then
reads the silence ``x`` since the latest estimated arrival against them:

1. *dead zone*: before the shortest gap seen (less one
   ``target_latency``, for the estimates' error) nothing is expected, so
   the next poll goes out when the earliest next arrival is due;
2. *active*: while the silence is within the usual gaps (up to
   ``STRETCH`` times their ``QUANTILE``, and at least two
   ``target_latency``), poll every ``target_latency``, so a message
   waits about that long at most;
3. *quiet*: a longer silence is a pause, a tail or a stall: wait in
   proportion to it (``QUIET_RATIO * x``), so a silence costs a few
   requests per doubling of its length, and the message that ends it
   waits a fixed fraction of it.

Before the first message there is no gap: the silence since t = 0 is
read against ``PRIOR_ACTIVE`` seconds of active polling. Every wait lies
in ``[target_latency, max_delay]``. A failed poll teaches nothing; failures
in a row stretch the wait linearly (:func:`error_wait`), and a server's
hint is a floor, as in every mode. Every rule here is pure: no
clock, no randomness, no I/O. The constants were tuned on the benchmark
suite (``python -m bench``), which also reports them on hold-out seeds.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = [
    "MEMORY",
    "PRIOR_ACTIVE",
    "QUIET_RATIO",
    "STRETCH",
    "Pace",
    "adaptive_wait",
    "error_wait",
    "learn_pace",
]

#: How many recent gaps the pace keeps (older ones are forgotten).
MEMORY: Final = 16
#: Seconds of active polling before the first message (no gap known yet).
PRIOR_ACTIVE: Final = 10.0
#: In a silence longer than every gap seen, wait this fraction of it.
QUIET_RATIO: Final = 0.3
#: A silence is a pause once it is this many times the longest gap seen
#: (and at least ``PRIOR_ACTIVE``).
STRETCH: Final = 1.5
#: Which gap, as a quantile of those seen, ends the active zone (1: longest).
QUANTILE: Final = 0.75
#: Gaps needed before the dead zone is trusted.
MIN_GAPS_FOR_DEAD_ZONE: Final = 3


@attrs.frozen
class Pace:
    """What the adaptive mode has learned of the arrivals so far."""

    #: estimated arrival time of the latest new message, None before one
    last_arrival: float | None = None
    #: the most recent gaps between estimated arrivals, oldest first
    gaps: tuple[float, ...] = ()


def learn_pace(
    pace: Pace, since: float, until: float, count: int, memory: int = MEMORY
) -> Pace:
    """The pace after ``count`` new messages that arrived in ``(since, until]``.

    Args:
        pace: what was known before this answer.
        since: send time of the previous readable poll (0 for the first).
        until: send time of the poll whose answer brought the messages.
        count: how many new messages it brought (0 leaves ``pace`` as is).
        memory: how many gaps to keep.

    Raises:
        ValueError: ``until < since``, ``count < 0`` or ``memory < 1``.
    """
    if until < since or count < 0 or memory < 1:
        raise ValueError(
            f"learn_pace needs since <= until, count >= 0, memory >= 1; "
            f"got {since!r}, {until!r}, {count!r}, {memory!r}"
        )
    if count == 0:
        return pace
    step = (until - since) / (count + 1)
    arrivals = [since + step * k for k in range(1, count + 1)]
    gaps = list(pace.gaps)
    previous = pace.last_arrival
    for arrival in arrivals:
        if previous is not None:
            gaps.append(max(0.0, arrival - previous))
        previous = arrival
    return Pace(last_arrival=arrivals[-1], gaps=tuple(gaps[-memory:]))


def adaptive_wait(
    pace: Pace,
    now: float,
    target_latency: float,
    max_delay: float,
) -> float:
    """The wait ``w`` after a poll that ended at ``now`` (before clamps).

    Args:
        pace: what is known of the arrivals.
        now: when the poll ended (seconds since t = 0).
        target_latency: the wait while a message is expected.
        max_delay: the cap on any computed wait.

    Returns:
        A wait in ``[min(target_latency, max_delay), max_delay]``.
    """
    floor = min(target_latency, max_delay)
    if pace.last_arrival is None:
        silence, longest = now, PRIOR_ACTIVE
        dead_zone = 0.0
    else:
        silence = max(0.0, now - pace.last_arrival)
        longest = PRIOR_ACTIVE
        if pace.gaps:
            longest = max(2 * target_latency, STRETCH * _quantile(pace.gaps, QUANTILE))
        dead_zone = 0.0
        if len(pace.gaps) >= MIN_GAPS_FOR_DEAD_ZONE:
            # Each estimated arrival is off by up to half a poll interval.
            dead_zone = min(pace.gaps) - target_latency
    if silence < dead_zone:
        wait = max(floor, dead_zone - silence)
    elif silence <= longest:
        wait = floor
    else:
        wait = max(floor, QUIET_RATIO * silence)
    return min(max_delay, wait)


def error_wait(target_latency: float, consecutive_errors: int) -> float:
    """The least wait after ``consecutive_errors`` failed polls in a row.

    ``target_latency * (1 + n)``: linear, so that five failures in a row
    (the default ``max_consecutive_errors``) span 14 targets, an outage of
    a few seconds is ridden out, and the answer after it is seen soon.

    Raises:
        ValueError: ``consecutive_errors`` is negative.
    """
    if consecutive_errors < 0:
        raise ValueError(f"consecutive_errors must be >= 0, got {consecutive_errors}")
    return target_latency * (1 + consecutive_errors)


def _quantile(values: tuple[float, ...], q: float) -> float:
    """The q-quantile (0-1) of ``values``, linear between closest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
