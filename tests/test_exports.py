"""The public surface: what each package exports exists, and nothing more."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["pollwise.engine", "pollwise.adapters"])
def test_every_exported_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize("package", ["pollwise.engine", "pollwise.adapters"])
def test_all_lists_every_public_name_once(package: str) -> None:
    module = importlib.import_module(package)
    assert len(set(module.__all__)) == len(module.__all__)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith(package)
    }
    assert public <= set(module.__all__)


def test_the_engine_imports_no_adapter_and_no_io_library() -> None:
    """engine/ is pure: it imports neither adapters nor httpx, uvicorn or rich."""
    import pathlib

    engine = pathlib.Path(importlib.import_module("pollwise.engine").__file__ or "")
    for source in engine.parent.glob("*.py"):
        text = source.read_text(encoding="utf-8")
        for banned in (
            "adapters",
            "import httpx",
            "uvicorn",
            "import rich",
            "time.sleep",
        ):
            assert banned not in text, f"{source.name} mentions {banned}"
