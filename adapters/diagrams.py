"""Diagrams of the state machine, drawn from the machine class itself.

Never kept by hand: ``pollwise diagram`` writes them and ``--check`` (run by
the tests) fails when the files in ``diagrams/`` no longer match the class.
Mermaid and DOT are rendered in pure Python; SVG needs Graphviz's ``dot``
and is written only when it is installed. Rendering never reaches the
network: python-statemachine has a helper that sends DOT to a web service,
and it is replaced by one that refuses while we render.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import statemachine.contrib.diagram as sm_diagram

from pollwise.engine.machine import PollMachine

__all__ = ["render_dot", "render_mermaid", "stale_diagrams", "write_diagrams"]

MERMAID_NAME: Final = "machine.mmd"
DOT_NAME: Final = "machine.dot"
SVG_NAME: Final = "machine.svg"


#: The names in python-statemachine's diagram module that can reach the network.
_NETWORK_HELPERS: Final = ("urlopen", "quickchart_write_svg")


class NetworkRefusedError(RuntimeError):
    """Raised if diagram code ever tries to reach the network."""


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise NetworkRefusedError("pollwise draws diagrams locally; no web service is used")


@contextlib.contextmanager
def _no_network() -> Iterator[None]:
    saved = {name: getattr(sm_diagram, name) for name in _NETWORK_HELPERS}
    for name in _NETWORK_HELPERS:
        setattr(sm_diagram, name, _refuse)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(sm_diagram, name, value)


def render_mermaid() -> str:
    """The machine as a Mermaid state diagram."""
    with _no_network():
        return format(PollMachine, "mermaid").rstrip() + "\n"


def render_dot() -> str:
    """The machine as Graphviz DOT, stable across processes."""
    with _no_network():
        text = format(PollMachine, "dot")
    # Pseudo-nodes and clusters are named after object ids; make them stable.
    return re.sub(r"(__initial|__atomic)_\d+", r"\1", text).rstrip() + "\n"


def _render_svg(dot_text: str) -> str | None:
    dot = shutil.which("dot")
    if dot is None:
        return None
    done = subprocess.run(
        [dot, "-Tsvg"], input=dot_text, capture_output=True, text=True, check=True
    )
    return done.stdout


def write_diagrams(folder: str | Path) -> list[Path]:
    """Write Mermaid and DOT (and SVG when Graphviz is installed) to ``folder``."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    dot_text = render_dot()
    for name, text in ((MERMAID_NAME, render_mermaid()), (DOT_NAME, dot_text)):
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    svg = _render_svg(dot_text)
    if svg is not None:
        path = target / SVG_NAME
        path.write_text(svg, encoding="utf-8")
        written.append(path)
    return written


def stale_diagrams(folder: str | Path) -> list[str]:
    """Names of the text diagrams in ``folder`` that differ from the class."""
    target = Path(folder)
    stale = []
    for name, text in ((MERMAID_NAME, render_mermaid()), (DOT_NAME, render_dot())):
        path = target / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale
