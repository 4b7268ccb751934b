"""Opening whatever ``replay`` and ``diagram --trace`` are given.

A file may be a pollwise trace, a recording made by another tool (HAR,
VCR.py, go-vcr, Azure test proxy: imported on the fly), or a scenario
file (run on a fake clock and recorded, so a scenario can be drawn).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import attrs

from pollwise.engine.errors import ScenarioError
from pollwise.engine.profile import Profile

from .import_trace import ImportResult, detect_format, import_recording
from .scenario import load_scenario
from .trace import Trace, TraceError, read_trace, trace_from_lines
from .trace_recorder import record_scenario

__all__ = ["Opened", "open_session"]


@attrs.frozen
class Opened:
    """A session, and how it was obtained ("trace", "import", "scenario")."""

    trace: Trace
    kind: str
    imported: ImportResult | None = None


def _first_line(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            return stream.readline(65536).decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise TraceError(str(path), "no such file") from None
    except IsADirectoryError:
        raise TraceError(str(path), "is a directory, not a trace") from None
    except OSError as exc:
        raise TraceError(str(path), f"cannot be read ({exc.strerror})") from None


def _is_trace(line: str) -> bool:
    try:
        data = json.loads(line)
    except ValueError:
        return '"format": "pollwise-trace"' in line
    return isinstance(data, dict) and data.get("type") == "header"


def open_session(
    path: str | Path,
    *,
    fmt: str | None = None,
    session: int | None = None,
    profile: Profile | None = None,
) -> Opened:
    """The session in ``path``, whatever kind of file it is.

    Raises:
        TraceError: the file is none of the kinds, or cannot be read.
    """
    target = Path(path)
    if fmt is None and _is_trace(_first_line(target)):
        return Opened(read_trace(target), "trace")
    try:
        chosen = fmt or detect_format(target)
    except TraceError as not_recording:
        try:
            scenario = load_scenario(target)
        except ScenarioError:
            raise not_recording from None
        buffer = io.StringIO()
        record_scenario(scenario, buffer)
        return Opened(
            trace_from_lines(buffer.getvalue().splitlines(), str(target)), "scenario"
        )
    result = import_recording(target, fmt=chosen, session=session, profile=profile)
    return Opened(result.trace, "import", result)
