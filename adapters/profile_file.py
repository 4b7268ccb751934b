"""Reading a profile (how another API reports status and messages) from YAML."""

from __future__ import annotations

from pathlib import Path

import yaml

from pollwise.engine.errors import ProfileError, ScenarioError
from pollwise.engine.profile import Profile

__all__ = ["load_profile"]


def load_profile(path: str | Path) -> Profile:
    """Read a profile file.

    Raises:
        ScenarioError: the file cannot be read, is not YAML, or describes no
            valid profile; the message names the file, the line where
            known, and the problem.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError(name, f"cannot be read ({problem})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(name, f"invalid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(name, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise ScenarioError(name, "nested too deeply to be a profile") from None
    try:
        return Profile.from_mapping(data if data is not None else {})
    except ProfileError as exc:
        raise ScenarioError(name, str(exc)) from None
