"""The kube_node role's refusals: a host or an input that fails preflight is named with its fix, and nothing is
installed. What the role installs, and that a second run changes nothing, test_kube_cluster.py checks on the
nodes of a real cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from infra.fixtures import LabHost

from .conftest import KUBE_NODE_PACKAGES, PlayResult, host_state, sha256_of, write_inventory

PLAYBOOK = "playbooks/kube_node.yml"


def _variables(kube_binaries: Path, **more: Any) -> dict[str, Any]:
    # lab hosts are containers: no CAP_SYS_RESOURCE, and the host's cgroup tree (cgroupfs, one root per node)
    return {
        "kube_node_binaries_src": str(kube_binaries),
        "kube_node_restrict_oom_score_adj": True,
        "kube_node_cgroup_driver": "cgroupfs",
        "kube_node_fail_swap_on": False,
        **more,
    }


def _nothing_installed(host: LabHost) -> bool:
    state = host_state(host)
    return not state.package("containerd").is_installed and not state.file("/usr/bin/kubeadm").exists


@pytest.fixture
def node_host(labhosts: Callable[..., list[LabHost]], local_apt_repo: Callable[..., Path]) -> LabHost:
    (host,) = labhosts(1, apt_repo=local_apt_repo(*KUBE_NODE_PACKAGES), kube_node=True)
    return host


@pytest.fixture
def inventory(node_host: LabHost, tmp_path: Path) -> Path:
    return write_inventory(tmp_path / "hosts.yml", {"edge": [node_host]})


def test_a_binary_whose_checksum_differs_is_refused_before_anything_is_installed(
    node_host: LabHost, inventory: Path, kube_binaries: Path, play: Callable[..., PlayResult]
) -> None:
    wrong = {"kubeadm": "sha256:" + "0" * 64}
    result = play(PLAYBOOK, inventory, extra_vars=_variables(kube_binaries, kube_node_binaries_checksums=wrong))
    assert result.returncode != 0
    assert f"{kube_binaries}/kubeadm: sha256:{sha256_of(kube_binaries / 'kubeadm')}, expected sha256:{'0' * 64}" in (
        " ".join(result.output.split())
    )
    assert _nothing_installed(node_host)


def test_a_download_without_checksums_is_refused_naming_the_binaries(
    node_host: LabHost, inventory: Path, play: Callable[..., PlayResult]
) -> None:
    result = play(PLAYBOOK, inventory)
    assert result.returncode != 0
    assert "kube_node_binaries_checksums must name kubeadm, kubelet, kubectl" in " ".join(result.output.split())
    assert _nothing_installed(node_host)


def test_a_host_failing_preflight_is_named_with_the_fix_and_left_alone(
    node_host: LabHost, inventory: Path, kube_binaries: Path, play: Callable[..., PlayResult]
) -> None:
    result = play(PLAYBOOK, inventory, extra_vars=_variables(kube_binaries, kube_node_min_memory_mb=10**7))
    assert result.returncode != 0
    output = " ".join(result.output.split())
    assert f"{node_host.hostname}:" in output and "kube_node_min_memory_mb is 10000000 (add memory" in output
    assert _nothing_installed(node_host)


def test_a_busy_kubelet_port_is_named_with_what_to_do(
    node_host: LabHost, inventory: Path, kube_binaries: Path, play: Callable[..., PlayResult]
) -> None:
    node_host.exec("sh", "-c", "nohup python3 -m http.server 10250 >/dev/null 2>&1 &")
    listening = "for i in $(seq 100); do ss -Hltn | grep -q ':10250 ' && exit 0; sleep 0.1; done; exit 1"
    assert node_host.exec("sh", "-c", listening, check=False).returncode == 0, "the stand-in never listened"
    result = play(PLAYBOOK, inventory, extra_vars=_variables(kube_binaries))
    assert result.returncode != 0
    assert "port(s) 10250 already in use" in " ".join(result.output.split())
    assert _nothing_installed(node_host)
