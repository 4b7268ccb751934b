"""``python -m bench.flaky_floor``: how low p95 can go when the server fails.

On the flaky workload the adaptive mode is judged, like everywhere, against
fixed polling at its own p95. There, outages set p95, not the polling
interval. This module measures, pooled over every message as the suite
pools them:

- a floor, *knowing every outage*: each message seen the moment the first
  request that can succeed after its arrival is answered. No poller sees a
  message sooner (the clairvoyant oracle can do this);
- *probers*: pollers that send their next request a fixed gap after each
  answer, or once a 429's ``Retry-After`` has run out (read and clamped
  as the engine does), and never give up (the contract's five failures in
  a row would end their sessions). They are not floors: a slower prober
  can be luckier, sending between an arrival and an outage, or dodging a
  429 whose hint outlasts its window;

and prints them beside fixed polling and the adaptive mode, run through
the engine on the same seeds.
"""

from __future__ import annotations

import argparse
import bisect
import math
import sys
from collections.abc import Sequence
from typing import Final

import attrs

from pollwise.adapters.clocks import FakeClock
from pollwise.engine.hints import read_hint
from pollwise.engine.policy import Policy
from pollwise.engine.rules import clamp_hint

from .metrics import Row, aggregate, percentile
from .strategies import ADAPTIVE, frontier_name, run_pollwise
from .workloads import (
    HOLDOUT_SEED_BASE,
    MAX_SEEDS,
    SEEDS_PER_KIND,
    Workload,
    workloads,
)

__all__ = [
    "MIN_GAP",
    "PROBE_GAPS",
    "Floors",
    "floors",
    "main",
    "outage_latencies",
    "probe_latencies",
]

#: Seconds the probers wait after each answer that carries no hint.
PROBE_GAPS: Final = (0.01, 0.1, 0.5)
#: The least gap a prober may have (a smaller one would barely move time).
MIN_GAP: Final = 0.001
#: The fixed intervals printed beside the floors.
FIXED: Final = (1.0, 2.0, 3.0)
_POLICY: Final = Policy()
#: The fake clock's wall time at t = 0, which an HTTP-date hint is read against.
_WALL_ORIGIN: Final = FakeClock().wall_time()


def outage_latencies(workload: Workload) -> list[float]:
    """Each message's latency if it is seen as soon as an outage allows."""
    return [
        workload.first_good_time(arrival) + workload.latency - arrival
        for arrival in workload.arrivals
    ]


def probe_latencies(workload: Workload, gap: float) -> list[float]:
    """Each message's latency for a prober that waits ``gap`` after each answer.

    It honours a failed answer's ``Retry-After`` as the engine reads and
    clamps it, and never gives up. It keeps the contract's default request
    timeout and overall timeout: a request not answered within
    ``min(request_timeout, timeout - send time)`` fails, and a message not
    seen by the timeout is never seen (infinite latency).

    Raises:
        ValueError: ``gap`` is under :data:`MIN_GAP`.
    """
    if not gap >= MIN_GAP:
        raise ValueError(f"gap must be at least {MIN_GAP:g} s, got {gap!r}")
    arrivals, seen, sent = workload.arrivals, 0, 0.0
    latencies: list[float] = []
    while seen < len(arrivals) and sent < _POLICY.timeout:
        request_timeout = min(_POLICY.request_timeout, _POLICY.timeout - sent)
        if workload.latency > request_timeout:
            sent += request_timeout + gap
            continue
        answered = sent + workload.latency
        fault = workload.fault_at(sent)
        if fault is None:
            count = bisect.bisect_right(arrivals, sent)
            latencies += [answered - arrival for arrival in arrivals[seen:count]]
            seen = count
            sent = answered + gap
        else:
            headers = {}
            if fault.retry_after is not None:
                headers["retry-after"] = fault.retry_after
            hint = read_hint(headers, _WALL_ORIGIN, answered)
            sent = answered + max(gap, clamp_hint(_POLICY, hint))
    return latencies + [math.inf] * (len(arrivals) - seen)


@attrs.frozen
class Floors:
    """The floor, the probers and the pollers, over one set of seeds."""

    seeds: range
    #: p95 knowing every outage
    outage_p95: float
    #: (gap, p95) of each prober
    probe_p95: tuple[tuple[float, float], ...]
    #: fixed polling and the adaptive mode, through the engine
    rows: tuple[Row, ...]

    def lines(self) -> list[str]:
        found = [
            f"flaky, {len(self.seeds)} seeds ({self.seeds[0]}-{self.seeds[-1]}), "
            "p95 over every message:",
            f"  knowing every outage (no poller does better): "
            f"{_seconds(self.outage_p95)}",
        ]
        for gap, p95 in self.probe_p95:
            found.append(
                f"  probing {gap:g}s after each answer, honouring Retry-After, "
                f"never giving up: {_seconds(p95)}"
            )
        for row in self.rows:
            found.append(
                f"  {row.strategy}: p95 {_seconds(row.p95)}, {row.requests:.1f} "
                f"requests; {row.outcomes}"
            )
        return found


def _seconds(p95: float) -> str:
    if math.isfinite(p95):
        return f"{p95:.2f}s"
    return "infinite (5% of the messages or more never seen)"


def floors(seeds: range, target: float = 1.0) -> Floors:
    """Measure the floors, fixed polling and the adaptive mode on ``seeds``.

    Raises:
        ValueError: ``seeds`` is empty.
    """
    if not seeds:
        raise ValueError("floors needs at least one seed")
    timelines = workloads("flaky", seeds)
    outage = [x for w in timelines for x in outage_latencies(w)]
    probes = tuple(
        (gap, percentile([x for w in timelines for x in probe_latencies(w, gap)], 95))
        for gap in PROBE_GAPS
    )
    rows = []
    for interval in FIXED:
        name = frontier_name(interval)
        policy = Policy(initial_delay=interval, multiplier=1.0, max_delay=interval)
        runs = [run_pollwise(name, policy, w) for w in timelines]
        rows.append(aggregate(name, "frontier", "flaky", runs))
    adaptive = Policy(mode="adaptive", target_latency=target)
    runs = [run_pollwise(ADAPTIVE, adaptive, w) for w in timelines]
    rows.append(aggregate(ADAPTIVE, "pollwise", "flaky", runs))
    return Floors(seeds, percentile(outage, 95), probes, tuple(rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.flaky_floor",
        description="How low p95 can go on the flaky workload, beside fixed "
        "polling and the adaptive mode (see the README's Benchmarks section).",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=SEEDS_PER_KIND,
        help=f"how many seeds, 1-{MAX_SEEDS} (default: %(default)s)",
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help=f"the first seed, 0 or more (default: %(default)s; the bench's "
        f"hold-out seeds start at {HOLDOUT_SEED_BASE})",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.seeds <= MAX_SEEDS:
        parser.error(f"--seeds must be 1-{MAX_SEEDS}, got {args.seeds}")
    if args.first_seed < 0:
        parser.error(f"--first-seed must be 0 or more, got {args.first_seed}")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print("\n".join(floors(seeds).lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
