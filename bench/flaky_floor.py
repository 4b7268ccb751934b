"""``python -m bench.flaky_floor``: how low p95 can go when the server fails.

On the flaky workload the adaptive mode is judged, like everywhere, against
fixed polling at its own p95. There, outages set p95, not the polling
interval. This module measures two floors under it, pooled over every
message as the suite pools them:

- *knowing every outage*: each message seen the moment the first request
  that can succeed after its arrival is answered (what the clairvoyant
  oracle can do);
- *probing*: a poller that sends its next request ``PROBE_GAP`` after each
  answer, or once the ``Retry-After`` of a 429 has run out, and never gives
  up (the contract's five failures in a row would end its session). Faster
  probing cannot see a message sooner, except by luck: a request sent just
  before a 429 window ends can earn a hint that outlasts the window, which
  a slower poller would have missed.

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

from pollwise.engine.policy import Policy

from .metrics import Row, aggregate, percentile
from .strategies import ADAPTIVE, frontier_name, run_pollwise
from .workloads import SEEDS_PER_KIND, Workload, workloads

__all__ = [
    "PROBE_GAP",
    "Floors",
    "floors",
    "main",
    "outage_latencies",
    "probe_latencies",
]

#: Seconds the probing poller waits after each answer that carries no hint.
PROBE_GAP: Final = 0.01
#: The fixed intervals printed beside the floors.
FIXED: Final = (1.0, 2.0, 3.0)


def outage_latencies(workload: Workload) -> list[float]:
    """Each message's latency if it is seen as soon as an outage allows."""
    latencies = []
    for arrival in workload.arrivals:
        sent = arrival
        fault = workload.fault_at(sent)
        while fault is not None:
            sent = fault.end
            fault = workload.fault_at(sent)
        latencies.append(sent + workload.latency - arrival)
    return latencies


def probe_latencies(workload: Workload, gap: float = PROBE_GAP) -> list[float]:
    """Each message's latency for a poller that probes every ``gap`` seconds.

    It honours a 429's ``Retry-After`` and never gives up.

    Raises:
        ValueError: ``gap`` is not positive.
    """
    if not gap > 0:
        raise ValueError(f"gap must be > 0, got {gap!r}")
    arrivals, seen, sent = workload.arrivals, 0, 0.0
    latencies: list[float] = []
    while seen < len(arrivals):
        answered = sent + workload.latency
        fault = workload.fault_at(sent)
        if fault is None:
            count = bisect.bisect_right(arrivals, sent)
            latencies += [answered - arrival for arrival in arrivals[seen:count]]
            seen = count
            sent = answered + gap
        else:
            hint = float(fault.retry_after) if fault.retry_after is not None else 0.0
            sent = answered + max(gap, hint)
    return latencies


@attrs.frozen
class Floors:
    """The floors and the pollers beside them, over one set of seeds."""

    seeds: int
    outage_p95: float
    probe_p95: float
    #: fixed polling and the adaptive mode, through the engine
    rows: tuple[Row, ...]

    def lines(self) -> list[str]:
        found = [
            f"flaky, {self.seeds} seeds, p95 over every message:",
            f"  knowing every outage: {_seconds(self.outage_p95)}",
            f"  probing every {PROBE_GAP:g}s, honouring Retry-After, never giving "
            f"up: {_seconds(self.probe_p95)}",
        ]
        for row in self.rows:
            found.append(
                f"  {row.strategy}: p95 {_seconds(row.p95)}, {row.requests:.1f} "
                f"requests; {row.outcomes}"
            )
        return found


def _seconds(p95: float) -> str:
    if math.isfinite(p95):
        return f"{p95:.2f}s"
    return "infinite (over 5% of the messages never seen)"


def floors(seeds: range, target: float = 1.0) -> Floors:
    """Measure the floors, fixed polling and the adaptive mode on ``seeds``.

    Raises:
        ValueError: ``seeds`` is empty.
    """
    if not seeds:
        raise ValueError("floors needs at least one seed")
    timelines = workloads("flaky", seeds)
    outage = [x for w in timelines for x in outage_latencies(w)]
    probe = [x for w in timelines for x in probe_latencies(w)]
    rows = []
    for interval in FIXED:
        name = frontier_name(interval)
        policy = Policy(initial_delay=interval, multiplier=1.0, max_delay=interval)
        runs = [run_pollwise(name, policy, w) for w in timelines]
        rows.append(aggregate(name, "frontier", "flaky", runs))
    adaptive = Policy(mode="adaptive", target_latency=target)
    runs = [run_pollwise(ADAPTIVE, adaptive, w) for w in timelines]
    rows.append(aggregate(ADAPTIVE, "pollwise", "flaky", runs))
    return Floors(
        len(seeds), percentile(outage, 95), percentile(probe, 95), tuple(rows)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.flaky_floor",
        description="How low p95 can go on the flaky workload, whatever the "
        "poller, beside fixed polling and the adaptive mode.",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=SEEDS_PER_KIND,
        help="seeds, 1-10000 (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.seeds <= 10_000:
        parser.error(f"--seeds must be 1-10000, got {args.seeds}")
    print("\n".join(floors(range(args.seeds)).lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
