"""Diagrams are drawn from the machine class, locally, and kept current."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import statemachine.contrib.diagram as sm_diagram

from pollwise.adapters.diagrams import (
    render_dot,
    render_mermaid,
    stale_diagrams,
    write_diagrams,
)
from pollwise.engine.machine import PollMachine

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_diagrams_are_current() -> None:
    """diagrams/ matches the machine class; run ``pollwise diagram`` if not."""
    assert stale_diagrams(ROOT / "diagrams") == []


def test_a_changed_file_is_reported_stale(tmp_path: Path) -> None:
    write_diagrams(tmp_path)
    (tmp_path / "machine.mmd").write_text("stateDiagram-v2\n", encoding="utf-8")
    assert stale_diagrams(tmp_path) == ["machine.mmd"]


def test_every_state_and_event_is_drawn() -> None:
    mermaid = render_mermaid()
    for state in PollMachine.states:
        assert f"as {state.id}" in mermaid
    for event in ("Trigger answered", "Poll sent", "Poll ended", "Cancel requested"):
        assert event in mermaid


def test_dot_is_the_same_in_every_process() -> None:
    """Object ids in pseudo-node names are replaced, so DOT is byte-stable."""
    text = render_dot()
    assert "__initial" in text
    assert re.search(r"_\d{5,}", text) is None


def test_rendering_never_reaches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's web-service helper cannot run while we render."""
    calls: list[Any] = []
    monkeypatch.setattr(sm_diagram, "urlopen", lambda *a, **k: calls.append(a))
    render_mermaid()
    render_dot()
    assert calls == []
    # And while rendering, the helper is replaced by one that refuses.
    from pollwise.adapters import diagrams

    with diagrams._no_network(), pytest.raises(diagrams.NetworkRefusedError):
        sm_diagram.quickchart_write_svg(PollMachine(), "x.svg")
