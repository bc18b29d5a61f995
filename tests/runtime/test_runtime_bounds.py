"""Bounded test cases (``--case-timeout``, ``--case-memory`` and their benchmarking-job keys): real `controller run`
processes, cases that really overrun their bound, and the others still ranked.

A "costly" algorithm holds a known amount of resident memory for a while (``add_costly``); the gated algorithms
hold still until a test lets them go, or forever (both in tests/conftest.py).
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from controller.bounds import CaseBounds
from controller.cli import main
from controller.config.loader import load_job
from controller.plan import CaseSpec, build_plan
from tests.conftest import GATED, Run, add_costly, edit_yaml, keep_algorithms, run, started

JOB = "cityscapes-lifelong"


def results(workspace: Path) -> dict[str, dict[str, Any]]:
    """Algorithm -> result.json of every case (one case per algorithm in these jobs)."""
    found = {}
    for path in (workspace / JOB).glob("*/result.json"):
        data = json.loads(path.read_text())
        found[data["algorithm"]] = data
    return found


def ranked(workspace: Path) -> list[str]:
    with (workspace / JOB / "rank" / "all_rank.csv").open(newline="") as handle:
        return [row["algorithm"] for row in csv.DictReader(handle)]


def test_cases_past_case_timeout_fail_with_the_bound_and_the_others_are_ranked(
    gated_job: Path, gate: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    (gate / "hold").touch()  # the gated cases would wait forever
    began = time.monotonic()
    code, stderr = run(gated_job, workspace, gate, "--case-timeout", "3")
    took = time.monotonic() - began
    assert code == 1, stderr
    found = results(workspace)
    assert found["majority-class"]["status"] == "ok"
    for name in GATED:
        assert found[name]["status"] == "failed"
        assert re.fullmatch(r"exceeded --case-timeout 3 s; last log line: .*", found[name]["error"]), found[name]
        assert 3 < found[name]["efficiency"]["wall_time_s"] < 3 + 1
    assert sorted(ranked(workspace)) == sorted(["majority-class", *GATED])
    assert 2 * 3 <= took < 60, f"two gated cases of 3 s each, one after another (--parallel 1); took {took:.1f}s"


def test_a_case_over_case_memory_fails_with_its_peak_and_a_case_within_it_is_ok(job_dir: Path, tmp_path: Path) -> None:
    keep_algorithms(job_dir, "majority-class")
    # per algorithm in the job file; the job's own key is the default for the others
    add_costly(job_dir, "hungry-400", mib=400, hold_s=20, case_memory=250)
    add_costly(job_dir, "hungry-50", mib=50, hold_s=0.5)
    edit_yaml(job_dir / "benchmarkingjob.yaml", lambda d: d["benchmarkingjob"].__setitem__("case_memory", 250))
    workspace = tmp_path / "ws"
    began = time.monotonic()
    code = main(["run", str(job_dir / "benchmarkingjob.yaml"), "--workspace", str(workspace), "--parallel", "2"])
    assert code == 1
    assert time.monotonic() - began < 20, "the hungry case was not stopped before its 20 s hold ended"
    found = results(workspace)
    assert found["majority-class"]["status"] == found["hungry-50"]["status"] == "ok"
    failed = found["hungry-400"]
    assert failed["status"] == "failed"
    match = re.fullmatch(r"exceeded --case-memory 250 MiB \(peak (\d+) MiB\); last log line: .*", failed["error"])
    assert match, failed["error"]
    # stopped on the way to 400 MiB + the interpreter (~100 MiB): above the bound, never above what it could hold
    assert 250 < int(match.group(1)) <= 400 + 200
    assert failed["efficiency"]["peak_rss_mib"] == pytest.approx(int(match.group(1)), abs=1)  # its row shows it
    assert sorted(ranked(workspace)) == ["hungry-400", "hungry-50", "majority-class"]


def test_a_bounded_case_killed_from_outside_is_a_failed_result_with_parallel_1(
    gated_job: Path, gate: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    (gate / "hold").touch()
    running = Run(gated_job, workspace, gate, "--case-timeout", "600")  # bounded: a case process even with -j 1
    victim = started(gate, 1)[0]
    assert victim != running.process.pid, "the case ran in the run's own process"
    os.kill(victim, signal.SIGKILL)
    (gate / "hold").unlink()
    code, stderr = running.finish()
    assert code == 1, stderr
    found = results(workspace)
    killed = [r for r in found.values() if r["status"] == "failed"]
    assert len(killed) == 1 and killed[0]["algorithm"] in GATED
    assert killed[0]["error"].startswith("case process killed by SIGKILL without a result; last log line:")
    assert sum(r["status"] == "ok" for r in found.values()) == 2


def test_ctrl_c_stops_a_bounded_run_and_records_its_running_case_as_interrupted(
    gated_job: Path, gate: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    (gate / "hold").touch()
    stopped = Run(gated_job, workspace, gate, "--case-memory", "4096")  # watched, polled every 0.1 s
    started(gate, 1)
    os.killpg(stopped.process.pid, signal.SIGINT)
    code, stderr = stopped.finish(timeout_s=60)
    assert code == 130, stderr
    interrupted = [r for r in results(workspace).values() if r["status"] != "ok"]
    assert [(r["status"], r["error"]) for r in interrupted] == [("interrupted", "interrupted by SIGINT")]


# ------------------------------------------------------------------------------------------ where bounds come from


def _bounds_by_algorithm(specs: list[CaseSpec]) -> dict[str, CaseBounds]:
    return {spec.algorithm: spec.bounds for spec in specs}


def test_the_command_line_wins_over_the_algorithm_entry_which_wins_over_the_job(job_dir: Path) -> None:
    keep_algorithms(job_dir, "majority-class", "pixel-softmax-kb")

    def bound(data: dict[str, Any]) -> None:
        data["benchmarkingjob"].update(case_timeout=100, case_memory=1000)
        data["benchmarkingjob"]["test_object"]["algorithms"][0].update(case_timeout=5)

    edit_yaml(job_dir / "benchmarkingjob.yaml", bound)
    config = load_job(job_dir / "benchmarkingjob.yaml")
    first, second = (a.name for a in config.algorithms)
    assert _bounds_by_algorithm(build_plan(config)) == {
        first: CaseBounds(timeout_s=5, memory_mib=1000),
        second: CaseBounds(timeout_s=100, memory_mib=1000),
    }
    assert _bounds_by_algorithm(build_plan(config, CaseBounds(memory_mib=64))) == {
        first: CaseBounds(timeout_s=5, memory_mib=64),
        second: CaseBounds(timeout_s=100, memory_mib=64),
    }


def test_bounds_do_not_change_a_case_id_and_travel_with_its_spec(job_dir: Path) -> None:
    keep_algorithms(job_dir, "majority-class")
    config = load_job(job_dir / "benchmarkingjob.yaml")
    (free,) = build_plan(config)
    (bounded,) = build_plan(config, CaseBounds(timeout_s=1.5, memory_mib=512))
    assert bounded.case_id == free.case_id  # --resume reuses a finished case whatever bound it ran under
    assert "bounds" not in free.to_dict()  # an unbounded spec reads as it did before bounds existed
    assert bounded.to_dict()["bounds"] == {"timeout_s": 1.5, "memory_mib": 512}
    assert CaseSpec.from_dict(json.loads(json.dumps(bounded.to_dict()))) == bounded
    assert CaseSpec.from_dict(free.to_dict()) == free
    # into the cluster: the SimulationJob carries them to the job controller, which shapes the case Pod with them
    from controller.simulation.simulation_job import SimulationJob

    job = SimulationJob.from_object(SimulationJob.of_case(bounded, "lab", "ianvs-lab/controller:1").to_manifest())
    assert job.bounds == bounded.bounds and job.test_case() == bounded
    assert job.spec_hash == SimulationJob.of_case(free, "lab").spec_hash


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ((), {"case_memory": 0}, r"benchmarkingjob\.case_memory: input should be greater than 0"),
        ((), {"case_timeout": "soon"}, r"benchmarkingjob\.case_timeout: input should be a valid number"),
        (
            ("test_object", "algorithms", 0),
            {"case_timeout": -1},
            r"benchmarkingjob\.test_object\.algorithms\[0\]\.case_timeout: input should be greater than 0",
        ),
    ],
)
def test_bad_bound_keys_are_one_line_errors_naming_file_line_and_key(
    job_dir: Path,
    capsys: pytest.CaptureFixture[str],
    where: tuple[str | int, ...],
    value: dict[str, Any],
    message: str,
) -> None:
    def change(data: dict[str, Any]) -> None:
        target = data["benchmarkingjob"]
        for key in where:
            target = target[key]
        target.update(value)

    edit_yaml(job_dir / "benchmarkingjob.yaml", change)
    assert main(["validate", str(job_dir / "benchmarkingjob.yaml")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert re.fullmatch(r"error: .*benchmarkingjob\.yaml:\d+:\d+: " + message + ".*", line), line


@pytest.mark.parametrize("option", [["--case-timeout", "0"], ["--case-memory", "-1"], ["--case-memory", "1.5"]])
def test_bad_bound_options_are_refused_before_anything_runs(
    job_dir: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(job_dir / "benchmarkingjob.yaml"), *option])
    assert exit_info.value.code == 2
    assert f"{option[0]}: expected a" in capsys.readouterr().err
    assert not (job_dir / "workspace").exists()


# ------------------------------------------------------------------------------------------ the process tree


def _parent_of_a_hungry_child(pid_file: str, mib: int) -> None:
    """A case process whose memory is held by its child (as with DataLoader workers); writes the child's pid."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", f"import time; held = b'1' * ({mib} << 20); time.sleep(60)"])
    Path(pid_file).write_text(str(child.pid))
    child.wait()


def test_memory_of_the_whole_process_tree_counts_and_stopping_a_case_stops_its_children(tmp_path: Path) -> None:
    import multiprocessing

    from controller.runtime.limits import POLL_S, BoundWatch

    pid_file = tmp_path / "child.pid"
    process = multiprocessing.get_context("spawn").Process(target=_parent_of_a_hungry_child, args=(str(pid_file), 200))
    process.start()
    watch = BoundWatch(process, CaseBounds(memory_mib=150, timeout_s=30))
    while not watch.check():
        time.sleep(POLL_S)
    process.join(10)
    child = int(pid_file.read_text())
    assert watch.exceeded.startswith("exceeded --case-memory 150 MiB (peak "), watch.exceeded
    # the parent alone is a bare interpreter (~15 MiB): only its child's 200 MiB can have passed the bound
    assert 150 * 2**20 < watch.peak_bytes <= (200 + 100) * 2**20
    assert process.exitcode == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and _state(child) != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists() or _state(child) == "Z", "the child outlived its stopped case"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"
