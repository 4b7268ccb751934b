"""``pollwise tui``: its arguments, and the screenshot it saves mid-generation."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from pollwise.adapters.cli import main

ROOT = Path(__file__).resolve().parent.parent


def svg_rows(svg: str) -> list[str]:
    """The text of an SVG screenshot, row by row."""
    cells = re.findall(
        r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg
    )
    rows: dict[float, list[tuple[float, str]]] = {}
    for x, y, text in cells:
        text = html.unescape(text).replace("\xa0", " ")
        rows.setdefault(float(y), []).append((float(x), text))
    return ["".join(t for _, t in sorted(row)) for _, row in sorted(rows.items())]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tui"], "give URL --conversation ID, or --demo"),
        (["tui", "http://127.0.0.1:9", "--demo"], "give URL --conversation ID"),
        (["tui", "http://127.0.0.1:9"], "--conversation ID is needed"),
        (["tui", "--demo", "--fault", "gremlins"], "gremlins"),
        (["tui", "--demo", "--header", "nocolon"], "Name: value"),
        (["tui", "--demo", "--multiplier", "0.5"], "multiplier"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_the_demo_screenshot_is_taken_mid_generation(tmp_path: Path) -> None:
    """The command that makes diagrams/tui-generating.svg."""
    target = tmp_path / "tui.svg"
    assert main(["tui", "--demo", "--screenshot", str(target)]) == 0
    rows = svg_rows(target.read_text(encoding="utf-8"))
    text = "\n".join(rows)
    assert "pollwise — demo: the reference server" in rows[0]
    assert "you: Tell me how progressive polling works." in text
    assert sum(row.startswith("assistant: ") for row in rows) == 2
    assert "●∙∙ assistant is typing" in text
    assert "state backoff · next poll in 0.3s" in text


def test_the_committed_screenshot_shows_a_generation_under_way() -> None:
    rows = svg_rows((ROOT / "diagrams" / "tui-generating.svg").read_text("utf-8"))
    assert sum(row.startswith("assistant: ") for row in rows) == 2
    assert any("assistant is typing" in row for row in rows)
