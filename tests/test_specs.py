"""The scenario specs: every file in specs/ holds, whichever runner drives it.

Each spec in ``specs/`` (YAML, or JSON) pins one or more rules of the
behaviour contract (SEMANTICS.md) with a timeline worked out by hand; the
comment at the top of each YAML file gives the rule and the computation.
The specs run through :func:`pollwise.adapters.simulate.simulate`, the code
path behind ``pollwise simulate``.

JSON has no comments, so the JSON specs are worked out here:

- ``json-1e1-numbers.json``: read as JSON, ``1e1`` is a number (timeout 10,
  max_polls 10), while the header text "1e1" is no hint. stall_after null.
  t=1 nothing (w=2) -> 3; t=3 503 Retry-After "1e1": no hint (w=4) -> 7;
  t=7 503 (w=8): min(15, 10) -> 10; t=10 >= 10: timed_out at 10. (Were
  "1e1" read as 10 s, 3 + 10 > 10 would end it timed_out at 3.)
- ``json-burst-then-complete.json``: the contract's worked example in JSON,
  every optional key given: 1, 3, 4, 6 (429 answered at 6.2, wait
  max(4, 3)), done at 10.2.
- ``json-ids-7-and-string-7.json``: history ["7"]; t=1 ["7", 7]: 7 is new
  (w=1) -> 2; t=2 complete ["7", 7, 8]: 8 new, done at 2.

The files under ``tests/fixtures/bad_scenarios/`` are deliberately broken.
Each YAML one starts with two comment lines::

    # error-line: <the line the error must name>
    # error-says: <words the error message must contain>
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.scenario import Scenario, load_scenario
from pollwise.adapters.scripted_api import AsyncScriptedApi, ScriptedApi
from pollwise.adapters.simulate import simulate
from pollwise.engine.errors import ScenarioError
from pollwise.engine.runners import run_async
from pollwise.engine.session import Session

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
BAD_SCENARIOS = Path(__file__).resolve().parent / "fixtures" / "bad_scenarios"
#: The bug-derived scenarios every copy in specs/ must match byte for byte.
SHARED_SCENARIOS = ROOT.parent / "shared" / "scenarios"


def _scenario_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.json")])


SPEC_FILES = _scenario_files(SPECS)
BAD_FILES = _scenario_files(BAD_SCENARIOS)


def _spec_id(path: Path) -> str:
    return str(path.relative_to(SPECS))


def _spec_ids(paths: list[Path]) -> list[str]:
    return [_spec_id(path) for path in paths]


def _shared_files() -> list[Path]:
    if not SHARED_SCENARIOS.is_dir():
        return []
    return sorted(path for path in SHARED_SCENARIOS.iterdir() if path.is_file())


def _names(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def test_the_specs_folder_holds_yaml_and_json_specs() -> None:
    suffixes = {path.suffix for path in SPEC_FILES}
    assert suffixes == {".yaml", ".json"}
    assert len(SPEC_FILES) >= 60


@pytest.mark.parametrize("path", SPEC_FILES, ids=_spec_ids(SPEC_FILES))
def test_every_spec_meets_all_its_expectations(path: Path) -> None:
    result = simulate(load_scenario(path))
    assert result.expect_failures == ()


@pytest.mark.parametrize("path", SPEC_FILES, ids=_spec_ids(SPEC_FILES))
def test_the_sync_and_async_runners_give_identical_results(path: Path) -> None:
    scenario = load_scenario(path)
    assert simulate(scenario, runner="async") == simulate(scenario, runner="sync")


@pytest.mark.parametrize("path", SPEC_FILES, ids=_spec_ids(SPEC_FILES))
def test_a_spec_run_twice_gives_the_same_result(path: Path) -> None:
    # Jittered specs included: the generator is seeded by the policy.
    scenario = load_scenario(path)
    assert simulate(scenario) == simulate(scenario)


async def _leftover_tasks_after_run(scenario: Scenario) -> set[asyncio.Task[Any]]:
    clock = FakeClock(start=0.0, wall_start=scenario.wall_clock)
    session = Session(
        clock, scenario.policy, scenario.profile, history=scenario.history
    )
    if scenario.cancel_at is not None:
        clock.call_at(scenario.cancel_at, session.cancel)
    api = ScriptedApi(scenario.backend, clock, trigger=scenario.trigger)
    await run_async(session, AsyncScriptedApi(api))
    assert session.is_ended
    await asyncio.sleep(0)
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current}


@pytest.mark.parametrize("path", SPEC_FILES, ids=_spec_ids(SPEC_FILES))
def test_an_ended_session_leaves_no_task_or_thread_behind(path: Path) -> None:
    scenario = load_scenario(path)
    threads_before = threading.active_count()
    leftover = asyncio.run(_leftover_tasks_after_run(scenario))
    assert leftover == set()
    assert threading.active_count() == threads_before


@pytest.mark.parametrize(
    "shared",
    _shared_files() or [None],
    ids=_names(_shared_files()) or ["shared-scenarios-absent"],
)
def test_each_shared_scenario_is_copied_byte_for_byte_into_specs(
    shared: Path | None,
) -> None:
    if shared is None:
        pytest.skip(f"{SHARED_SCENARIOS} is absent")
    copy = SPECS / shared.name
    assert copy.is_file(), f"{shared.name} is not in specs/"
    assert copy.read_bytes() == shared.read_bytes()


def test_an_unknown_status_is_reported_once_as_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The spec's backend answers "thinking" at t=1 and again at t=15.
    scenario = load_scenario(SPECS / "unknown-status-treated-as-in-progress.yaml")
    with caplog.at_level(logging.WARNING, logger="pollwise.engine"):
        result = simulate(scenario)
    assert result.expect_failures == ()
    about_thinking = [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING and "'thinking'" in record.getMessage()
    ]
    assert len(about_thinking) == 1


def _expected_error(path: Path) -> tuple[int | None, str | None]:
    """The line and words a bad YAML fixture's header comments promise."""
    if path.suffix != ".yaml":
        return None, None
    text = path.read_text(encoding="utf-8")
    line = re.search(r"^# error-line: (\d+)$", text, re.MULTILINE)
    says = re.search(r"^# error-says: (.+)$", text, re.MULTILINE)
    assert line is not None, f"{path.name} lacks its '# error-line:' header"
    assert says is not None, f"{path.name} lacks its '# error-says:' header"
    return int(line.group(1)), says.group(1)


def test_there_are_bad_yaml_and_json_fixtures() -> None:
    assert {path.suffix for path in BAD_FILES} == {".yaml", ".json"}


@pytest.mark.parametrize("path", BAD_FILES, ids=_names(BAD_FILES))
def test_a_bad_scenario_is_refused_with_its_file_name_and_line(path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert path.name in message
    line, says = _expected_error(path)
    if path.suffix == ".yaml":
        assert caught.value.line == line
        assert f"{path.name}:{line}:" in message
        assert says is not None
        assert says in message


def _cli_command(*args: str) -> list[str]:
    if importlib.util.find_spec("pollwise.adapters.cli") is None:
        pytest.skip("pollwise.adapters.cli does not exist yet (`pollwise` is broken)")
    entry = "import sys; from pollwise.adapters.cli import main; sys.exit(main())"
    return [sys.executable, "-c", entry, *args]


@pytest.mark.parametrize("path", BAD_FILES, ids=_names(BAD_FILES))
def test_the_cli_exits_2_naming_a_bad_scenario_file(path: Path) -> None:
    done = subprocess.run(
        _cli_command("simulate", str(path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    output = done.stdout + done.stderr
    assert path.name in output
    line, _ = _expected_error(path)
    if line is not None:
        assert f"{path.name}:{line}:" in output


def test_the_cli_exits_0_when_every_spec_holds() -> None:
    done = subprocess.run(
        _cli_command("simulate", "--json", *map(str, SPEC_FILES)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_json_output_has_one_object_per_file_even_an_unreadable_one() -> None:
    """``--json`` promises one object per file: a file that cannot be read
    printed nothing on stdout, so the objects no longer lined up with the
    files given."""
    bad = BAD_FILES[0]
    good = SPEC_FILES[0]
    done = subprocess.run(
        _cli_command("simulate", "--json", str(bad), str(good)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["file"] for o in objects] == [str(bad), str(good)]
    assert objects[0]["outcome"] is None
    assert objects[0]["name"] is None
    assert bad.name in objects[0]["error"]
    assert objects[1]["outcome"] is not None
