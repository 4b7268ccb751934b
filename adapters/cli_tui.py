"""``pollwise tui``: the Textual app, against a server or the embedded one.

- ``pollwise tui URL --conversation ID`` follows a conversation of a
  reference-style API;
- ``pollwise tui --demo [--fault NAME]`` starts the reference server on a
  free loopback port, creates a conversation and opens it;
- ``--screenshot FILE.svg`` (with ``--demo``: nothing in it changes from one
  run to the next) starts a generation at once, saves an SVG of the screen
  mid-generation and exits, headless.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from pollwise.engine.policy import Policy

from .cli import UsageError, _create_conversation, add_policy_flags, policy_from_args
from .httpx_api import parse_header

__all__ = ["SCREENSHOT_POLICY", "SCREENSHOT_SETTINGS", "add_commands"]

#: The demo server's pace and count for a screenshot: messages land at 1 s
#: and 2 s, well clear of the polls at 0.3, 0.9, 1.5, 1.8 and 2.4 s.
SCREENSHOT_SETTINGS: Final = {"pace": 1.0, "count": 4}
#: The policy of a screenshot (flags given on the command line still win).
SCREENSHOT_POLICY: Final = Policy(initial_delay=0.3, max_delay=0.6)
#: The terminal size of a screenshot, in columns and rows.
SCREENSHOT_SIZE: Final = (100, 30)
#: What a screenshot's generation is asked.
SCREENSHOT_PROMPT: Final = "Tell me how progressive polling works."


def add_commands(commands: Any) -> None:
    """Add ``tui`` to the ``pollwise`` command line."""
    tui = commands.add_parser(
        "tui", help="a terminal chat UI that follows generations live"
    )
    tui.add_argument("url", nargs="?", help="base URL of a reference-style API")
    tui.add_argument("--conversation", metavar="ID", help="the conversation's id")
    tui.add_argument(
        "--demo",
        action="store_true",
        help="start the reference server here and open a new conversation",
    )
    tui.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header for every request (repeatable); never shown",
    )
    tui.add_argument(
        "--screenshot",
        metavar="FILE.svg",
        help="start a generation, save an SVG mid-generation, exit (headless)",
    )
    server = tui.add_argument_group("reference server (--demo)")
    server.add_argument(
        "--pace", type=float, metavar="S", help="seconds between messages"
    )
    server.add_argument("--count", type=int, metavar="N", help="messages per run")
    server.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="a fault of the reference server to show (repeatable), such as "
        "stall, fail, rate-limit or 503",
    )
    add_policy_flags(tui)
    tui.set_defaults(handler=run_tui)


def run_tui(args: argparse.Namespace) -> int:
    """Run ``pollwise tui``; returns the exit code."""
    from .reference_server import Faults, ReferenceServer, ServerSettings
    from .tui import PollwiseApp, TuiOptions

    if args.demo == (args.url is not None):
        raise UsageError("give URL --conversation ID, or --demo")
    if args.url is not None and args.conversation is None:
        raise UsageError("--conversation ID is needed with a URL")
    screenshot = args.screenshot is not None
    policy = policy_from_args(args, SCREENSHOT_POLICY if screenshot else Policy())
    try:
        headers = tuple(parse_header(text) for text in args.header)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    options = TuiOptions(
        policy=policy,
        headers=headers,
        animated=not screenshot,
        prompt=SCREENSHOT_PROMPT if screenshot else None,
        screenshot=args.screenshot,
        subtitle="demo: the reference server" if args.demo else None,
    )
    size = SCREENSHOT_SIZE if screenshot else None
    if not args.demo:
        app = PollwiseApp(args.url, args.conversation, options)
        return app.run(headless=screenshot, size=size) or 0
    defaults = SCREENSHOT_SETTINGS if screenshot else {"pace": 0.8, "count": 6}
    try:
        settings = ServerSettings(
            pace=args.pace if args.pace is not None else defaults["pace"],
            count=args.count if args.count is not None else int(defaults["count"]),
            faults=Faults.from_names(args.fault),
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    with ReferenceServer(settings) as server:
        conversation = _create_conversation(server.url)
        app = PollwiseApp(server.url, conversation, options)
        return app.run(headless=screenshot, size=size) or 0
