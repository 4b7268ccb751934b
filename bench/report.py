"""Tables (plain and Markdown) and the plot (a small SVG writer of our own).

The plot needs no plotting library: one panel per workload, requests per
session (log scale) against p50 detection latency, one mark per strategy,
the fixed-interval frontier as a line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from .metrics import Row
from .oracle import ORACLE_BOUNDS
from .suite import KindResult

__all__ = ["markdown_table", "svg_plot", "text_table"]

_COLUMNS = (
    "strategy",
    "requests",
    "p50 s",
    "p95 s",
    "max s",
    "missed",
    "completion lag s",
    "stall delay s",
    "outcomes",
)


def _number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _cells(row: Row) -> list[str]:
    return [
        row.strategy,
        _number(row.requests, 1),
        _number(row.p50),
        _number(row.p95),
        _number(row.max),
        str(row.missed),
        _number(row.completion_lag),
        _number(row.stall_delay),
        row.outcomes,
    ]


def _oracle_cells(result: KindResult) -> list[list[str]]:
    return [
        [f"oracle L={bound:g}s", _number(result.oracle[bound], 1)]
        + ["<= " + f"{bound:g}"] * 3
        + ["0", "-", "-", "(clairvoyant)"]
        for bound in ORACLE_BOUNDS
    ]


def text_table(result: KindResult) -> str:
    """One workload's table for a terminal."""
    body = [_cells(row) for row in result.rows] + _oracle_cells(result)
    widths = [
        max(len(line[i]) for line in [list(_COLUMNS), *body])
        for i in range(len(_COLUMNS))
    ]
    lines = [
        f"== {result.kind} ({len(result.seeds)} seeds, "
        f"{result.seeds.start}..{result.seeds.stop - 1})"
    ]
    for line in [list(_COLUMNS), *body]:
        lines.append(
            "  ".join(
                cell.ljust(width) if i in (0, 8) else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
    return "\n".join(lines)


def markdown_table(result: KindResult) -> str:
    """One workload's table in Markdown."""
    lines = [
        f"### {result.kind} ({len(result.seeds)} seeds)",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for cells in [_cells(row) for row in result.rows] + _oracle_cells(result):
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_COLORS = {
    "pollwise": "#d62728",
    "naive": "#7f7f7f",
    "peer": "#1f77b4",
    "frontier": "#2ca02c",
}


def _panel(result: KindResult, x0: float, y0: float, w: float, h: float) -> list[str]:
    rows = [
        row
        for row in result.rows
        if math.isfinite(row.p50) and row.requests > 0 and row.p50 > 0
    ]
    out = [
        f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="white" '
        'stroke="#333"/>',
        f'<text x="{x0 + w / 2}" y="{y0 - 6}" text-anchor="middle" '
        f'font-size="13" font-weight="bold">{escape(result.kind)}</text>',
    ]
    if not rows:
        return out
    xmax = max(row.p50 for row in rows) * 1.1
    lo = math.log10(min(row.requests for row in rows)) - 0.1
    hi = math.log10(max(row.requests for row in rows)) + 0.1

    def px(row: Row) -> tuple[float, float]:
        x = x0 + w * row.p50 / xmax
        y = y0 + h - h * (math.log10(row.requests) - lo) / (hi - lo)
        return x, y

    for tick in range(math.floor(lo), math.ceil(hi) + 1):
        for mult in (1, 2, 5):
            value = mult * 10**tick
            if lo <= math.log10(value) <= hi:
                y = y0 + h - h * (math.log10(value) - lo) / (hi - lo)
                out.append(
                    f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" '
                    'stroke="#eee"/>'
                    f'<text x="{x0 - 4}" y="{y + 3:.1f}" text-anchor="end" '
                    f'font-size="9">{value:g}</text>'
                )
    step = 1 if xmax < 8 else 2 if xmax < 16 else 5
    tick_x = 0.0
    while tick_x <= xmax:
        x = x0 + w * tick_x / xmax
        out.append(
            f'<text x="{x:.1f}" y="{y0 + h + 12}" text-anchor="middle" '
            f'font-size="9">{tick_x:g}</text>'
        )
        tick_x += step
    frontier = sorted(
        (px(row) for row in rows if row.family == "frontier"), key=lambda p: p[0]
    )
    if frontier:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in frontier)
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{_COLORS["frontier"]}" '
            'stroke-dasharray="4 3"/>'
        )
    for row in rows:
        x, y = px(row)
        color = _COLORS.get(row.family, "black")
        radius = 5 if row.family == "pollwise" else 3
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{color}">'
            f"<title>{escape(row.strategy)}: {row.requests:.1f} requests, "
            f"p50 {row.p50:.2f}s</title></circle>"
        )
        if row.family != "frontier":
            out.append(
                f'<text x="{x + 6:.1f}" y="{y + 3:.1f}" font-size="8" '
                f'fill="{color}">{escape(row.strategy)}</text>'
            )
    return out


def svg_plot(results: Sequence[KindResult]) -> str:
    """Requests against p50 latency, one panel per workload, as SVG text."""
    columns = 4
    panel_w, panel_h, gap_x, gap_y = 300, 220, 90, 70
    rows_count = math.ceil(len(results) / columns)
    width = columns * (panel_w + gap_x) + 40
    height = rows_count * (panel_h + gap_y) + 80
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        '<text x="20" y="22" font-size="15">requests per session (log) against '
        "p50 detection latency (s); red: pollwise, blue: peers, grey: naive, "
        "green dashed: fixed-interval frontier</text>",
    ]
    for index, result in enumerate(results):
        x0 = 60 + (index % columns) * (panel_w + gap_x)
        y0 = 60 + (index // columns) * (panel_h + gap_y)
        out += _panel(result, x0, y0, panel_w, panel_h)
    out.append("</svg>")
    return "\n".join(out) + "\n"
