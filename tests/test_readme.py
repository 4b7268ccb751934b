"""The README's promises: CI runs its test command, its examples run, and
its diagram is current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pollwise.adapters.diagrams import render_mermaid

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _example(name: str) -> str:
    match = re.search(
        rf"<!-- example: {name} -->\n```python\n(.*?)```", README, re.DOTALL
    )
    assert match is not None, f"README has no example {name!r}"
    return match.group(1)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """.ci/run calls the exact test command the README gives a new user."""
    commands = re.findall(r"```sh\n(python3 -m venv .*?)\n```", README)
    assert len(commands) == 2, commands
    test_command = next(c for c in commands if "pytest" in c)
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def test_the_demo_command_runs_the_demo() -> None:
    """The first command ends by running ``pollwise demo`` on the defaults."""
    commands = re.findall(r"```sh\n(python3 -m venv .*?)\n```", README)
    demo = next(c for c in commands if "pytest" not in c)
    assert demo.endswith(".venv/bin/pollwise demo")


@pytest.mark.parametrize("name", ["sync", "async", "tui"])
def test_the_embedding_example_runs(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each embedding example in the README runs as written, against a real server."""
    exec(compile(_example(name), f"README:{name}", "exec"), {"__name__": "readme"})
    if name == "sync":
        assert "assistant" in capsys.readouterr().out


def test_the_readme_diagram_is_the_machine() -> None:
    """The Mermaid diagram in the README is generated from the machine class."""
    assert "```mermaid\n" + render_mermaid() + "```" in README


def test_every_known_limitation_has_a_strict_xfail_test() -> None:
    """Each bullet under Known limitations is shown by a test in that file."""
    section = README.split("## Known limitations", 1)[1].split("\n## ", 1)[0]
    bullets = [line for line in section.splitlines() if line.startswith("- ")]
    tests = (ROOT / "tests" / "test_known_limitations.py").read_text(encoding="utf-8")
    assert len(bullets) == len(re.findall(r"xfail\(\s*strict=True", tests))
