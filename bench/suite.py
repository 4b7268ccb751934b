"""Run the strategies on the workloads, and judge the targets.

The targets, as the issue states them:

- Pareto: no peer configuration is better than pollwise's default on both
  requests and p50 latency, on any workload.
- The adaptive mode against the fixed-interval frontier (0.5 to 8 s,
  interpolated between its Pareto points at the adaptive mode's own p95):
  on llm, long-tail and stall at least 30% fewer requests; on the others
  never more; and its p95 at most 2 s on burst and llm.
- Engine cost (see :mod:`bench.cost`): CPU per poll decision and memory
  per session at most 2x tenacity's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import attrs

from pollwise.engine.policy import Policy

from .metrics import Row, aggregate
from .oracle import ORACLE_BOUNDS, oracle_requests
from .strategies import ADAPTIVE, DEFAULT, Strategy, strategies
from .workloads import Workload, workloads

__all__ = [
    "KindResult",
    "Target",
    "adaptive_saving",
    "frontier_requests",
    "judge",
    "run_kind",
]

#: Workloads where the adaptive mode must save requests, and how much.
SAVING_KINDS = ("llm", "long-tail", "stall")
SAVING = 0.30
#: Workloads where the adaptive mode's p95 must stay at most 2 s.
FAST_KINDS = ("burst", "llm")
FAST_P95 = 2.0


@attrs.frozen
class KindResult:
    """Every strategy on one workload kind."""

    kind: str
    seeds: range
    rows: tuple[Row, ...]
    #: latency bound -> mean requests of the clairvoyant oracle
    oracle: dict[float, float]
    #: mean oracle requests at the adaptive mode's own p95
    oracle_at_adaptive_p95: float

    def row(self, name: str) -> Row:
        return next(row for row in self.rows if row.strategy == name)


def run_kind(
    kind: str, seeds: range, chosen: Sequence[Strategy] | None = None
) -> KindResult:
    """Run every strategy (or ``chosen``) on every seed of ``kind``."""
    timelines: list[Workload] = workloads(kind, seeds)
    rows = []
    for strategy in chosen if chosen is not None else strategies():
        runs = [strategy.run(workload) for workload in timelines]
        rows.append(aggregate(strategy.name, strategy.family, kind, runs))
    oracle = {
        bound: sum(oracle_requests(w, bound) for w in timelines) / len(timelines)
        for bound in ORACLE_BOUNDS
    }
    adaptive = next((row for row in rows if row.strategy == ADAPTIVE), None)
    at_p95 = math.nan
    if adaptive is not None and adaptive.p95 >= timelines[0].latency:
        at_p95 = sum(oracle_requests(w, adaptive.p95) for w in timelines) / len(
            timelines
        )
    return KindResult(kind, seeds, tuple(rows), oracle, at_p95)


def frontier_requests(result: KindResult, p95: float) -> float:
    """Requests of fixed-interval polling at ``p95``, on the frontier.

    Only the frontier's Pareto points count (a fixed interval that is worse
    on both than another is not on it, nor one whose p95 is infinite because
    it missed messages); between two, linear; beyond the ends, the end's
    figure.
    """
    points = sorted(
        (row.p95, row.requests)
        for row in result.rows
        if row.family == "frontier" and math.isfinite(row.p95)
    )
    pareto = [(p, r) for p, r in points if not any(q <= p and s < r for q, s in points)]
    if p95 <= pareto[0][0]:
        return pareto[0][1]
    for (p0, r0), (p1, r1) in itertools.pairwise(pareto):
        if p0 <= p95 <= p1:
            # Weighted, not r0 + (r1 - r0) * t: at t = 1 that can miss r1
            # by a rounding, and a strategy equal to a frontier point must
            # read as equal, not as needing more.
            t = (p95 - p0) / (p1 - p0)
            return r0 * (1 - t) + r1 * t
    return pareto[-1][1]


@attrs.frozen
class Target:
    """One target: what it says, whether it held, and the figure."""

    name: str
    held: bool
    figure: str

    def line(self) -> str:
        mark = "held    " if self.held else "NOT HELD"
        return f"[{mark}] {self.name}: {self.figure}"


def _dominators(result: KindResult) -> list[str]:
    default = result.row(DEFAULT)
    return [
        f"{row.strategy} ({row.requests:.1f} req, p50 {row.p50:.2f}s)"
        for row in result.rows
        if row.family == "peer"
        and row.requests < default.requests
        and row.p50 < default.p50
    ]


def pareto_target(results: Sequence[KindResult]) -> Target:
    found = {r.kind: _dominators(r) for r in results}
    bad = {kind: names for kind, names in found.items() if names}
    if not bad:
        return Target(
            "no peer configuration beats the default on both requests and p50",
            True,
            f"on all {len(results)} workloads",
        )
    text = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in bad.items())
    return Target(
        "no peer configuration beats the default on both requests and p50",
        False,
        text,
    )


def adaptive_saving(result: KindResult) -> float:
    """Share of requests the adaptive mode saves against fixed polling at
    its own p95 (negative: it needs more)."""
    row = result.row(ADAPTIVE)
    return 1 - row.requests / frontier_requests(result, row.p95)


def adaptive_targets(results: Sequence[KindResult], label: str) -> list[Target]:
    """The adaptive mode's targets on ``results`` (``label``: which seeds)."""
    targets = []
    for result in results:
        row = result.row(ADAPTIVE)
        fixed = frontier_requests(result, row.p95)
        ratio = row.requests / fixed
        change = (
            f"{100 * (1 - ratio):.0f}% fewer"
            if row.requests <= fixed
            else f"{100 * (ratio - 1):.0f}% MORE"
        )
        figure = (
            f"{row.requests:.1f} requests vs {fixed:.1f} for fixed polling at "
            f"the same p95 ({row.p95:.2f}s): {change}"
        )
        if result.kind in SAVING_KINDS:
            targets.append(
                Target(
                    f"{label} adaptive on {result.kind}: >= 30% fewer requests",
                    ratio <= 1 - SAVING,
                    figure,
                )
            )
        else:
            targets.append(
                Target(
                    f"{label} adaptive on {result.kind}: never more requests",
                    row.requests <= fixed,
                    figure,
                )
            )
        if result.kind in FAST_KINDS:
            targets.append(
                Target(
                    f"{label} adaptive on {result.kind}: p95 <= 2 s",
                    row.p95 <= FAST_P95,
                    f"p95 {row.p95:.2f}s",
                )
            )
    return targets


def oracle_lines(results: Sequence[KindResult]) -> list[str]:
    """The adaptive mode's requests over the clairvoyant minimum at its p95."""
    lines = []
    for result in results:
        row = result.row(ADAPTIVE)
        minimum = result.oracle_at_adaptive_p95
        lines.append(
            f"{result.kind}: {row.requests:.1f} / {minimum:.1f} = "
            f"{row.requests / minimum:.2f}x the clairvoyant minimum at "
            f"L = {row.p95:.2f}s (moonshot: <= 2x)"
        )
    return lines


def judge(results: Sequence[KindResult], holdout: Sequence[KindResult]) -> list[Target]:
    """Every suite target, on the tuning seeds and on the hold-out seeds."""
    targets = [pareto_target(results)]
    targets += adaptive_targets(results, "tuning seeds:")
    if holdout:
        targets += adaptive_targets(holdout, "hold-out seeds:")
    return targets


def holdout_strategies(adaptive: Policy | None = None) -> list[Strategy]:
    """What a hold-out run needs: the adaptive mode and the frontier."""
    return [
        s for s in strategies(adaptive) if s.name == ADAPTIVE or s.family == "frontier"
    ]
