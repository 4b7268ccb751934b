"""The trace commands: ``import``, ``replay``, and ``diagram --trace``.

- ``pollwise import FILE [--format har|vcr|govcr|azure] -o TRACE``: another
  tool's recording as a trace (exit 0; 2 when it cannot be read).
- ``pollwise replay FILE``: a pollwise trace is re-run on a fake clock and
  every decision checked (exit 0 identical, 1 with the first divergence,
  2 when the file cannot be read); with ``--policy field=value ...``, or
  for an imported recording, the recorded session is set beside pollwise's
  on the same rebuilt timeline (exit 0 when it ran).
- ``pollwise diagram --trace FILE``: one session as a timeline (SVG), a
  Mermaid sequence, and the machine with the session's states highlighted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from pollwise.engine.errors import PolicyError
from pollwise.engine.policy import Policy

from .cli import UsageError, profile_from_path
from .import_trace import FORMATS, import_recording
from .replay import DEFAULT_TOLERANCE, format_divergence, replay_trace, summary_line
from .timeline_diagram import stale_session_diagrams, write_session_diagrams
from .trace import Trace, TraceError, TraceWriter, json_line
from .trace_sources import open_session
from .whatif import compare_policies, format_comparison

__all__ = ["add_commands", "parse_policy_changes"]

EXIT_DIVERGED: Final = 1
EXIT_UNREADABLE: Final = 2
_NONE_WORDS: Final = frozenset({"none", "null", "off"})
_BOOL_WORDS: Final = {"true": True, "yes": True, "false": False, "no": False}


def _scalar(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in _NONE_WORDS:
        return None
    if lowered in _BOOL_WORDS:
        return _BOOL_WORDS[lowered]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text.strip()


def parse_policy_changes(items: Sequence[str], base: Policy) -> Policy:
    """``base`` with the ``field=value`` changes applied.

    Raises:
        UsageError: an item is not ``field=value``, names no policy field,
            or gives a value the policy refuses.
    """
    changes: dict[str, Any] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise UsageError(f"--policy wants field=value, got {item!r}")
        changes[name.strip().replace("-", "_")] = _scalar(value)
    try:
        policy = Policy.from_mapping({**base.to_mapping(), **changes})
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    if "target_latency" in changes and policy.mode != "adaptive":
        # As watch's --target-latency: read only in the adaptive mode.
        raise UsageError("target_latency applies only with mode=adaptive")
    return policy


def _add_source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="the recording's format (guessed from the file by default)",
    )
    parser.add_argument(
        "--session",
        type=int,
        metavar="N",
        help="which polling session of the recording (default: the longest)",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="YAML profile to read the recording with (guessed by default)",
    )


def add_commands(commands: Any) -> None:
    """Register ``import`` and ``replay``, and ``--trace`` on ``diagram``."""
    imp = commands.add_parser(
        "import",
        help="turn another tool's recording (HAR, VCR, go-vcr, Azure) into a trace",
    )
    imp.add_argument("file", metavar="FILE")
    imp.add_argument(
        "-o", "--output", default="-", metavar="TRACE", help="default: stdout"
    )
    imp.add_argument(
        "--keep-content", action="store_true", help="keep each body's text in the trace"
    )
    _add_source_flags(imp)
    imp.set_defaults(handler=_run_import)

    rep = commands.add_parser(
        "replay", help="re-run a trace on a fake clock and check every decision"
    )
    rep.add_argument("file", metavar="FILE", help="a trace, or a recording to import")
    rep.add_argument(
        "--policy",
        nargs="+",
        action="extend",
        default=[],
        metavar="FIELD=VALUE",
        help="what if: run this policy on the recorded timeline instead",
    )
    rep.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        metavar="S",
        help=f"how far send times may drift (default {DEFAULT_TOLERANCE:g}s)",
    )
    rep.add_argument("--json", action="store_true", help="one JSON object")
    _add_source_flags(rep)
    rep.set_defaults(handler=_run_replay)

    diagram = commands.choices["diagram"]
    diagram.add_argument(
        "--trace",
        metavar="FILE",
        help="draw one session (a trace, a recording, or a scenario) instead",
    )
    diagram.add_argument(
        "--name", metavar="NAME", help="file names for --trace (default: the file's)"
    )
    _add_source_flags(diagram)
    diagram.set_defaults(handler=_run_diagram)


def _open(args: argparse.Namespace) -> Trace:
    profile = profile_from_path(args.profile) if args.profile else None
    opened = open_session(
        args.file, fmt=args.format, session=args.session, profile=profile
    )
    for warning in opened.trace.warnings:
        print(
            f"pollwise {args.command}: {opened.trace.path}: {warning}", file=sys.stderr
        )
    return opened.trace


def _run_import(args: argparse.Namespace) -> int:
    if args.output != "-" and Path(args.output).resolve() == Path(args.file).resolve():
        raise UsageError("--output is the recording being imported: name another file")
    profile = profile_from_path(args.profile) if args.profile else None
    try:
        result = import_recording(
            args.file,
            fmt=args.format,
            session=args.session,
            profile=profile,
            keep_content=args.keep_content,
        )
    except TraceError as exc:
        print(f"pollwise import: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    to_stdout = args.output == "-"
    writer = TraceWriter(sys.stdout if to_stdout else args.output)
    for record in result.trace.records():
        writer.write(record)
    writer.close()
    report = sys.stderr if to_stdout else sys.stdout
    print(f"{args.file}: {result.report()[0]}", file=report)
    for line in result.report()[1:]:
        print(f"  {line}", file=report)
    if not to_stdout:
        print(f"wrote {args.output}", file=report)
    return 0


def _run_replay(args: argparse.Namespace) -> int:
    try:
        trace = _open(args)
    except TraceError as exc:
        print(f"pollwise replay: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.policy or trace.is_imported:
        base = Policy() if trace.is_imported else trace.header.build_policy()
        policy = parse_policy_changes(args.policy, base)
        comparison = compare_policies(trace, policy)
        if args.json:
            print(json_line(_comparison_json(comparison), ensure_ascii=True))
        else:
            print("\n".join(format_comparison(comparison)))
        return 0
    started = time.perf_counter()
    result = replay_trace(trace, tolerance=args.tolerance)
    seconds = time.perf_counter() - started
    if args.json:
        print(json_line(_replay_json(result, seconds), ensure_ascii=True))
    elif result.identical:
        print(summary_line(result, trace))
    else:
        print("\n".join(format_divergence(result)))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0 if result.identical else EXIT_DIVERGED


def _replay_json(result: Any, seconds: float) -> dict[str, Any]:
    divergence = result.divergence
    return {
        "file": result.path,
        "identical": result.identical,
        "polls": result.polls,
        "max_send_drift": result.max_send_drift,
        "tolerance": result.tolerance,
        "seconds": seconds,
        "divergence": None
        if divergence is None
        else {
            "where": divergence.where,
            "line": divergence.line,
            "mismatches": [attrs.asdict(m) for m in divergence.mismatches],
        },
        "notes": list(result.notes),
    }


def _comparison_json(comparison: Any) -> dict[str, Any]:
    def figures(f: Any) -> dict[str, Any]:
        return {
            "label": f.label,
            "requests": f.requests,
            "failed_polls": f.failed,
            "outcome": f.outcome,
            "reason": f.reason,
            "ended_at": f.ended_at,
            "seen": list(f.seen),
        }

    return {
        "file": comparison.trace.path,
        "policy": comparison.policy.to_mapping(),
        "events": [attrs.asdict(e) for e in comparison.timeline.events],
        "recorded": figures(comparison.recorded),
        "pollwise": figures(comparison.candidate),
    }


def _run_diagram(args: argparse.Namespace) -> int:
    if args.trace is None:
        from .cli import _run_diagram as draw_machine

        return int(draw_machine(args))
    args.file = args.trace
    try:
        trace = _open(args)
    except TraceError as exc:
        print(f"pollwise diagram: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    name = args.name or _stem(args.trace)
    if args.check:
        stale = stale_session_diagrams(trace, args.out, name)
        for file_name in stale:
            print(f"stale: {file_name}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_session_diagrams(trace, args.out, name):
        print(path)
    return 0


def _stem(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name.split(".", 1)[0] or "session"
