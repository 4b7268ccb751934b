"""The ``pollwise`` command line.

Exit codes: 0 done (or every expectation held), 1 failed (or an expectation
did not hold), 2 usage or bad input, 3 timed out, 4 stalled, 130 cancelled.
Bad input is reported in one line naming what is wrong, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import httpx

from pollwise.engine.errors import PolicyError, PollingError, ScenarioError
from pollwise.engine.policy import JITTER_KINDS, Policy
from pollwise.engine.profile import Profile

from .httpx_api import Endpoint, below, parse_header
from .profile_file import load_profile
from .redaction import guard_http_loggers, redact_url
from .reference_faults import FAULT_NAMES
from .scenario import load_scenario
from .simulate import simulate
from .trace import json_line
from .watch import WatchOptions, exit_code, watch

if TYPE_CHECKING:
    from .reference_server import ServerSettings

__all__ = ["main"]

EXIT_USAGE: Final = 2
#: The shell's code for a process whose output pipe closed (128 + SIGPIPE).
EXIT_BROKEN_PIPE: Final = 141


class UsageError(Exception):
    """Bad input from the command line; reported in one line, exit 2."""


#: Modules that add commands of their own. Each has ``add_commands(commands)``
#: whose parsers ``set_defaults(handler=...)``, a function of the parsed
#: arguments that returns the exit code; it may raise :class:`UsageError`.
COMMAND_MODULES: Final[tuple[str, ...]] = ("cli_tui", "cli_traces")


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


_port.__name__ = "port (0 to 65535)"


def _stall_after(text: str) -> float | None:
    if text.lower() in ("none", "off", "null"):
        return None
    return float(text)


_stall_after.__name__ = "number of seconds or none"


_POLICY_FLAGS: Final[tuple[tuple[str, Any, str], ...]] = (
    ("initial_delay", float, "wait before the first poll (s), default 1"),
    ("multiplier", float, "growth of the wait without progress, default 2"),
    ("max_delay", float, "cap on a computed wait (s), default 8"),
    ("jitter", str, f"one of {', '.join(JITTER_KINDS)}; default none"),
    ("seed", int, "seed of the jitter's generator, default 0"),
    ("timeout", float, "overall deadline (s), default 120"),
    ("stall_after", _stall_after, "quiet period that ends as stalled (s), or none"),
    ("max_polls", int, "budget of polls, default none"),
    ("max_consecutive_errors", int, "failed polls in a row that fail, default 5"),
    ("max_retry_after", float, "clamp on a server's hint (s), default 60"),
    ("request_timeout", float, "per request (s), default 10"),
    ("mode", str, "schedule: backoff (the default) or adaptive"),
    ("target_latency", float, "adaptive mode: wait while messages flow (s), default 1"),
)


def add_policy_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("policy")
    for name, kind, text in _POLICY_FLAGS:
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=kind,
            default=argparse.SUPPRESS,
            help=text,
            metavar="N" if kind is not str else "NAME",
        )
    group.add_argument(
        "--no-reset-on-progress",
        dest="reset_on_progress",
        action="store_false",
        default=argparse.SUPPRESS,
        help="keep growing the wait even when messages flow",
    )


def policy_from_args(args: argparse.Namespace, base: Policy | None = None) -> Policy:
    given = {
        name: getattr(args, name)
        for name in [flag[0] for flag in _POLICY_FLAGS] + ["reset_on_progress"]
        if hasattr(args, name)
    }
    try:
        policy = (
            base.replace(**given) if base is not None else Policy.from_mapping(given)
        )
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    if "target_latency" in given and policy.mode != "adaptive":
        # Read only in the adaptive mode: silently ignoring it would mislead.
        raise UsageError("--target-latency applies only with --mode adaptive")
    return policy


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per event"
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="plain lines even on a terminal (also when NO_COLOR is set)",
    )


def output_mode(args: argparse.Namespace) -> str:
    if args.json:
        return "json"
    return "plain" if args.plain else "auto"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pollwise",
        description="Progressive polling of long-running jobs over plain HTTP.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-vv: debug)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    watch_cmd = commands.add_parser(
        "watch", help="trigger a generation and follow it live"
    )
    watch_cmd.add_argument("url", help="base URL (with --conversation) or poll URL")
    watch_cmd.add_argument(
        "--conversation", metavar="ID", help="conversation id on a reference-style API"
    )
    watch_cmd.add_argument(
        "--trigger-url", metavar="URL", help="URL to POST to start the job"
    )
    watch_cmd.add_argument(
        "--no-trigger", action="store_true", help="only poll; do not start the job"
    )
    watch_cmd.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header for every request (repeatable); never logged",
    )
    watch_cmd.add_argument("--profile", metavar="FILE", help="YAML profile of the API")
    watch_cmd.add_argument(
        "--max-body-bytes",
        type=int,
        default=10 * 1024 * 1024,
        metavar="N",
        help="refuse larger bodies (default 10 MiB)",
    )
    watch_cmd.add_argument(
        "--record", metavar="FILE", help="write the session's trace (JSON Lines)"
    )
    watch_cmd.add_argument(
        "--keep-content",
        action="store_true",
        help="keep each body's text in the trace (it may be private)",
    )
    add_policy_flags(watch_cmd)
    add_output_flags(watch_cmd)

    demo = commands.add_parser(
        "demo", help="start the reference server here and watch one generation"
    )
    _add_server_flags(demo, default_pace=0.8, default_count=6)
    add_policy_flags(demo)
    add_output_flags(demo)

    serve = commands.add_parser("serve", help="run the reference server until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    serve.add_argument(
        "--port", type=_port, default=8765, help="default 8765; 0: any free port"
    )
    _add_server_flags(serve, default_pace=1.0, default_count=5)

    new = commands.add_parser(
        "new", help="create a conversation on a reference server; prints its id"
    )
    new.add_argument("url", help="the server's base URL")
    _add_fault_flag(new)

    sim = commands.add_parser(
        "simulate", help="run scenario files on a fake clock and check them"
    )
    sim.add_argument("files", nargs="+", metavar="FILE")
    sim.add_argument("--json", action="store_true", help="one JSON object per file")

    diagram = commands.add_parser(
        "diagram", help="write the state machine's diagrams (Mermaid, DOT, SVG)"
    )
    diagram.add_argument("--out", default="diagrams", help="folder, default diagrams/")
    diagram.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when the files there are stale",
    )
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.{module_name}")
        module.add_commands(commands)
    return parser


def _add_fault_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help=f"a fault to show (repeatable): {', '.join(FAULT_NAMES)}",
    )


def _add_server_flags(
    parser: argparse.ArgumentParser, default_pace: float, default_count: int
) -> None:
    group = parser.add_argument_group("reference server")
    group.add_argument(
        "--pace",
        type=float,
        default=default_pace,
        metavar="S",
        help=f"seconds between messages (default {default_pace})",
    )
    group.add_argument(
        "--count",
        type=int,
        default=default_count,
        metavar="N",
        help=f"messages per generation (default {default_count})",
    )
    _add_fault_flag(parser)


def _settings(args: argparse.Namespace) -> ServerSettings:
    from .reference_server import Faults, ServerSettings

    try:
        return ServerSettings(
            pace=args.pace, count=args.count, faults=Faults.from_names(args.fault)
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def profile_from_path(path: str | None) -> Profile:
    if path is None:
        return Profile()
    return load_profile(path)


def _run_watch(args: argparse.Namespace) -> int:
    policy = policy_from_args(args)
    profile = profile_from_path(args.profile)
    try:
        headers = tuple(parse_header(text) for text in args.header)
        if args.conversation is not None:
            endpoint = Endpoint.for_conversation(
                args.url,
                args.conversation,
                headers=headers,
                max_body_bytes=args.max_body_bytes,
            )
        else:
            endpoint = Endpoint(
                poll_url=args.url,
                trigger_url=args.trigger_url,
                headers=headers,
                max_body_bytes=args.max_body_bytes,
            )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.no_trigger and args.trigger_url is not None:
        raise UsageError("--no-trigger and --trigger-url contradict each other")
    trigger = not args.no_trigger and endpoint.trigger_url is not None
    options = WatchOptions(
        policy=policy,
        profile=profile,
        trigger=trigger,
        output=output_mode(args),
        record=args.record,
        keep_content=args.keep_content,
    )
    view = watch(endpoint, options)
    assert view.outcome is not None
    return exit_code(view.outcome)


def _run_demo(args: argparse.Namespace) -> int:
    from .reference_server import ReferenceServer

    settings = _settings(args)
    policy = policy_from_args(args)
    with ReferenceServer(settings) as server:
        conversation = _create_conversation(server.url)
        if not args.json:
            print(
                f"reference server on {server.url}, conversation {conversation}",
                flush=True,
            )
        endpoint = Endpoint.for_conversation(server.url, conversation)
        view = watch(endpoint, WatchOptions(policy=policy, output=output_mode(args)))
    assert view.outcome is not None
    return exit_code(view.outcome)


def _create_conversation(base_url: str, faults: Sequence[str] = ()) -> str:
    from .reference_server import Faults

    body: dict[str, Any] = {}
    if faults:
        try:
            body["faults"] = Faults.from_names(list(faults)).to_mapping()
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    try:
        response = httpx.post(below(base_url, "conversations"), json=body, timeout=10.0)
    except httpx.HTTPError as exc:
        raise UsageError(
            f"cannot reach {redact_url(base_url)}: {type(exc).__name__}"
        ) from None
    if response.status_code != 201:
        raise UsageError(
            f"{redact_url(base_url)} answered HTTP {response.status_code} "
            "to POST /conversations"
        )
    try:
        conversation = response.json()["id"]
    except (ValueError, KeyError, TypeError):
        raise UsageError(
            f"{redact_url(base_url)} answered no conversation id"
        ) from None
    return str(conversation)


def _run_new(args: argparse.Namespace) -> int:
    print(_create_conversation(args.url, args.fault))
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    from .reference_server import serve_forever

    settings = _settings(args)

    def ready(url: str) -> None:
        print(f"pollwise reference server on {url} (Ctrl-C stops it)", flush=True)

    try:
        serve_forever(host=args.host, port=args.port, settings=settings, on_ready=ready)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    return 0


def _unreadable(path: str, error: ScenarioError, as_json: bool) -> None:
    print(f"pollwise simulate: {error}", file=sys.stderr)
    if as_json:
        # One object per file, as --json promises, even for this one.
        line = {"name": None, "file": path, "outcome": None, "error": str(error)}
        print(json_line(line, ensure_ascii=True))


def _run_simulate(args: argparse.Namespace) -> int:
    unreadable = False
    failed = False
    for path in args.files:
        try:
            result = simulate(load_scenario(path))
        except ScenarioError as exc:
            _unreadable(path, exc, args.json)
            unreadable = True
            continue
        failed = failed or not result.passed
        if args.json:
            print(json_line(result.to_json(), ensure_ascii=True))
        else:
            mark = "ok  " if result.passed else "FAIL"
            print(
                f"{mark} {result.name}: {result.outcome} at {result.ended_at:g}s, "
                f"{len(result.request_times)} requests"
            )
            for failure in result.expect_failures:
                print(f"       {failure}")
    if unreadable:
        return EXIT_USAGE
    return 1 if failed else 0


def _run_diagram(args: argparse.Namespace) -> int:
    from .diagrams import stale_diagrams, write_diagrams

    if args.check:
        stale = stale_diagrams(args.out)
        for name in stale:
            print(f"stale: {name}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_diagrams(args.out):
        print(path)
    return 0


_RUNNERS: Final = {
    "watch": _run_watch,
    "demo": _run_demo,
    "serve": _run_serve,
    "new": _run_new,
    "simulate": _run_simulate,
    "diagram": _run_diagram,
}


def _configure_logging(verbosity: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # httpx logs request URLs, httpcore headers: both pass through redaction.
    guard_http_loggers()
    if verbosity < 3:
        # The machine library's per-step lines drown ours; -vvv shows them.
        logging.getLogger("statemachine").setLevel(max(level, logging.INFO))
        logging.getLogger("httpcore").setLevel(max(level, logging.INFO))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        handler = getattr(args, "handler", None) or _RUNNERS[args.command]
        return int(handler(args))
    except UsageError as exc:
        print(f"pollwise {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PollingError as exc:
        print(f"pollwise {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (``pollwise watch --json | head``): say
        # nothing more, and keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        # A file or folder the command was told to read or write.
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"pollwise {args.command}: error: {where}{exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except RecursionError:
        print(
            f"pollwise {args.command}: error: the input is nested too deeply",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def console_main() -> None:
    """Entry point of the ``pollwise`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
