"""The adaptive mode's rules: learn the pace of arrivals, and wait by it.

Opt-in (``Policy(mode="adaptive")``); the default mode is the contract's
backoff and does not read this module. Only the wait ``w`` of the
schedule formula changes: the stop rules, the deadline clamps and the
server hint's floor apply exactly as in the default mode.

Theory of operation. An answer shows the server as it was at some moment
between the poll's send time and the answer's arrival, so a message first
seen in an answer that arrived at ``a`` arrived in ``(s', a]``, where
``s'`` is the send time of the previous readable poll.
:func:`learn_pace` keeps, for the latest arrival, that window, and for
the last few gaps between successive arrivals the shortest and the
longest each could have been (messages seen together may have arrived
together: their shortest gap is 0). Nothing is guessed inside a window,
so a learned bound is never wrong about the past. :func:`adaptive_wait`
then places the next poll:

1. *dead zone*: once a few gaps are known, the next arrival is expected
   no sooner than ``DEAD_ZONE_SHARE`` of the shortest gap after the
   latest arrival (gaps and arrival read at the middle of their bounds,
   less ``DEAD_ZONE_MARGIN`` targets for that reading's error); the first
   poll goes out one ``target_latency`` after that, so a message that
   keeps to the pace still waits about ``target_latency`` at most;
2. *active*: while the silence (as far as readable answers have seen it)
   is within the usual gaps (``STRETCH`` times the longest of them, and at
   least ``ACTIVE_FLOOR``; ``ACTIVE_PRIOR`` until two gaps are known), poll
   every ``target_latency``. A gap over ``PAUSE_FACTOR`` times the median
   gap (or the target, if larger) is a pause between bursts, not the pace
   within one (:func:`usual_gap`), so one long pause does not keep every
   later pause polled as closely as a burst;
3. *quiet*: a longer silence is a pause, a tail or a stall: wait in
   proportion to it (``QUIET_RATIO`` times it, at most ``QUIET_CAP``
   targets), so a silence costs fewer requests the longer it lasts, and the
   message that ends it waits a bounded multiple of the target.

Before the first message there is no gap: the silence since t = 0 is
read against ``ACTIVE_PRIOR``. A failed poll teaches nothing and does not
lengthen the silence seen; failures in a row stretch the wait linearly
(:func:`error_wait`), and a server's hint is a floor, as in every mode.
Every wait lies in ``[target_latency, max_delay]``. Every rule here is
pure: no clock, no randomness, no I/O. The constants were tuned on the
benchmark suite (``python -m bench``), which also judges them on hold-out
seeds.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Final

import attrs

__all__ = [
    "ACTIVE_FLOOR",
    "ACTIVE_PRIOR",
    "DEAD_ZONE_MARGIN",
    "DEAD_ZONE_SHARE",
    "ERROR_BASE",
    "ERROR_STEP",
    "MEMORY",
    "PAUSE_FACTOR",
    "QUIET_CAP",
    "QUIET_RATIO",
    "STRETCH",
    "Pace",
    "adaptive_wait",
    "error_wait",
    "learn_pace",
    "usual_gap",
]

#: How many recent gaps the pace keeps (older ones are forgotten).
MEMORY: Final = 16
#: Gaps needed before the silence is judged by them.
MIN_GAPS_FOR_PACE: Final = 2
#: Seconds of silence polled at the target until that many gaps are known.
ACTIVE_PRIOR: Final = 10.0
#: Once they are, a silence is a pause after at least this many seconds...
ACTIVE_FLOOR: Final = 3.0
#: ... and after this many times the longest usual gap seen (each gap read
#: at the longest it could have been).
STRETCH: Final = 1.5
#: Gaps needed before any is judged a pause.
MIN_GAPS_FOR_PAUSES: Final = 3
#: A gap longer than this many times the median gap (or the target, if
#: larger) is a pause between bursts, not a usual gap.
PAUSE_FACTOR: Final = 3.0
#: In a pause, wait this fraction of the silence seen so far...
QUIET_RATIO: Final = 0.3
#: ... but at most this many targets (the message ending it stays fresh).
QUIET_CAP: Final = 2.0
#: Gaps needed before the dead zone is trusted.
MIN_GAPS_FOR_DEAD_ZONE: Final = 3
#: Share of the shortest gap seen that is assumed to hold for the next one.
DEAD_ZONE_SHARE: Final = 0.8
#: ... less this many targets (the estimates' error).
DEAD_ZONE_MARGIN: Final = 0.5
#: Seconds a failed poll waits at least, whatever the target (outages last
#: seconds)...
ERROR_BASE: Final = 1.0
#: ... and each failure in a row adds this share of it (or of the target).
ERROR_STEP: Final = 0.5


@attrs.frozen
class Pace:
    """What the adaptive mode has learned of the arrivals so far."""

    #: earliest the latest new message can have arrived (None before one)
    last_earliest: float | None = None
    #: latest it can have arrived: when the answer that showed it came
    last_latest: float | None = None
    #: when the latest readable answer came: how far the silence is seen
    seen_until: float = 0.0
    #: the shortest each recent gap between arrivals can have been, oldest first
    shortest_gaps: tuple[float, ...] = ()
    #: the longest each recent gap can have been, oldest first
    longest_gaps: tuple[float, ...] = ()


def learn_pace(
    pace: Pace, since: float, until: float, count: int, memory: int = MEMORY
) -> Pace:
    """The pace after a readable answer that came at ``until`` with ``count`` messages.

    An answer shows the server as it was at some moment between the poll's
    send time and ``until``; a message missing from the previous readable
    answer arrived after that poll was sent. So the new messages arrived
    in ``(since, until]``, whatever the server's own delay.

    Args:
        pace: what was known before this answer.
        since: send time of the previous readable poll (0 for the first).
        until: when this answer arrived.
        count: how many new messages it brought (0: the silence goes on).
        memory: how many gaps to keep.

    Raises:
        ValueError: ``until < since``, ``count < 0`` or ``memory < 1``.
    """
    if until < since or count < 0 or memory < 1:
        raise ValueError(
            f"learn_pace needs since <= until, count >= 0, memory >= 1; "
            f"got {since!r}, {until!r}, {count!r}, {memory!r}"
        )
    seen_until = max(pace.seen_until, until)
    if count == 0:
        return attrs.evolve(pace, seen_until=seen_until)
    shortest = list(pace.shortest_gaps)
    longest = list(pace.longest_gaps)
    if pace.last_earliest is not None and pace.last_latest is not None:
        shortest.append(max(0.0, since - pace.last_latest))
        longest.append(until - pace.last_earliest)
    # Messages seen in one answer may have arrived at one instant or spread
    # over the whole window.
    together = min(count - 1, memory)
    shortest += [0.0] * together
    longest += [until - since] * together
    return Pace(
        last_earliest=since,
        last_latest=until,
        seen_until=seen_until,
        shortest_gaps=tuple(shortest[-memory:]),
        longest_gaps=tuple(longest[-memory:]),
    )


def usual_gap(longest_gaps: Sequence[float], target_latency: float) -> float:
    """The longest of the gaps that are not pauses between bursts.

    A gap over ``PAUSE_FACTOR`` times the median gap (or the target, if
    larger) is a pause; with fewer than ``MIN_GAPS_FOR_PAUSES`` gaps none is.
    At least half the gaps are within the bound, so the result lies between
    the median gap and the longest one.

    Raises:
        ValueError: no gap is given.
    """
    if not longest_gaps:
        raise ValueError("usual_gap needs at least one gap")
    if len(longest_gaps) < MIN_GAPS_FOR_PAUSES:
        return max(longest_gaps)
    bound = PAUSE_FACTOR * max(statistics.median(longest_gaps), target_latency)
    return max(gap for gap in longest_gaps if gap <= bound)


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
    wait, silence, active = floor, pace.seen_until, ACTIVE_PRIOR
    if pace.last_earliest is not None and pace.last_latest is not None:
        silence = max(0.0, pace.seen_until - pace.last_latest)
        if len(pace.longest_gaps) >= MIN_GAPS_FOR_PACE:
            usual = usual_gap(pace.longest_gaps, target_latency)
            active = max(ACTIVE_FLOOR, STRETCH * usual)
        if len(pace.shortest_gaps) >= MIN_GAPS_FOR_DEAD_ZONE:
            # Midpoints: each bound is off by up to a poll interval.
            shortest_gap = min(
                (lo + hi) / 2
                for lo, hi in zip(pace.shortest_gaps, pace.longest_gaps, strict=True)
            )
            latest = (pace.last_earliest + pace.last_latest) / 2
            earliest_next = (
                latest
                + DEAD_ZONE_SHARE * shortest_gap
                - DEAD_ZONE_MARGIN * target_latency
            )
            wait = max(floor, earliest_next + target_latency - now)
    if silence > active:
        quiet = min(QUIET_RATIO * silence, QUIET_CAP * target_latency)
        wait = max(wait, quiet)
    return min(max_delay, max(floor, wait))


def error_wait(target_latency: float, consecutive_errors: int) -> float:
    """The least wait after ``consecutive_errors`` failed polls in a row.

    ``max(target_latency, ERROR_BASE) * (1 + ERROR_STEP * n)``: linear, so
    that five failures in a row (the default ``max_consecutive_errors``)
    span at least 9 s, an outage of a few seconds is ridden out, and the
    answer after it is seen soon. An outage lasts seconds whatever the
    target, hence the base of at least ``ERROR_BASE`` seconds.

    Raises:
        ValueError: ``consecutive_errors`` is negative.
    """
    if consecutive_errors < 0:
        raise ValueError(f"consecutive_errors must be >= 0, got {consecutive_errors}")
    base = max(target_latency, ERROR_BASE)
    return base * (1 + ERROR_STEP * consecutive_errors)
