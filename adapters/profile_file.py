"""Reading a profile (how another API reports status and messages) from YAML."""

from __future__ import annotations

from pathlib import Path

from pollwise.engine.errors import ProfileError, ScenarioError
from pollwise.engine.profile import Profile

from .scenario import read_document

__all__ = ["load_profile"]


def load_profile(path: str | Path) -> Profile:
    """Read a profile file (YAML, or JSON for a ``.json`` name).

    It is read as scenario files are: a key given twice, an integer too long
    to read, an alias bomb or deep nesting is refused, not guessed at.

    Raises:
        ScenarioError: the file cannot be read, is not YAML, or describes no
            valid profile; the message names the file, the line where
            known, and the problem.
    """
    data = read_document(Path(path), "profile")
    try:
        return Profile.from_mapping(data if data is not None else {})
    except ProfileError as exc:
        raise ScenarioError(str(path), str(exc)) from None
