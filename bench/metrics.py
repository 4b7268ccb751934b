"""What one run measured, and the figures of many runs together."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import attrs

from .workloads import Workload

__all__ = ["Row", "Run", "aggregate", "measure", "percentile"]


@attrs.frozen
class Run:
    """One strategy on one workload."""

    strategy: str
    workload: str
    kind: str
    requests: int
    #: detection latency of every message the poller got, in arrival order
    latencies: tuple[float, ...]
    #: messages the poller never got
    missed: int
    outcome: str
    ended_at: float
    #: from the status turning complete to the session ending done
    completion_lag: float | None
    #: from the last message to the end of a session on a stalled job
    stall_delay: float | None


def measure(
    strategy: str,
    workload: Workload,
    requests: int,
    first_seen: Mapping[str, float],
    outcome: str,
    ended_at: float,
) -> Run:
    """Turn what a strategy did on ``workload`` into a :class:`Run`.

    Args:
        first_seen: message id -> when the answer holding it arrived.
    """
    latencies: list[float] = []
    missed = 0
    for index, arrival in enumerate(workload.arrivals):
        seen = first_seen.get(f"m{index}")
        if seen is None:
            missed += 1
        else:
            latencies.append(seen - arrival)
    lag = None
    if outcome == "done" and workload.complete_at is not None:
        lag = ended_at - workload.complete_at
    stall = None
    if workload.kind == "stall":
        stall = ended_at - workload.arrivals[-1]
    return Run(
        strategy=strategy,
        workload=workload.name,
        kind=workload.kind,
        requests=requests,
        latencies=tuple(latencies),
        missed=missed,
        outcome=outcome,
        ended_at=ended_at,
        completion_lag=lag,
        stall_delay=stall,
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks; NaN if empty.

    ``math.inf`` values (messages never seen) sort last: a percentile that
    reaches into them is infinite.
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    if fraction == 0 or ordered[high] == ordered[low]:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@attrs.frozen
class Row:
    """One strategy on one workload kind, over every seed."""

    strategy: str
    family: str
    kind: str
    sessions: int
    #: mean requests per session
    requests: float
    p50: float
    p95: float
    max: float
    missed: int
    completion_lag: float | None
    stall_delay: float | None
    outcomes: str


def aggregate(strategy: str, family: str, kind: str, runs: Sequence[Run]) -> Row:
    """Pool the runs of one strategy on one kind (latencies of every message).

    A missed message counts as never seen (an infinite latency) in p50 and
    p95, so a strategy cannot look fast by giving up; ``max`` is over the
    messages seen, and ``missed`` says how many were not.
    """
    seen = [value for run in runs for value in run.latencies]
    latencies = seen + [math.inf] * sum(run.missed for run in runs)
    lags = [run.completion_lag for run in runs if run.completion_lag is not None]
    stalls = [run.stall_delay for run in runs if run.stall_delay is not None]
    outcomes = Counter(run.outcome for run in runs)
    return Row(
        strategy=strategy,
        family=family,
        kind=kind,
        sessions=len(runs),
        requests=sum(run.requests for run in runs) / len(runs),
        p50=percentile(latencies, 50),
        p95=percentile(latencies, 95),
        max=max(seen, default=math.nan),
        missed=sum(run.missed for run in runs),
        completion_lag=_mean(lags),
        stall_delay=_mean(stalls),
        outcomes=" ".join(
            f"{name} {count}" for name, count in sorted(outcomes.items())
        ),
    )
