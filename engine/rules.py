"""The schedule and the stop rules, as pure functions.

Nothing here reads a clock, sleeps, draws from a global random generator or
does I/O: every input is an argument, so each rule can be checked on paper
against the behaviour contract and property-tested with arbitrary values.
"""

from __future__ import annotations

import math
import random
from collections.abc import Container

import attrs

from .answers import Answer, Failed, Fatal, Message, Readable, canonical
from .outcomes import EndReason, Verdict
from .policy import Policy
from .profile import StatusKind

__all__ = [
    "Progress",
    "Schedule",
    "backoff_wait",
    "clamp_hint",
    "clock_slack",
    "detect_progress",
    "jittered_wait",
    "judge_poll",
    "next_send_time",
    "rounding_slack",
]


def backoff_wait(policy: Policy, no_progress_polls: int) -> float:
    """The un-jittered wait after ``no_progress_polls`` polls without progress.

    ``min(max_delay, initial_delay * multiplier ** n)``, computed without
    ever building a huge power: once the power would pass the cap, the cap
    is the answer (a session that polls for days still costs O(1) a poll).
    """
    if no_progress_polls < 0:
        raise ValueError(f"no_progress_polls must be >= 0, got {no_progress_polls}")
    initial, cap, growth = policy.initial_delay, policy.max_delay, policy.multiplier
    if initial == 0 or growth == 1 or no_progress_polls == 0:
        return min(cap, initial)
    # Compare in the log domain first; the small margin keeps the exact
    # product below for every n where it could still be under the cap.
    # (Logs of each bound, not of their ratio, which can overflow to inf.)
    log_growth = no_progress_polls * math.log(growth)
    if log_growth > math.log(cap) - math.log(initial) + 1e-9:
        return cap
    try:
        return min(cap, initial * growth**no_progress_polls)
    except OverflowError:  # a tiny initial_delay times a power past float range
        return min(cap, math.exp(math.log(initial) + log_growth))


def jittered_wait(policy: Policy, wait: float, rng: random.Random) -> float:
    """Apply the policy's jitter to a wait, drawing from ``rng`` (seeded).

    "full" draws from [0, w], "equal" from [w/2, w], "floored" from
    [min(initial_delay, w), w]; "none" returns w and draws nothing. In the
    adaptive mode no draw goes below ``min(target_latency, w)``: jitter
    spreads the waits above the target, never under it.
    """
    if policy.jitter == "none":
        return wait
    if policy.jitter == "full":
        low = 0.0
    elif policy.jitter == "equal":
        low = wait / 2
    else:
        low = min(policy.initial_delay, wait)
    if policy.mode == "adaptive":
        low = max(low, min(policy.target_latency, wait))
    return rng.uniform(low, wait)


def clamp_hint(policy: Policy, hint: float | None) -> float:
    """A server hint as the schedule uses it: clamped, and 0 when absent."""
    if hint is None:
        return 0.0
    return min(hint, policy.max_retry_after)


@attrs.frozen
class Schedule:
    """When the next poll goes out, and which term of the formula decided it."""

    #: send time of the next poll (seconds since t = 0)
    at: float
    #: the backoff wait, after jitter
    wait: float
    #: the clamped server hint (0 without one)
    hint: float
    #: "backoff" (the wait w; "adaptive" in that mode), "hint",
    #: "stall deadline" or "timeout"
    why: str


def next_send_time(
    policy: Policy,
    ended_at: float,
    wait: float,
    hint: float,
    last_progress: float,
) -> Schedule | None:
    """Send time of the next poll, or None when the hint runs past the timeout.

    ``max(min(t + w, last_progress + stall_after, timeout), t + h)``: never
    sleep past a deadline (one last check lands exactly on it) and never
    poll before a server hint has run out.
    """
    # A hint that ends on the timeout, give or take a rounding (0.3 + 0.3 is
    # 0.6000000000000001), sends the last check on it.
    if ended_at + hint > policy.timeout + rounding_slack(policy.timeout):
        return None
    why = "adaptive" if policy.mode == "adaptive" else "backoff"
    at = ended_at + wait
    if policy.stall_after is not None and last_progress + policy.stall_after < at:
        at, why = last_progress + policy.stall_after, "stall deadline"
    if policy.timeout < at:
        at, why = policy.timeout, "timeout"
    if ended_at + hint > at:
        at, why = min(ended_at + hint, policy.timeout), "hint"
    return Schedule(at=at, wait=wait, hint=hint, why=why)


@attrs.frozen
class Progress:
    """What one answer brought."""

    #: messages not seen before, in the API's order, each once
    new_messages: tuple[Message, ...]
    #: whether the answer counts as progress
    has_progress: bool
    #: the progress value to remember (the old one when nothing was found)
    progress_value: object
    #: whether a progress value has been seen in this session
    progress_value_seen: bool


def detect_progress(
    answer: Answer,
    seen: Container[tuple[str, str]],
    last_value: object,
    last_value_seen: bool,
) -> Progress:
    """New messages and progress of one answer (contract: Progress).

    A failed or fatal answer has no progress and delivers nothing. A
    readable one has progress when it holds a message whose key is not in
    ``seen``, or when its progress value differs from the last one found
    (the first value found only sets the starting point; None is no value).
    """
    if not isinstance(answer, Readable):
        return Progress((), False, last_value, last_value_seen)
    fresh: list[Message] = []
    keys_now: set[tuple[str, str]] = set()
    for message in answer.messages:
        if message.key in seen or message.key in keys_now:
            continue
        keys_now.add(message.key)
        fresh.append(message)
    moved = False
    value, value_seen = last_value, last_value_seen
    if answer.progress_value is not None:
        if value_seen and canonical_or_repr(answer.progress_value) != canonical_or_repr(
            last_value
        ):
            moved = True
        value, value_seen = answer.progress_value, True
    return Progress(tuple(fresh), bool(fresh) or moved, value, value_seen)


def canonical_or_repr(value: object) -> str:
    """Compare JSON values exactly (``1`` and ``1.0`` differ, as ids do)."""
    try:
        return canonical(value)
    except (TypeError, ValueError):
        return repr(value)


def rounding_slack(moment: float) -> float:
    """How far below a deadline a time may read and still count as on it.

    The schedule aims a poll exactly at a deadline, but a time computed on
    the way (``s + (timeout - s)``) can land a rounding error short. Read as
    "not yet", that would schedule another poll at the same instant, forever
    with an instant backend. Times summed from decimals drift the same way,
    a unit in the last place or so per sum: 675 polls 0.1 s apart read
    115.99999999999x for 116. The slack, 1e-12 of the moment (at least
    1e-12 s), holds any such drift, and no real difference: a time 1e-10
    s before a timeout of 1 s is before it.
    """
    return 1e-12 * max(1.0, abs(moment))


def clock_slack(moment: float) -> float:
    """How early a runner's wake-up may read and still be the due instant.

    A session's time is a clock reading less the session's origin; with a
    monotonic clock days into its run that subtraction rounds to about 1e-10
    s, whatever the moment. A wake-up that early is taken as on time.
    """
    return 1e-9 * max(1.0, abs(moment))


def _reached(moment: float, deadline: float) -> bool:
    # The stall deadline is compared as the schedule computed it
    # (last_progress + stall_after), never as a difference, which rounds
    # differently: 28.4 - 13 is 15.399999999999999, not 15.4.
    return moment >= deadline - rounding_slack(deadline)


def judge_poll(
    policy: Policy,
    answer: Answer,
    ended_at: float,
    consecutive_errors: int,
    polls_sent: int,
    last_progress: float,
) -> Verdict | None:
    """The contract's stop rules, in order; None when the session goes on.

    Args:
        answer: the poll's classified answer.
        ended_at: when the poll ended (answered or failed), t.
        consecutive_errors: failed polls in a row, this one included.
        polls_sent: polls sent so far, this one included.
        last_progress: end time of the last poll with progress (0 before).
    """
    if isinstance(answer, Readable):
        if answer.status_kind is StatusKind.DONE:
            return Verdict(EndReason.COMPLETED, f"status {answer.status!r}")
        if answer.status_kind is StatusKind.FAILED:
            return Verdict(EndReason.SERVER_FAILED, f"status {answer.status!r}")
    if isinstance(answer, Fatal):
        return Verdict(EndReason.FATAL_ANSWER, answer.reason)
    if (
        isinstance(answer, Failed)
        and consecutive_errors >= policy.max_consecutive_errors
    ):
        return Verdict(
            EndReason.TOO_MANY_ERRORS,
            f"{consecutive_errors} failed polls in a row, last: {answer.reason}",
        )
    if ended_at >= policy.timeout - rounding_slack(policy.timeout):
        return Verdict(EndReason.DEADLINE, f"timeout of {policy.timeout:g}s reached")
    if policy.max_polls is not None and polls_sent >= policy.max_polls:
        return Verdict(EndReason.POLL_BUDGET, f"{polls_sent} polls sent (max_polls)")
    if policy.stall_after is not None and _reached(
        ended_at, last_progress + policy.stall_after
    ):
        return Verdict(
            EndReason.STALLED,
            f"no progress for {ended_at - last_progress:g}s "
            f"(stall_after {policy.stall_after:g}s)",
        )
    return None
