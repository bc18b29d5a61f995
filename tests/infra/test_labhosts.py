"""Lab-host containers behave like small machines: systemd, a private network, and Ansible can manage them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from .fixtures import LabHost, authorize_ssh_key, ssh_key_pair

Factory = Callable[[int], list[LabHost]]
ANSIBLE = str(Path(sys.executable).parent / "ansible")

CONNECT_SCRIPT = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
print(s.recv(64).decode(errors="replace").strip())
"""


def test_labhost_runs_systemd_as_pid_1_with_sshd_active(labhosts: Factory) -> None:
    (host,) = labhosts(1)
    assert host.exec("cat", "/proc/1/comm").stdout.strip() == "systemd"
    assert host.exec("systemctl", "is-active", "ssh").stdout.strip() == "active"


def test_labhosts_reach_each_other_by_name_on_the_private_network(labhosts: Factory) -> None:
    first, second = labhosts(2)
    banner = first.exec("python3", "-c", CONNECT_SCRIPT, second.hostname, "22", "5").stdout
    assert banner.startswith("SSH-2.0-OpenSSH")


def test_labhosts_cannot_reach_outside_addresses(labhosts: Factory) -> None:
    (host,) = labhosts(1)
    # 192.0.2.1 (TEST-NET-1) stands for "anything outside"; the internal network must not route there.
    proc = host.exec("python3", "-c", CONNECT_SCRIPT, "192.0.2.1", "80", "2", check=False)
    assert proc.returncode != 0
    assert any(reason in proc.stderr for reason in ("TimeoutError", "timed out", "Network is unreachable")), proc.stderr


# --------------------------------------------------------------------------------------------- Ansible


def _ansible_env(tmp_path: Path) -> dict[str, str]:
    """Ansible isolated from the user's and the repository's configuration, so the test means the same everywhere."""
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(
        textwrap.dedent(
            """\
            [defaults]
            host_key_checking = False
            interpreter_python = /usr/bin/python3
            """
        )
    )
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(cfg),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
    }


def _inventory(tmp_path: Path, hosts: list[LabHost], connection: str) -> Path:
    lines = ["[labhosts]"]
    if connection == "docker":
        # community.docker.docker runs `docker exec` as `lab`; nothing needs SSH.
        lines += [
            f"{h.hostname} ansible_connection=community.docker.docker ansible_host={h.name} ansible_user=lab"
            for h in hosts
        ]
    else:
        key = ssh_key_pair(tmp_path)
        for h in hosts:
            authorize_ssh_key(h, key)
        opts = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
        lines += [
            f"{h.hostname} ansible_connection=ssh ansible_host={h.ip} ansible_user=lab "
            f"ansible_ssh_private_key_file={key} ansible_ssh_common_args='{opts}'"
            for h in hosts
        ]
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    return inventory


def _ansible(tmp_path: Path, inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ANSIBLE, "labhosts", "-i", str(inventory), "--one-line", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=_ansible_env(tmp_path),
    )


@pytest.mark.parametrize("connection", ["docker", "ssh"])
def test_ansible_ping_reaches_every_labhost(labhosts: Factory, tmp_path: Path, connection: str) -> None:
    hosts = labhosts(2)
    proc = _ansible(tmp_path, _inventory(tmp_path, hosts, connection), "-m", "ansible.builtin.ping")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in hosts:
        assert f'{host.hostname} | SUCCESS => {{"changed": false,"ping": "pong"}}' in proc.stdout.replace(", ", ",")


def test_ansible_become_on_a_labhost_runs_as_root(labhosts: Factory, tmp_path: Path) -> None:
    hosts = labhosts(1)
    proc = _ansible(
        tmp_path, _inventory(tmp_path, hosts, "docker"), "--become", "-m", "ansible.builtin.command", "-a", "id -un"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("(stdout) root")
