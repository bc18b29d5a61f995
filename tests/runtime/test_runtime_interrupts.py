"""A test case that did not finish is never ranked as a success: real `controller run` processes, real signals.

The job has majority-class and two gated algorithms (tests/conftest.py: ``gated_job``), so a test can signal a run
exactly while a case is in its middle; the same job run straight through is the reference leaderboard.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import time
from pathlib import Path

import pytest

from controller.results import EFFICIENCY_METRICS
from tests.conftest import GATED, Run, run, started


def leaderboard(workspace: Path) -> list[dict[str, str]]:
    """all_rank.csv without the columns that differ between equal runs: when, in which workspace folder, and what
    it cost (time, memory)."""
    differ = {"time", "url", *EFFICIENCY_METRICS}
    with (workspace / "cityscapes-lifelong" / "rank" / "all_rank.csv").open(newline="") as handle:
        return [{k: v for k, v in row.items() if k not in differ} for row in csv.DictReader(handle)]


def statuses(workspace: Path) -> dict[str, str]:
    """Algorithm -> status of every result.json in the workspace."""
    found = {}
    for path in (workspace / "cityscapes-lifelong").glob("*/result.json"):
        data = json.loads(path.read_text())
        found[data["algorithm"]] = data["status"]
    return found


def errors_of_interrupted(workspace: Path) -> set[str]:
    """The errors the interrupted results give."""
    results = [json.loads(p.read_text()) for p in (workspace / "cityscapes-lifelong").glob("*/result.json")]
    return {r["error"] for r in results if r["status"] == "interrupted"}


@pytest.fixture
def reference(gated_job: Path, gate: Path, tmp_path: Path) -> list[dict[str, str]]:
    """The leaderboard of the same job run straight through."""
    code, stderr = run(gated_job, tmp_path / "reference", gate)
    assert code == 0, stderr
    for marker in gate.glob("started-*"):
        marker.unlink()
    return leaderboard(tmp_path / "reference")


@pytest.mark.parametrize("parallel", ["1", "2"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signalled_run_stops_names_the_case_and_resume_gives_the_uninterrupted_leaderboard(
    gated_job: Path, gate: Path, tmp_path: Path, reference: list[dict[str, str]], sig: signal.Signals, parallel: str
) -> None:
    workspace = tmp_path / "ws"
    (gate / "hold").touch()
    stopped = Run(gated_job, workspace, gate, "--parallel", parallel)
    started(gate, int(parallel))
    signalled = time.monotonic()
    os.kill(stopped.process.pid, sig)
    code, stderr = stopped.finish(timeout_s=60)
    assert time.monotonic() - signalled < 15, "the run took too long to stop"
    assert code == 130, stderr
    assert f"interrupted by {sig.name} during test case" in stderr
    assert "gated-" in stderr
    assert f"continue with: controller run {gated_job} --workspace {workspace}" in stderr
    assert stderr.rstrip().endswith("--resume")
    assert not (workspace / "cityscapes-lifelong" / "rank").exists(), "an interrupted run published a leaderboard"
    interrupted = [a for a, s in statuses(workspace).items() if s != "ok"]
    assert interrupted and all(a in GATED for a in interrupted)
    assert all(statuses(workspace)[a] == "interrupted" for a in interrupted)
    assert errors_of_interrupted(workspace) == {f"interrupted by {sig.name}"}, "a case names another signal"

    (gate / "hold").unlink()
    code, stderr = run(gated_job, workspace, gate, "--resume", "--parallel", parallel)
    assert code == 0, stderr
    _same(leaderboard(workspace), reference)


def test_ctrl_c_to_the_whole_process_group_of_a_parallel_run_records_every_running_case_as_interrupted(
    gated_job: Path, gate: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    (gate / "hold").touch()
    stopped = Run(gated_job, workspace, gate, "--parallel", "2")
    started(gate, 2)
    os.killpg(stopped.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    code, stderr = stopped.finish(timeout_s=60)
    assert code == 130, stderr
    assert [statuses(workspace)[a] for a in GATED] == ["interrupted", "interrupted"]
    assert "interrupted by SIGINT during test cases" in stderr
    assert errors_of_interrupted(workspace) == {"interrupted by SIGINT"}


def test_a_killed_case_process_is_a_failed_case_the_others_still_run_and_resume_reruns_it(
    gated_job: Path, gate: Path, tmp_path: Path, reference: list[dict[str, str]]
) -> None:
    workspace = tmp_path / "ws"
    (gate / "hold").touch()
    running = Run(gated_job, workspace, gate, "--parallel", "2")
    victim = started(gate, 1)[0]
    os.kill(victim, signal.SIGKILL)
    (gate / "hold").unlink()
    code, stderr = running.finish()
    assert code == 1, stderr
    results = {
        json.loads(p.read_text())["algorithm"]: json.loads(p.read_text())
        for p in (workspace / "cityscapes-lifelong").glob("*/result.json")
    }
    killed = [r for r in results.values() if r["status"] == "failed"]
    assert len(killed) == 1 and killed[0]["algorithm"] in GATED
    assert killed[0]["error"].startswith("case process killed by SIGKILL without a result; last log line:")
    assert sum(r["status"] == "ok" for r in results.values()) == 2

    code, stderr = run(gated_job, workspace, gate, "--resume", "--parallel", "2")
    assert code == 0, stderr
    _same(leaderboard(workspace), reference)


def test_a_run_killed_outright_leaves_no_result_for_its_running_case_and_resume_reruns_it(
    gated_job: Path, gate: Path, tmp_path: Path, reference: list[dict[str, str]]
) -> None:
    workspace = tmp_path / "ws"
    code, stderr = run(gated_job, workspace, gate)  # every case has an ok result from a finished run ...
    assert code == 0, stderr
    for marker in gate.glob("started-*"):
        marker.unlink()
    (gate / "hold").touch()
    dying = Run(gated_job, workspace, gate)  # ... then a rerun is killed in the middle of the first gated case
    started(gate, 1)
    os.killpg(dying.process.pid, signal.SIGKILL)
    dying.finish()
    assert sorted(statuses(workspace).values()) == ["ok", "ok"], "the killed case kept its earlier result"
    (gate / "hold").unlink()
    code, stderr = run(gated_job, workspace, gate, "--resume")
    assert code == 0, stderr
    _same(leaderboard(workspace), reference)


def _same(board: list[dict[str, str]], expected: list[dict[str, str]]) -> None:
    """Equal leaderboards: the same row for every case, and the same values in rank order. Rows with equal sort
    keys (the gated cases are alike) keep the order in which they were stored, which differs with history."""

    def by_case(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
        return {row["case_id"]: {k: v for k, v in row.items() if k != "rank"} for row in rows}

    def values(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
        return [tuple(v for k, v in row.items() if k not in ("rank", "case_id", "algorithm")) for row in rows]

    assert by_case(board) == by_case(expected)
    assert values(board) == values(expected)
