"""site.yml, the whole lab, in check mode on a fresh lab host: it completes, reports what it would do, changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from infra.fixtures import LabHost

from .conftest import PlayResult, host_state, write_inventory

PREDICTED = (
    "Docker | Predict the install from dpkg's database (check mode, package index out of date)",
    "Docker | Write /etc/docker/daemon.json",
    "Kind | Copy the binary from the controller",
)
# They need what the predicted install would bring (the service, the docker group, `docker info`).
NEED_THE_ENGINE = (
    "Docker | Run the engine",
    "Docker | Let these accounts use the engine",
    "Docker | Wait until the engine answers",
)
RELAXED = {"host_check_min_memory_mb": 512, "host_check_min_disk_gb": 1, "host_check_min_cpus": 1}


def test_check_mode_on_a_fresh_lab_host_completes_and_changes_nothing(
    labhosts: Callable[..., list[LabHost]],
    local_apt_repo: Callable[..., Path],
    kind_binary: Path,
    play: Callable[..., PlayResult],
    tmp_path: Path,
) -> None:
    (lab_host,) = labhosts(1, apt_repo=local_apt_repo("docker.io"))
    host = host_state(lab_host)
    index_before = host.file("/var/lib/apt/lists").listdir()
    inventory = write_inventory(tmp_path / "hosts.yml", {"cloud": [lab_host]})
    variables = {
        **RELAXED,
        "docker_daemon_options": {"storage-driver": "vfs"},
        "docker_users": ["lab"],
        "kind_binary_src": str(kind_binary),
    }

    check = play("site.yml", inventory, extra_vars=variables, check=True)

    assert check.returncode == 0, check.output
    recap = check.recap()["labhost-1"]
    assert recap["failed"] == 0 and recap["changed"] > 0, check.output
    assert {task: check.task_status(task, "labhost-1") for task in PREDICTED} == dict.fromkeys(PREDICTED, "changed")
    assert {task: check.task_status(task, "labhost-1") for task in NEED_THE_ENGINE} == dict.fromkeys(
        NEED_THE_ENGINE, "skipping"
    )
    assert not host.package("docker.io").is_installed
    assert not host.file("/etc/docker/daemon.json").exists
    assert not host.file("/usr/local/bin/kind").exists
    assert "docker" not in host.user("lab").groups
    assert host.file("/var/lib/apt/lists").listdir() == index_before
