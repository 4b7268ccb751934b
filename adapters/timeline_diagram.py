"""Drawing one session: a timeline (SVG), a Mermaid sequence, the state path.

``pollwise diagram --trace FILE`` draws a recorded (or imported) session
three ways, all as plain text written here, with no Graphviz and no
network:

- ``NAME.svg``: a timeline with the machine's state as a band, each poll
  from its send to its answer (coloured by what came back), each wait and
  why it was that long, and each message or move of the status from when
  the server had it to when the session saw it;
- ``NAME.mmd``: the same session as a Mermaid sequence diagram, for places
  that render Mermaid (GitHub does);
- ``NAME-machine.mmd``: the machine's own diagram with the states the
  session went through highlighted (Mermaid ``classDef`` styles).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

from pollwise.engine.machine import FINAL_STATES

from .diagrams import render_mermaid
from .server_timeline import Event, rebuild_timeline
from .trace import StepRecord, Trace
from .whatif import SessionFigures, session_figures

__all__ = [
    "render_machine_path",
    "render_sequence",
    "render_timeline_svg",
    "session_diagrams",
    "stale_session_diagrams",
    "visited_states",
    "write_session_diagrams",
]

_WIDTH: Final = 960
_LEFT: Final = 96
_RIGHT: Final = 24
_ROWS: Final = {
    "state": 64,
    "polls": 104,
    "waits": 144,
    "messages": 180,
    "status": 216,
}
_AXIS: Final = 252
_HEIGHT: Final = 324
_COLOURS: Final = {
    "backoff": "#dbeafe",
    "polling": "#fde68a",
    "progress": "#16a34a",
    "readable": "#9ca3af",
    "failed": "#f97316",
    "fatal": "#dc2626",
    "abandoned": "#6b7280",
    "done": "#16a34a",
    "failed_state": "#dc2626",
    "other_final": "#f59e0b",
}
_WHY: Final = {
    "backoff": "B",
    "adaptive": "A",
    "hint": "H",
    "stall deadline": "S",
    "timeout": "T",
}


def _ticks(span: float) -> list[float]:
    raw = span / 8
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(span / step) + 1)]


def _span(trace: Trace, events: Sequence[Event]) -> float:
    times = [trace.end.at] if trace.end is not None else []
    for step in trace.steps:
        times += [t for t in (step.exchange.sent, step.exchange.answered) if t]
    times += [e.latest for e in events]
    return max([1.0, *times])


def _label(trace: Trace) -> str:
    source = trace.header.source
    what = source.get("scenario") or source.get("file") or source.get("url") or ""
    tool = source.get("tool", "pollwise")
    end = trace.end
    ending = (
        f"{end.outcome} at {end.at:.2f}s ({end.reason})"
        if end is not None
        else "no end record"
    )
    return f"{tool} {what}: {len(trace.steps)} polls, {ending}".replace("  ", " ")


class _Svg:
    def __init__(self, span: float) -> None:
        self.scale = (_WIDTH - _LEFT - _RIGHT) / span
        self.parts: list[str] = []

    def x(self, t: float) -> float:
        return _LEFT + max(t, 0.0) * self.scale

    def add(self, text: str) -> None:
        self.parts.append(text)

    def rect(
        self, x0: float, x1: float, y: float, h: float, fill: str, title: str
    ) -> None:
        width = max(x1 - x0, 3.0)
        self.add(
            f'<rect x="{x0:.2f}" y="{y:.2f}" width="{width:.2f}" height="{h:.2f}" '
            f'fill="{fill}"><title>{escape(title)}</title></rect>'
        )

    def text(
        self, x: float, y: float, words: str, anchor: str = "middle", size: int = 10
    ) -> None:
        self.add(
            f'<text x="{x:.2f}" y="{y:.2f}" font-size="{size}" '
            f'text-anchor="{anchor}">{escape(words)}</text>'
        )


def _state_band(svg: _Svg, trace: Trace, end: float) -> None:
    y = _ROWS["state"] - 8
    # Backoff under everything, then each poll's time in flight on top.
    svg.rect(svg.x(0.0), svg.x(end), y, 16, _COLOURS["backoff"], f"backoff 0-{end:g}s")
    for step in trace.steps:
        sent, answered = step.exchange.sent, step.exchange.answered
        if sent is None:
            continue
        stop = answered if answered is not None else end
        title = f"polling {sent:g}-{stop:g}s"
        svg.rect(svg.x(sent), svg.x(stop), y, 16, _COLOURS["polling"], title)
    final = trace.end.outcome if trace.end is not None else None
    if final is not None:
        colour = {"done": "done", "failed": "failed_state"}.get(final, "other_final")
        svg.rect(svg.x(end), svg.x(end) + 6, y - 2, 20, _COLOURS[colour], final)
        svg.text(svg.x(end) - 4, y - 5, final, anchor="end")


def _polls(svg: _Svg, steps: Sequence[StepRecord], end: float) -> None:
    y = _ROWS["polls"] - 9
    last_label = -100.0
    for step in steps:
        exchange = step.exchange
        if exchange.sent is None:
            continue
        kind = exchange.answer
        if kind == "readable" and step.has_progress:
            kind = "progress"
        stop = exchange.answered if exchange.answered is not None else end
        status = f" HTTP {exchange.http_status}" if exchange.http_status else ""
        body = f" {exchange.body.status}" if exchange.body.kind == "json" else ""
        title = f"poll {step.number}: sent {exchange.sent:g}s, {kind}{status}{body}"
        svg.rect(svg.x(exchange.sent), svg.x(stop), y, 18, _COLOURS[kind], title)
        x = svg.x(exchange.sent)
        if x - last_label >= 16:
            svg.text(x, y - 3, str(step.number), size=9)
            last_label = x


def _waits(svg: _Svg, steps: Sequence[StepRecord]) -> None:
    y = _ROWS["waits"]
    for before, after in itertools.pairwise(steps):
        start, stop = before.exchange.answered, after.exchange.sent
        if start is None or stop is None:
            continue
        x0, x1 = svg.x(start), svg.x(stop)
        svg.add(
            f'<line x1="{x0:.2f}" y1="{y}" x2="{x1:.2f}" y2="{y}" stroke="#2563eb" '
            f'stroke-width="2"><title>wait {stop - start:.3g}s</title></line>'
        )
        why = before.decision.why if before.decision is not None else None
        if why is not None and x1 - x0 >= 14:
            svg.text((x0 + x1) / 2, y - 4, _WHY.get(why, why[:1].upper()), size=9)


def _server(svg: _Svg, events: Sequence[Event], seen: Sequence[float | None]) -> None:
    last_label = {"messages": -100.0, "status": -100.0}
    for event, when in zip(events, seen, strict=True):
        row = "messages" if event.kind == "message" else "status"
        y = _ROWS[row]
        x0, x1 = svg.x(event.earliest), svg.x(event.latest)
        colour = "#7c3aed" if event.kind == "message" else "#0f766e"
        if not event.exact:
            svg.add(
                f'<line x1="{x0:.2f}" y1="{y}" x2="{x1:.2f}" y2="{y}" '
                f'stroke="{colour}" stroke-dasharray="3,2">'
                f"<title>{escape(event.label)}: between "
                f"{event.earliest:g}s and {event.latest:g}s</title></line>"
            )
        svg.add(
            f'<path d="M{x1:.2f},{y - 5} l5,5 l-5,5 l-5,-5 z" fill="{colour}">'
            f"<title>{escape(event.label)} on the server by {event.latest:g}s"
            "</title></path>"
        )
        if x1 - last_label[row] >= 40:
            words = event.label if row == "messages" else str(event.match[1])
            svg.text(x1, y - 8, words, size=9)
            last_label[row] = x1
        if when is not None:
            xs = svg.x(when)
            svg.add(
                f'<line x1="{x1:.2f}" y1="{y + 9}" x2="{xs:.2f}" y2="{y + 9}" '
                f'stroke="{colour}"/><circle cx="{xs:.2f}" cy="{y + 9}" r="3" '
                f'fill="{colour}"><title>{escape(event.label)} seen at {when:g}s'
                "</title></circle>"
            )


def render_timeline_svg(trace: Trace) -> str:
    """The session as an SVG timeline (text, stable for a given trace)."""
    timeline = rebuild_timeline(trace)
    events = timeline.events
    figures: SessionFigures = session_figures("", trace.steps, trace.end, events)
    span = _span(trace, events)
    end = trace.end.at if trace.end is not None else span
    svg = _Svg(span * 1.04)
    svg.add(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" '
        f'height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        'font-family="sans-serif">'
    )
    svg.add(f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="white"/>')
    svg.text(_LEFT, 24, _label(trace), anchor="start", size=13)
    for name, y in _ROWS.items():
        svg.text(_LEFT - 10, y + 4, name, anchor="end", size=11)
    _state_band(svg, trace, end)
    _polls(svg, trace.steps, end)
    _waits(svg, list(trace.steps))
    _server(svg, events, figures.seen)
    svg.add(
        f'<line x1="{_LEFT}" y1="{_AXIS}" x2="{_WIDTH - _RIGHT}" y2="{_AXIS}" '
        'stroke="black"/>'
    )
    for tick in _ticks(span):
        x = svg.x(tick)
        svg.add(
            f'<line x1="{x:.2f}" y1="{_AXIS}" x2="{x:.2f}" y2="{_AXIS + 4}" '
            'stroke="black"/>'
        )
        svg.text(x, _AXIS + 16, f"{tick:g}s", size=10)
    legend = (
        "band: backoff (blue), polling (yellow). polls: progress (green), no "
        "progress (grey), failed (orange), fatal (red). waits: B backoff, H "
        "hint, S stall deadline, T timeout. messages and status: diamond = on the "
        "server by then (dashed: since when at the earliest), dot = seen."
    )
    cut = legend.rfind(" ", 0, 118)
    svg.text(_LEFT, _HEIGHT - 30, legend[:cut], anchor="start", size=10)
    svg.text(_LEFT, _HEIGHT - 16, legend[cut:].strip(), anchor="start", size=10)
    svg.add("</svg>")
    return "\n".join(svg.parts) + "\n"


# -- Mermaid ----------------------------------------------------------------------


def _mermaid_text(words: str) -> str:
    """Text safe inside a Mermaid sequence message or note."""
    return words.replace(";", ",").replace("#", "#35;").replace("\n", " ")


def _answer_words(step: StepRecord) -> str:
    exchange = step.exchange
    if exchange.answer == "abandoned":
        return "no answer (the session ended first)"
    head = (
        f"HTTP {exchange.http_status}"
        if exchange.http_status is not None
        else f"{exchange.transport or 'transport'} failure"
    )
    words = [head]
    if exchange.body.kind == "json" and exchange.body.status is not None:
        words.append(f"status {exchange.body.status}")
    if step.new_messages:
        words.append("new: " + ", ".join(str(m) for m in step.new_messages))
    elif step.has_progress:
        words.append("progress")
    elif exchange.answer == "readable":
        words.append("no progress")
    if exchange.hint is not None:
        words.append(f"hint {exchange.hint:g}s")
    return _mermaid_text(", ".join(words))


def render_sequence(trace: Trace) -> str:
    """The session as a Mermaid sequence diagram."""
    client = "client" if trace.is_imported else "pollwise"
    lines = [
        "sequenceDiagram",
        f"    participant C as {client}",
        "    participant S as server",
    ]
    begin = trace.begin
    if begin is not None and begin.trigger is not None:
        status = begin.trigger.http_status
        what = f"HTTP {status}" if status is not None else begin.trigger.answer
        lines.append(f"    Note over C,S: t=0s trigger answered {_mermaid_text(what)}")
    decision = begin.decision if begin is not None else None
    for step in trace.steps:
        if decision is not None and decision.action == "poll":
            lines.append(
                f"    Note over C: wait {decision.wait:g}s, next poll at "
                f"{decision.next_at:g}s ({decision.why})"
            )
        exchange = step.exchange
        lines.append(f"    C->>S: poll {step.number} at {exchange.sent:g}s")
        at = f", at {exchange.answered:g}s" if exchange.answered is not None else ""
        lines.append(f"    S-->>C: {_answer_words(step)}{at}")
        decision = step.decision
    end = trace.end
    if end is not None:
        lines.append(
            f"    Note over C,S: {end.outcome} at {end.at:g}s: "
            f"{_mermaid_text(end.reason)} ({_mermaid_text(end.detail)})"
        )
    return "\n".join(lines) + "\n"


def visited_states(trace: Trace) -> list[str]:
    """The machine's states the session went through, in order, each once."""
    path = ["idle"]
    begin = trace.begin
    if begin is not None and begin.state_after:
        path.append(begin.state_after)
    for step in trace.steps:
        path += [step.state_before or "backoff", "polling"]
        if step.state_after:
            path.append(step.state_after)
    end = trace.end
    if end is not None and end.outcome in FINAL_STATES:
        path.append(end.outcome)
    return list(dict.fromkeys(path))


def render_machine_path(trace: Trace) -> str:
    """The machine's Mermaid diagram with the session's states highlighted."""
    visited = visited_states(trace)
    final = [s for s in visited if s in FINAL_STATES]
    passed = [s for s in visited if s not in FINAL_STATES]
    lines = [
        render_mermaid().rstrip(),
        "    classDef visited fill:#dbeafe,stroke:#1d4ed8,stroke-width:2px",
        "    classDef ended fill:#dcfce7,stroke:#15803d,stroke-width:3px",
    ]
    if passed:
        lines.append(f"    class {','.join(passed)} visited")
    if final:
        lines.append(f"    class {','.join(final)} ended")
    return "\n".join(lines) + "\n"


# -- files -----------------------------------------------------------------------


def session_diagrams(trace: Trace, name: str) -> dict[str, str]:
    """The three files of one session, by file name."""
    return {
        f"{name}.svg": render_timeline_svg(trace),
        f"{name}.mmd": render_sequence(trace),
        f"{name}-machine.mmd": render_machine_path(trace),
    }


def write_session_diagrams(trace: Trace, folder: str | Path, name: str) -> list[Path]:
    """Write the session's diagrams into ``folder``; the paths written."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in session_diagrams(trace, name).items():
        path = target / file_name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_session_diagrams(trace: Trace, folder: str | Path, name: str) -> list[str]:
    """Names of the session's files in ``folder`` that differ from the trace."""
    target = Path(folder)
    return [
        file_name
        for file_name, text in session_diagrams(trace, name).items()
        if not (target / file_name).exists()
        or (target / file_name).read_text(encoding="utf-8") != text
    ]
