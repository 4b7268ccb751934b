"""The benchmark runs end to end on one small workload, so it cannot rot.

The full benchmark (``python -m bench``) takes minutes and is not part of
the test command; this runs the same entry point on a few seeds of two
workloads (in two processes, as the full run does), with the engine-cost
part made tiny.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_runs_and_writes_its_table_and_plot(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--kinds",
            "burst",
            "stall",
            "--jobs",
            "2",
            "--seeds",
            "3",
            "--holdout",
            "2",
            "--polls",
            "200",
            "--sessions",
            "50",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "== burst (3 seeds" in out
    assert "== stall (3 seeds" in out
    for name in ("pollwise default", "pollwise adaptive", "tenacity", "polling2"):
        assert name in out
    assert "backoff expo" in out
    assert "oracle L=0.5s" in out
    assert "== targets:" in out
    assert "CPU per poll decision" in out
    markdown = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| pollwise default |" in markdown
    svg = (tmp_path / "plot.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg")
    assert "burst" in svg


def _bench(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bad_counts_are_refused_before_any_work() -> None:
    done = _bench("--seeds", "0")
    assert done.returncode == 2
    assert "--seeds: must be at least 1, got 0" in done.stderr
    done = _bench("--jobs", "two")
    assert done.returncode == 2
    assert "--jobs: not a whole number: 'two'" in done.stderr


def test_an_output_folder_it_cannot_write_is_refused_before_any_work(
    tmp_path: Path,
) -> None:
    """Not after minutes of measuring: the folder is tried first."""
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    done = _bench("--out", str(blocker / "results"))
    assert done.returncode == 2
    assert f"cannot write into {blocker / 'results'}" in done.stderr
    assert done.stdout == ""
    # A folder whose results.md is a folder: refused, and nothing left behind.
    (tmp_path / "out" / "results.md").mkdir(parents=True)
    done = _bench("--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results.md"]
    done = _bench("--out", "")
    assert done.returncode == 2
    assert "--out: must not be empty" in done.stderr


def test_a_partial_run_never_overwrites_the_published_results(
    tmp_path: Path,
) -> None:
    """--no-cost (or fewer kinds or seeds) writes to bench/results/partial
    unless told otherwise; a kind named twice runs once."""
    done = _bench(
        "--no-cost",
        "--kinds",
        "burst",
        "burst",
        "--seeds",
        "1",
        "--holdout",
        "0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bench" / "results" / "partial" / "results.md").is_file()
    assert not (tmp_path / "bench" / "results" / "results.md").exists()
    assert done.stdout.count("== burst (1 seeds") == 1
    assert "on all 1 workloads" in done.stdout
