"""The docker role, run by ansible-playbook against a lab-host container that installs from a local apt mirror;
what it leaves on the host is read with pytest-testinfra."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from infra.fixtures import LABHOST_APT_REPO, LabHost

from .conftest import PlayResult, host_state, write_inventory

# A Docker engine inside a container cannot stack overlayfs on the container's own overlay root.
NESTED = {"docker_daemon_options": {"storage-driver": "vfs"}, "docker_users": ["lab"]}


@pytest.fixture
def docker_host(labhosts: Callable[..., list[LabHost]], local_apt_repo: Callable[..., Path]) -> LabHost:
    (host,) = labhosts(1, apt_repo=local_apt_repo("docker.io"))
    return host


@pytest.fixture
def first_run(docker_host: LabHost, play: Callable[..., PlayResult], tmp_path: Path) -> PlayResult:
    inventory = write_inventory(tmp_path / "hosts.yml", {"cloud": [docker_host]})
    result = play("playbooks/docker.yml", inventory, extra_vars=NESTED)
    assert result.returncode == 0, result.output
    return result


def test_the_engine_runs_with_the_configured_storage_driver(docker_host: LabHost, first_run: PlayResult) -> None:
    host = host_state(docker_host)
    assert host.package("docker.io").is_installed
    assert json.loads(host.file("/etc/docker/daemon.json").content_string) == {"storage-driver": "vfs"}
    assert host.service("docker").is_running
    assert host.socket("unix:///run/docker.sock").is_listening
    assert host.check_output("docker info --format %s", "{{.Driver}}") == "vfs"
    assert "labhost-1: Docker 20.10" in first_run.output


def test_listed_users_use_the_engine_without_sudo(docker_host: LabHost, first_run: PlayResult) -> None:
    assert "docker" in host_state(docker_host).user("lab").groups
    proc = host_state(docker_host, user="lab").run("docker version --format %s", "{{.Server.Version}}")
    assert proc.rc == 0, proc.stderr


def test_the_engine_is_enabled_at_boot(docker_host: LabHost, first_run: PlayResult) -> None:
    assert host_state(docker_host).service("docker").is_enabled


def test_a_second_run_changes_nothing(
    docker_host: LabHost, first_run: PlayResult, play: Callable[..., PlayResult], tmp_path: Path
) -> None:
    assert first_run.recap()["labhost-1"]["changed"] > 0
    again = play("playbooks/docker.yml", tmp_path / "hosts.yml", extra_vars=NESTED)
    assert again.returncode == 0, again.output
    assert again.recap()["labhost-1"]["changed"] == 0, again.output


def test_check_mode_on_an_installed_host_predicts_no_change(
    docker_host: LabHost, first_run: PlayResult, play: Callable[..., PlayResult], tmp_path: Path
) -> None:
    check = play("playbooks/docker.yml", tmp_path / "hosts.yml", extra_vars=NESTED, check=True)
    assert check.returncode == 0, check.output
    assert check.recap()["labhost-1"]["changed"] == 0, check.output
    assert "labhost-1: Docker 20.10" in check.output


def test_changed_daemon_options_restart_the_engine_with_them(
    docker_host: LabHost, first_run: PlayResult, play: Callable[..., PlayResult], tmp_path: Path
) -> None:
    options = {**NESTED, "docker_daemon_options": {"storage-driver": "vfs", "log-driver": "local"}}
    result = play("playbooks/docker.yml", tmp_path / "hosts.yml", extra_vars=options)
    assert result.returncode == 0, result.output
    assert "RUNNING HANDLER [docker : Restart docker]" in result.output
    host = host_state(docker_host)
    assert json.loads(host.file("/etc/docker/daemon.json").content_string)["log-driver"] == "local"
    assert host.check_output("docker info --format %s", "{{.LoggingDriver}}") == "local"


def test_a_mirror_configured_after_the_package_index_was_read_is_read_before_installing(
    labhosts: Callable[..., list[LabHost]],
    local_apt_repo: Callable[..., Path],
    play: Callable[..., PlayResult],
    tmp_path: Path,
) -> None:
    # Issue 15, seen on cold CI: the host read its package index minutes ago (well within
    # docker_apt_cache_valid_time), from sources that do not offer docker.io; then the lab's mirror was configured.
    (docker_host,) = labhosts(1, apt_repo=local_apt_repo("docker.io"))
    host = host_state(docker_host)
    host.run_test("mkdir -p /srv/old-mirror && : > /srv/old-mirror/Packages")
    host.run_test("echo 'deb [trusted=yes] file:/srv/old-mirror ./' > /etc/apt/sources.list && apt-get update -qq")
    host.run_test("touch -d '10 minutes ago' /etc/apt/sources.list /var/lib/apt/lists")
    host.run_test(f"echo 'deb [trusted=yes] file:{LABHOST_APT_REPO} ./' > /etc/apt/sources.list")
    # The state that failed: an index exists, is younger than an hour, and does not know docker.io.
    assert host.file("/var/lib/apt/lists/_srv_old-mirror_._Packages").exists
    assert host.run("apt-cache show docker.io").rc != 0

    inventory = write_inventory(tmp_path / "hosts.yml", {"cloud": [docker_host]})
    result = play("playbooks/docker.yml", inventory, extra_vars=NESTED)
    assert result.returncode == 0, result.output
    assert host.package("docker.io").is_installed
    assert host.service("docker").is_running


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("docker_package_state", "absent", "docker_package_state"),
        ("docker_users", "lab", "docker_users"),
    ],
)
def test_bad_role_arguments_are_refused_by_name(
    docker_host: LabHost, play: Callable[..., PlayResult], tmp_path: Path, variable: str, value: str, message: str
) -> None:
    inventory = write_inventory(tmp_path / "hosts.yml", {"cloud": [docker_host]})
    result = play("playbooks/docker.yml", inventory, extra_vars={variable: value})
    assert result.returncode != 0
    assert "Validating arguments against arg spec" in result.output
    assert message in result.output
