"""The trace commands' wiring: flags, policy changes, and help."""

from __future__ import annotations

from pathlib import Path

import pytest

from pollwise.adapters.cli import UsageError, main
from pollwise.adapters.cli_traces import parse_policy_changes
from pollwise.engine import Policy

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "traces"


@pytest.mark.parametrize(
    ("items", "changed"),
    [
        (["initial_delay=0.5"], {"initial_delay": 0.5}),
        (["stall-after=none", "max_polls=3"], {"stall_after": None, "max_polls": 3}),
        (["reset_on_progress=false"], {"reset_on_progress": False}),
        (["jitter=equal", "seed=4"], {"jitter": "equal", "seed": 4}),
    ],
)
def test_policy_changes_are_field_equals_value(
    items: list[str], changed: dict[str, object]
) -> None:
    base = Policy(timeout=60)
    assert parse_policy_changes(items, base) == base.replace(**changed)


def test_a_bad_change_names_the_field() -> None:
    with pytest.raises(UsageError, match="max_delay"):
        parse_policy_changes(["max_delay=0.1"], Policy())


def test_the_commands_are_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "import" in out
    assert "replay" in out


def test_import_takes_a_session_and_a_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("status_path: status\ndone: [ready]\nfailed: [error]\n")
    out = tmp_path / "t.jsonl"
    source = FIXTURES / "scaleway-redis-cluster-create-delete.yaml"
    code = main(
        [
            "import",
            str(source),
            "--session",
            "1",
            "--profile",
            str(profile),
            "-o",
            str(out),
        ]
    )
    assert code == 0
    report = capsys.readouterr().out
    assert "profile guess: profile given" in report
    assert main(["import", str(source), "--session", "9", "-o", str(out)]) == 2
    assert "there is no session 9" in capsys.readouterr().err


def test_diagram_without_trace_still_draws_the_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagram", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "machine.mmd").exists()
    assert main(["diagram", "--check"]) == 0
