"""The host_check role, run for real by ansible-playbook against this machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))


def _play(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            PLAYBOOK,
            "playbooks/host_check.yml",
            "-i",
            "inventories/single-host",
            "-e",
            f"host_check_report_path={tmp_path}",
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "HOME": str(tmp_path),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        },
    )


def test_this_host_passes_and_the_report_lists_every_check(tmp_path: Path) -> None:
    run = _play(tmp_path, "-e", "host_check_min_memory_mb=512", "-e", "host_check_min_disk_gb=1")
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((tmp_path / "localhost.json").read_text())
    assert [c["name"] for c in report["checks"]] == ["cpus", "memory_mb", "disk_gb", "os_family"]
    assert all(c["ok"] for c in report["checks"])


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("host_check_min_cpus=4096", "cpus is"),
        ("host_check_min_memory_mb=99999999", "memory_mb is"),
    ],
)
def test_an_unmet_requirement_fails_with_a_message_naming_it(tmp_path: Path, variable: str, message: str) -> None:
    run = _play(tmp_path, "-e", variable)
    assert run.returncode == 2
    assert f"localhost: {message}" in run.stdout
    assert json.loads((tmp_path / "localhost.json").read_text())["checks"]


def test_ignore_errors_turns_failures_into_warnings(tmp_path: Path) -> None:
    run = _play(tmp_path, "-e", "host_check_min_cpus=4096", "-e", "host_check_ignore_errors=true")
    assert run.returncode == 0, run.stdout
    assert "ignored=1" in run.stdout
