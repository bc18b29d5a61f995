"""Run this repository's playbooks for real against lab-host containers (tests/infra/fixtures.py)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml
from infra.fixtures import LabHost
from testinfra.host import Host

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))
TASK_HEADER = re.compile(r"^TASK \[(?:[\w.]+ : )?(?P<name>.*)\] \**$", re.MULTILINE)
KUBE_NODE_PACKAGES: tuple[str, ...] = tuple(
    yaml.safe_load((REPO / "roles" / "kube_node" / "defaults" / "main.yml").read_text())["kube_node_packages"]
)
"""What the kube_node role installs: the packages a lab host's local apt mirror must hold."""
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class PlayResult:
    returncode: int
    output: str

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP counters per host: {'labhost-1': {'ok': 5, 'changed': 0, ...}}."""
        return {
            m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"} for m in RECAP.finditer(self.output)
        }

    def task_status(self, task: str, host: str) -> str:
        """How ``task`` (its name, without the role) ended on ``host``: 'ok', 'changed', 'skipping', 'fatal', ..."""
        headers = list(TASK_HEADER.finditer(self.output))
        for header, following in zip(headers, headers[1:] + [None]):
            if header["name"] == task:
                section = self.output[header.end() : following.start() if following else len(self.output)]
                found = re.search(rf"^(\w+): \[{re.escape(host)}\]", section, re.MULTILINE)
                return found[1] if found else "not reported"
        return "not run"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def host_state(labhost: LabHost, user: str = "root") -> Host:
    """pytest-testinfra's view of a lab host (its docker backend: `docker exec` as ``user``), to assert what a role
    left behind with ``host.package``, ``host.service``, ``host.file``, ``host.socket``, ``host.user``."""
    return testinfra.get_host(f"docker://{user}@{labhost.name}")


def write_inventory(
    path: Path,
    groups: dict[str, list[LabHost]],
    variables: dict[str, Any] | None = None,
    host_variables: Callable[[LabHost], dict[str, Any]] | None = None,
    ssh_key: Path | None = None,
) -> Path:
    """A YAML inventory reaching lab hosts through `docker exec` (community.docker.docker) as the `lab` user, or
    over SSH at their addresses with ``ssh_key`` (authorized first: `infra.fixtures.authorize_ssh_key`);
    ``host_variables(host)`` adds variables of one host."""

    def reach(host: LabHost) -> dict[str, Any]:
        if ssh_key is None:
            return {"ansible_host": host.name}
        return {
            "ansible_host": host.ip,
            "ansible_connection": "ssh",
            "ansible_ssh_private_key_file": str(ssh_key),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        }

    children = {
        group: {"hosts": {h.hostname: {**reach(h), **(host_variables(h) if host_variables else {})} for h in hosts}}
        for group, hosts in groups.items()
    }
    inventory = {
        "lab": {
            "vars": {
                "ansible_connection": "community.docker.docker",
                "ansible_user": "lab",
                "ansible_python_interpreter": "/usr/bin/python3",
                **(variables or {}),
            },
            "children": children,
        }
    }
    path.write_text(json.dumps(inventory, indent=2))  # JSON is YAML
    return path


def container_cluster_variables(
    kube_binaries: Path, kube_images_tar: Path, cloud: LabHost, kubeconfig: Path
) -> dict[str, Any]:
    """The multi-host lab's group variables for lab-host containers standing in for machines (docs/multi-host-lab.md)."""
    return {
        "lab_kube_cluster": True,
        "kube_node_binaries_src": str(kube_binaries),
        "kube_node_images_src": str(kube_images_tar),
        # containers standing in for machines: no CAP_SYS_RESOURCE, the machine's cgroup tree, its swap
        "kube_node_restrict_oom_score_adj": True,
        "kube_node_cgroup_driver": "cgroupfs",
        "kube_node_fail_swap_on": False,
        "kube_control_plane_cgroup_driver": "cgroupfs",
        "kube_control_plane_fail_swap_on": False,
        "kube_control_plane_ignore_preflight_errors": ["SystemVerification", "Swap"],
        # Docker's resolver answers on 127.0.0.11 only, which CoreDNS would see as a loop; the private network has no
        # resolver to forward to, so names outside the cluster go to the control plane (and fail fast)
        "kube_control_plane_dns_upstream": cloud.ip,
        "kube_control_plane_kubeconfig_dest": str(kubeconfig),
        "kube_join_kubeconfig": str(kubeconfig),
        "kube_reset_kubeconfig": str(kubeconfig),
    }


def cgroup_root(host: LabHost) -> str:
    # the lab hosts share the machine's cgroup tree (--cgroupns=host): each kubelet needs a root of its own
    return f"/{host.name}"


def remove_cgroup_roots(hosts: list[LabHost]) -> None:
    """What a failed test may leave in the machine's cgroup tree: the kubelets' roots, processes killed first."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        for host in hosts:
            root = hierarchy / cgroup_root(host).lstrip("/")
            if not root.is_dir() or root.is_symlink():
                continue
            for procs in root.rglob("cgroup.procs"):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(pid), signal.SIGKILL)
            for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            with contextlib.suppress(OSError):
                root.rmdir()


def run_play(
    playbook: str,
    inventory: Path,
    workdir: Path,
    extra_vars: dict[str, Any] | None = None,
    timeout_s: float = 900,
    check: bool = False,
    limit: str | None = None,
    skip_tags: str | None = None,
) -> PlayResult:
    """ansible-playbook from the repository root, its Ansible home and temporary files under ``workdir``."""
    args = [ANSIBLE_PLAYBOOK, playbook, "-i", str(inventory)]
    if check:
        args.append("--check")
    if limit:
        args += ["--limit", limit]
    if skip_tags:
        args += ["--skip-tags", skip_tags]
    if extra_vars:
        args += ["-e", json.dumps(extra_vars)]
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_HOME": str(workdir / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout_s, env=env)
    return PlayResult(proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture
def play(tmp_path: Path) -> Callable[..., PlayResult]:
    """``play("playbooks/docker.yml", inventory, extra_vars={...})`` runs ansible-playbook from the repository root;
    ``check=True`` runs it in check mode (``--check``): what would change is reported, nothing is changed."""

    def run(
        playbook: str,
        inventory: Path,
        extra_vars: dict[str, Any] | None = None,
        timeout_s: float = 900,
        check: bool = False,
    ) -> PlayResult:
        return run_play(playbook, inventory, tmp_path, extra_vars, timeout_s, check)

    return run
