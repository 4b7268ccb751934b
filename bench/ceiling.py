"""``python -m bench.ceiling``: how much a family of pollers can save.

The benchmark issue aims the adaptive mode at 30% fewer requests than
fixed polling at the same p95 on the llm, long-tail and stall workloads.
This module measures how far that aim is within reach of a family of
pollers that is given every advantage: each is tuned with hindsight, per
workload kind, on the very seeds it is judged on.

A *silence schedule* picks each wait from two facts: whether a message has
come yet, and how long the silence since the last progress has lasted.
When the gaps between arrivals are drawn independently of each other, the
silence so far is what says most about when the next one comes. A poller
also knows more (when it sent each poll, the time since the start, how
many messages came), and the suite's timelines have more structure than
independent gaps (bursts), which the adaptive mode learns from. So the
figure printed here is the best that a random search found in this
family: evidence of how much room there is, not a proof about every
poller.

The schedules searched have three levels: a wait before the first
message; then ``active`` (the target latency) until ``quiet_after``
seconds of silence, ``quiet`` until ``long_after``, and ``long`` after.
They are run by a small simulator of their own (:func:`simulate`) that
follows the contract's schedule and stop rules on the bench's fake backend
(without faults); ``tests/test_bench_ceiling.py`` checks that for fixed
intervals it sends exactly the requests the engine sends, and sees the
same messages at the same instants.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import sys
from collections.abc import Sequence
from typing import Final

import attrs

from pollwise.engine.policy import Policy
from pollwise.engine.rules import rounding_slack

from .metrics import Row, Run, aggregate, measure
from .strategies import ADAPTIVE, FRONTIER_INTERVALS, frontier_name, run_pollwise
from .suite import SAVING_KINDS, KindResult, frontier_requests
from .workloads import KINDS, MAX_SEEDS, SEEDS_PER_KIND, Workload, workloads

__all__ = [
    "Ceiling",
    "Search",
    "SilenceSchedule",
    "draw_schedule",
    "fixed_frontier",
    "main",
    "saving_at_p95",
    "search",
    "simulate",
]

_DEFAULTS: Final = Policy()
#: The contract's defaults that end a session, as the suite runs them.
STALL_AFTER: Final = _DEFAULTS.stall_after or math.inf
TIMEOUT: Final = _DEFAULTS.timeout
REQUEST_TIMEOUT: Final = _DEFAULTS.request_timeout
#: No wait is longer than the contract's default max_delay.
MAX_WAIT: Final = _DEFAULTS.max_delay
#: Active waits the search accepts: the fixed intervals' range, so that the
#: schedules' p95 can be set against the frontier rather than beyond it.
TARGETS: Final = (min(FRONTIER_INTERVALS), 4.0)
_TIMEOUT_REACHED: Final = TIMEOUT - rounding_slack(TIMEOUT)

#: What the search draws from: waits as multiples of the target latency,
#: silences in seconds.
_FIRST_SHARES: Final = (1.0, 1.25, 1.5, 2.0)
_QUIET_AFTER: Final = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
_QUIET_SHARES: Final = (1.0, 1.25, 1.5, 2.0, 3.0)
_LONG_LATER: Final = (1.0, 2.0, 4.0, 6.0, 8.0, 12.0)
_LONG_SHARES: Final = (1.0, 1.5, 2.0, 3.0, 4.0, 8.0)


def _positive(
    instance: object, attribute: attrs.Attribute[float], value: float
) -> None:
    if not (0 < value < math.inf):
        raise ValueError(
            f"{attribute.name} must be a positive finite wait, got {value!r}"
        )


def _bound(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0 (inf: never), got {value!r}")


@attrs.frozen
class SilenceSchedule:
    """Waits chosen from the silence alone (seconds).

    Raises:
        ValueError: a wait that is not a positive finite number, or a
            silence bound that is negative or NaN.
    """

    #: wait while no message has come yet
    first: float = attrs.field(validator=_positive)
    #: wait while the silence is under ``quiet_after``
    active: float = attrs.field(validator=_positive)
    quiet_after: float = attrs.field(validator=_bound)
    #: wait while the silence is under ``long_after``
    quiet: float = attrs.field(validator=_positive)
    long_after: float = attrs.field(validator=_bound)
    #: wait after that
    long: float = attrs.field(validator=_positive)

    @classmethod
    def fixed(cls, interval: float) -> SilenceSchedule:
        """Polling every ``interval`` seconds, whatever happens."""
        return cls(interval, interval, math.inf, interval, math.inf, interval)

    def wait(self, silence: float, any_message: bool) -> float:
        """The wait after a poll, given the silence it ended in."""
        if not any_message:
            return self.first
        if silence < self.quiet_after:
            return self.active
        if silence < self.long_after:
            return self.quiet
        return self.long

    def describe(self) -> str:
        return (
            f"first {self.first:g}s; {self.active:g}s until {self.quiet_after:g}s "
            f"of silence, {self.quiet:g}s until {self.long_after:g}s, then "
            f"{self.long:g}s"
        )


def simulate(schedule: SilenceSchedule, workload: Workload) -> Run:
    """Poll ``workload``'s backend on ``schedule``, by the contract's rules.

    The first poll is sent at t = ``schedule.first``; each later wait starts
    when the previous poll ended, and is cut short at the stall and timeout
    deadlines (the first poll too), as the engine's ``next_send_time`` does,
    and a deadline counts as reached within :func:`rounding_slack`, as in
    the engine's stop rules. A poll sent at t sees every message that
    arrived by t and is answered ``workload.latency`` later, unless its
    request timeout (``min(request_timeout, timeout - t)``) is shorter: then
    it fails when that runs out, as the bench's backend makes it fail for
    the engine. Without faults only a request slower than the request
    timeout fails, and then every one does, each after 10 s: the stall rule
    ends the session before the five failures in a row that would fail it.

    Raises:
        ValueError: the workload has faults (the simulator models none).
    """
    if workload.faults:
        raise ValueError(f"{workload.name} has faults; simulate models none")
    arrivals, seen, requests = workload.arrivals, 0, 0
    first_seen: dict[str, float] = {}
    last_progress = 0.0
    send = min(schedule.first, STALL_AFTER, TIMEOUT)
    while True:
        requests += 1
        request_timeout = max(0.0, min(REQUEST_TIMEOUT, TIMEOUT - send))
        readable = workload.latency <= request_timeout
        ended = send + (workload.latency if readable else request_timeout)
        count = bisect.bisect_right(arrivals, send) if readable else seen
        if count > seen:
            for index in range(seen, count):
                first_seen[f"m{index}"] = ended
            seen, last_progress = count, ended
        complete = workload.complete_at
        if readable and workload.has_status and complete is not None:
            done = send >= complete
        else:
            done = False
        stall_deadline = last_progress + STALL_AFTER
        if done:
            outcome = "done"
        elif ended >= _TIMEOUT_REACHED:
            outcome = "timed_out"
        elif ended >= stall_deadline - rounding_slack(stall_deadline):
            outcome = "stalled"
        else:
            # next_send_time's formula without a hint, inlined: calling it
            # doubled the search's time.
            wait = schedule.wait(ended - last_progress, seen > 0)
            send = min(ended + wait, stall_deadline, TIMEOUT)
            continue
        return measure(
            schedule.describe(), workload, requests, first_seen, outcome, ended
        )


def fixed_frontier(kind: str, timelines: Sequence[Workload]) -> KindResult:
    """The fixed intervals of the suite's frontier, run by :func:`simulate`."""
    rows = tuple(
        aggregate(
            frontier_name(interval),
            "frontier",
            kind,
            [simulate(SilenceSchedule.fixed(interval), w) for w in timelines],
        )
        for interval in FRONTIER_INTERVALS
    )
    return KindResult(kind, range(0), rows, {}, math.nan)


def saving_at_p95(frontier: KindResult, row: Row) -> float:
    """Share of requests ``row`` saves against ``frontier`` at its own p95."""
    return 1 - row.requests / frontier_requests(frontier, row.p95)


def _span(frontier: KindResult) -> tuple[float, float]:
    p95s = [row.p95 for row in frontier.rows if math.isfinite(row.p95)]
    return min(p95s), max(p95s)


def _change(saving: float) -> str:
    if saving >= 0:
        return f"saves {100 * saving:.0f}%"
    return f"needs {-100 * saving:.0f}% more"


def draw_schedule(rng: random.Random, target: float) -> SilenceSchedule:
    """One schedule from the search's grid: active wait ``target``, the
    first wait at least that, every wait at most :data:`MAX_WAIT`."""
    quiet_after = rng.choice(_QUIET_AFTER)
    quiet = min(MAX_WAIT, target * rng.choice(_QUIET_SHARES))
    return SilenceSchedule(
        first=min(MAX_WAIT, target * rng.choice(_FIRST_SHARES)),
        active=target,
        quiet_after=quiet_after,
        quiet=quiet,
        long_after=quiet_after + rng.choice(_LONG_LATER),
        long=min(MAX_WAIT, quiet * rng.choice(_LONG_SHARES)),
    )


@attrs.frozen
class Ceiling:
    """The best schedule found for one kind, and the adaptive mode beside it."""

    kind: str
    schedule: SilenceSchedule
    #: the schedule's figures over every seed
    row: Row
    #: share of requests it saves against fixed polling at its own p95
    saving: float
    #: the adaptive mode's figures and saving on the same seeds
    adaptive: Row
    adaptive_saving: float
    #: the least and the greatest p95 of the fixed intervals: a p95 outside
    #: is set against the nearer end, not against a fixed interval with it
    frontier_span: tuple[float, float]

    def _figures(self, row: Row) -> str:
        low, high = self.frontier_span
        beyond = "" if low <= row.p95 <= high else ", beyond the fixed intervals"
        return f"{row.requests:.1f} requests, p95 {row.p95:.2f}s{beyond}"

    def lines(self) -> list[str]:
        pad = " " * len(self.kind)
        return [
            f"{self.kind}: best schedule for it {_change(self.saving)} "
            f"({self._figures(self.row)}): {self.schedule.describe()}",
            f"{pad}  pollwise adaptive {_change(self.adaptive_saving)} "
            f"({self._figures(self.adaptive)})",
        ]


@attrs.frozen
class Search:
    """What a search found: the best schedule per kind, and for all at once."""

    per_kind: tuple[Ceiling, ...]
    #: every schedule drawn, in order, with its saving on each kind (in the
    #: order of ``per_kind``)
    draws: tuple[tuple[SilenceSchedule, tuple[float, ...]], ...]

    @property
    def shared(self) -> SilenceSchedule:
        """The first schedule drawn whose worst saving is the highest."""
        return self._shared_draw()[0]

    @property
    def shared_savings(self) -> tuple[float, ...]:
        """That schedule's saving on each kind."""
        return self._shared_draw()[1]

    def _shared_draw(self) -> tuple[SilenceSchedule, tuple[float, ...]]:
        return max(self.draws, key=lambda draw: min(draw[1]))

    def lines(self) -> list[str]:
        found = [line for ceiling in self.per_kind for line in ceiling.lines()]
        savings = ", ".join(
            f"{ceiling.kind} {_change(saving)}"
            for ceiling, saving in zip(self.per_kind, self.shared_savings, strict=True)
        )
        found.append(f"one schedule for all of them at best: {savings}")
        found.append(f"  ({self.shared.describe()})")
        return found


def search(
    kinds: Sequence[str],
    seeds: range,
    draws: int,
    target: float = 1.0,
    search_seed: int = 0,
) -> Search:
    """Draw ``draws`` schedules with active wait ``target``; run each on every kind.

    Raises:
        ValueError: no kind, ``draws < 1``, ``target`` outside
            :data:`TARGETS`, or a kind with faults.
    """
    low, high = TARGETS
    if not kinds or draws < 1 or not low <= target <= high:
        raise ValueError(
            f"need kinds, draws >= 1 and a target in [{low:g}, {high:g}] s, "
            f"got {kinds!r}, {draws}, {target!r}"
        )
    timelines = {kind: workloads(kind, seeds) for kind in kinds}
    frontiers = {kind: fixed_frontier(kind, timelines[kind]) for kind in kinds}
    rng = random.Random(search_seed)
    best: dict[str, tuple[float, SilenceSchedule, Row]] = {}
    drawn = []
    for _ in range(draws):
        schedule = draw_schedule(rng, target)
        savings = []
        for kind in kinds:
            runs = [simulate(schedule, w) for w in timelines[kind]]
            row = aggregate("schedule", "ceiling", kind, runs)
            saving = saving_at_p95(frontiers[kind], row)
            savings.append(saving)
            if kind not in best or saving > best[kind][0]:
                best[kind] = (saving, schedule, row)
        drawn.append((schedule, tuple(savings)))
    policy = Policy(mode="adaptive", target_latency=target)
    per_kind = []
    for kind in kinds:
        adaptive = aggregate(
            ADAPTIVE,
            "pollwise",
            kind,
            [run_pollwise(ADAPTIVE, policy, w) for w in timelines[kind]],
        )
        saving, schedule, row = best[kind]
        per_kind.append(
            Ceiling(
                kind,
                schedule,
                row,
                saving,
                adaptive,
                saving_at_p95(frontiers[kind], adaptive),
                _span(frontiers[kind]),
            )
        )
    return Search(tuple(per_kind), tuple(drawn))


_DESCRIPTION = """\
How much can a poller that waits by the silence alone save against fixed
polling at the same p95? Searches random three-level silence schedules,
tuned with hindsight on the very seeds they are judged on, per workload kind
and for all the kinds at once, and prints the best savings beside the
adaptive mode's (see the README's Benchmarks section)."""


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ceiling", description=_DESCRIPTION
    )
    faultless = [kind for kind in KINDS if kind != "flaky"]
    parser.add_argument(
        "--kinds",
        nargs="+",
        action="extend",
        choices=faultless,
        metavar="KIND",
        help=f"workload kinds, any of {', '.join(faultless)} "
        f"(default: {' '.join(SAVING_KINDS)})",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=SEEDS_PER_KIND,
        help=f"seeds per kind, 1-{MAX_SEEDS} (default: %(default)s)",
    )
    parser.add_argument(
        "--draws",
        type=int,
        default=1500,
        help="schedules drawn at random (default: %(default)s)",
    )
    parser.add_argument(
        "--target",
        type=float,
        default=1.0,
        help="the active wait, as the adaptive mode's target_latency, "
        f"{TARGETS[0]:g}-{TARGETS[1]:g} s (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    low, high = TARGETS
    if not 1 <= args.seeds <= MAX_SEEDS:
        parser.error(f"--seeds must be 1-{MAX_SEEDS}, got {args.seeds}")
    if args.draws < 1:
        parser.error(f"--draws must be at least 1, got {args.draws}")
    if not low <= args.target <= high:
        parser.error(
            f"--target must be {low:g}-{high:g} s (the fixed intervals' range), "
            f"got {args.target:g}"
        )
    args.kinds = list(dict.fromkeys(args.kinds or SAVING_KINDS))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    schedules = "schedule" if args.draws == 1 else "schedules"
    print(
        f"The best of {args.draws} silence {schedules} drawn, tuned on the "
        f"{args.seeds} seeds they are judged on, active wait {args.target:g}s; "
        "against fixed polling at the same p95:"
    )
    found = search(args.kinds, range(args.seeds), args.draws, args.target)
    print("\n".join(found.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
