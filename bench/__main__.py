"""``python -m bench``: the benchmark suite, its targets, and the engine's cost.

Prints one table per workload and a summary of the targets (each held or
not held, with its figure), and writes ``results.md`` and ``plot.svg``
into the output folder (``bench/results/`` by default).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Final

from .cost import measure_cost
from .peers import PEERS
from .report import markdown_table, svg_plot, text_table
from .strategies import strategies
from .suite import (
    KindResult,
    Target,
    holdout_strategies,
    judge,
    oracle_lines,
    run_kind,
)
from .workloads import HOLDOUT_SEED_BASE, KINDS, SEEDS_PER_KIND

_NOTES = """\
How it is measured: every strategy polls the same fake backend on a fake
clock (no sleeping, no network); a request sent at t sees the conversation
as it is at t and is answered 0.05 s later. Detection latency runs from a
message's arrival to the answer that holds it. pollwise runs through its
real engine (Session, run_sync) on the table compiled from its machine,
which decides exactly as the declarative one (tests/test_machine_table.py).
The peers run through their own libraries; none of them lets a caller
inject a clock, so within their runs only, the bench points their module
globals at the fake clock: tenacity.time (time.monotonic() for
stop_after_delay; sleep is injected as Retrying(sleep=...)), polling2.time
(time.time(), time.sleep()), backoff._sync.time and backoff._sync.datetime
(time.sleep(), datetime.now() for max_time). The module-level random
generator, which backoff's full jitter draws from, is seeded per run. The
peers and the naive pollers do not read Retry-After and stop only on a
finished status or after 120 s; pollwise also stops on stall_after (30 s).
The frontier ("fixed Ns +stop rules") is fixed-interval polling through the
same engine with pollwise's stop rules, so only the schedule differs."""


def _count(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``least``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value

    return parse


def _folder(text: str) -> Path:
    """An argparse type: a folder path, not empty."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)


#: Where the full run (every default) writes: the results the README shows.
FULL_RUN_OUT: Final = Path("bench/results")
#: Where any other run writes unless told (ignored by git).
PARTIAL_RUN_OUT: Final = Path("bench/results/partial")
_FULL_RUN: Final = {
    "no_cost": False,
    "kinds": list(KINDS),
    "seeds": SEEDS_PER_KIND,
    "holdout": SEEDS_PER_KIND,
    "polls": 5000,
    "sessions": 10_000,
}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--seeds", type=_count(1), default=SEEDS_PER_KIND, help="per kind (tuning)"
    )
    parser.add_argument(
        "--holdout",
        type=_count(0),
        default=SEEDS_PER_KIND,
        help="hold-out seeds per kind (0: none)",
    )
    parser.add_argument(
        "--kinds", nargs="+", default=list(KINDS), choices=KINDS, metavar="KIND"
    )
    parser.add_argument(
        "--out",
        type=_folder,
        default=None,
        help=f"output folder (default: {FULL_RUN_OUT} for the full run, "
        f"{PARTIAL_RUN_OUT} for any other, so a partial run never "
        "overwrites the published results)",
    )
    parser.add_argument("--no-cost", action="store_true", help="skip engine cost")
    parser.add_argument("--polls", type=_count(1), default=5000, help="cost: polls")
    parser.add_argument(
        "--sessions", type=_count(1), default=10_000, help="cost: concurrent sessions"
    )
    parser.add_argument(
        "--jobs",
        type=_count(1),
        default=os.cpu_count() or 1,
        help="processes for the workloads (default: one per CPU; the engine "
        "cost always runs alone)",
    )
    args = parser.parse_args(argv)
    args.kinds = list(dict.fromkeys(args.kinds))  # each kind once
    if args.out is None:
        full = all(getattr(args, key) == value for key, value in _FULL_RUN.items())
        args.out = FULL_RUN_OUT if full else PARTIAL_RUN_OUT
    return args


def _check_writable(out: Path) -> None:
    """Raise OSError unless the results can be written into ``out``.

    Makes the folder (as the run would) and writes nothing else: a probe
    file is created and removed.
    """
    out.mkdir(parents=True, exist_ok=True)
    for name in ("plot.svg", "results.md"):
        if (out / name).exists() and not (out / name).is_file():
            raise IsADirectoryError(f"{out / name} is not a file")
    with tempfile.NamedTemporaryFile(dir=out, prefix=".probe-"):
        pass


def _run_kind(kind: str, seeds: range, holdout: bool) -> KindResult:
    """One workload kind; a top-level function, so a worker process can run it."""
    chosen = holdout_strategies() if holdout else strategies()
    return run_kind(kind, seeds, chosen)


def _run_kinds(
    kinds: Sequence[str], seeds: range, holdout: bool, jobs: int
) -> list[KindResult]:
    if jobs <= 1 or len(kinds) <= 1:
        return [_run_kind(kind, seeds, holdout) for kind in kinds]
    with ProcessPoolExecutor(max_workers=min(jobs, len(kinds))) as pool:
        futures = [pool.submit(_run_kind, kind, seeds, holdout) for kind in kinds]
        return [future.result() for future in futures]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    started = time.perf_counter()
    out: Path = args.out
    try:
        _check_writable(out)  # before minutes of work, not after
    except OSError as error:
        print(f"python -m bench: cannot write into {out}: {error}", file=sys.stderr)
        return 2
    seeds = range(args.seeds)
    results = _run_kinds(args.kinds, seeds, False, args.jobs)
    for result in results:
        print(text_table(result), end="\n\n", flush=True)
    holdout = []
    if args.holdout:
        holdout_seeds = range(HOLDOUT_SEED_BASE, HOLDOUT_SEED_BASE + args.holdout)
        holdout = _run_kinds(args.kinds, holdout_seeds, True, args.jobs)
    targets = judge(results, holdout)
    cost_lines: list[str] = []
    if not args.no_cost:
        cost = measure_cost(polls=args.polls, sessions=args.sessions)
        cost_lines = cost.lines()
        tenacity = cost.many["tenacity"]
        table = cost.many["table"]
        targets += [
            Target(
                "CPU per poll decision <= 2x tenacity's per attempt",
                cost.cpu_table <= 2 * cost.cpu_tenacity,
                f"{cost.cpu_table / cost.cpu_tenacity:.2f}x on the table runner "
                f"({cost.cpu_table * 1e6:.1f} us vs {cost.cpu_tenacity * 1e6:.1f} "
                f"us); the declarative machine: "
                f"{cost.cpu_declarative / cost.cpu_tenacity:.2f}x",
            ),
            Target(
                "memory per session <= 2x tenacity's",
                table.memory_per_session <= 2 * tenacity.memory_per_session,
                f"{table.memory_per_session / tenacity.memory_per_session:.2f}x "
                "on the table runner; the declarative machine: "
                f"{cost.many['declarative'].memory_per_session / tenacity.memory_per_session:.2f}x",  # noqa: E501
            ),
        ]
    summary = [target.line() for target in targets]
    ratios = oracle_lines(results)
    held = sum(target.held for target in targets)
    print(f"== targets: {held} of {len(targets)} held")
    print("\n".join(summary))
    print("\n== adaptive mode against the clairvoyant minimum (tuning seeds)")
    print("\n".join(ratios))
    if holdout:
        print("\n== the same on hold-out seeds")
        print("\n".join(oracle_lines(holdout)))
    if cost_lines:
        print("\n== engine cost")
        print("\n".join(cost_lines))
    print()
    print(_NOTES)
    (out / "plot.svg").write_text(svg_plot(results), encoding="utf-8")
    (out / "results.md").write_text(
        _markdown(args, results, holdout, summary, ratios, cost_lines),
        encoding="utf-8",
    )
    print(
        f"\nwrote {out / 'results.md'} and {out / 'plot.svg'} "
        f"in {time.perf_counter() - started:.0f}s"
    )
    return 0


def _markdown(
    args: argparse.Namespace,
    results: Sequence[object],
    holdout: Sequence[object],
    summary: Sequence[str],
    ratios: Sequence[str],
    cost_lines: Sequence[str],
) -> str:
    command = "python -m bench " + " ".join(sys.argv[1:])
    lines = [
        "# pollwise benchmark results",
        "",
        f"Made by `{command.strip()}`.",
        "",
        "## Targets",
        "",
        *[f"- {line}" for line in summary],
        "",
        "## The adaptive mode against the clairvoyant minimum at its own p95",
        "",
        *[f"- {line}" for line in ratios],
    ]
    if holdout:
        lines += ["", "Hold-out seeds:", ""]
        lines += [f"- {line}" for line in oracle_lines(holdout)]  # type: ignore[arg-type]
    if cost_lines:
        lines += ["", "## Engine cost", "", *[f"- {line}" for line in cost_lines]]
    lines += ["", "## Peers", ""]
    lines += [f"- {name}: `{text}`" for name, (text, _) in PEERS.items()]
    lines += ["", "## Workloads", ""]
    for result in results:
        assert isinstance(result, KindResult)
        lines += [markdown_table(result), ""]
    lines += ["## How it is measured", "", _NOTES, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
