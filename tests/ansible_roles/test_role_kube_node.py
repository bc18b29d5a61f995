"""The kube_node role prepares a lab host as a Kubernetes node of a multi-host lab: Debian's containerd configured
for Kubernetes, the pinned kubeadm/kubelet/kubectl copied from the controller's cache, the component images
imported (an air-gapped lab), kernel settings; kubeadm is left to start the kubelet."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from infra.fixtures import LabHost

from .conftest import KUBE_NODE_PACKAGES, PlayResult, host_state, write_inventory

PLAYBOOK = "playbooks/kube_node.yml"
VERSION = "v1.34.12"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def test_a_node_gets_the_runtime_the_binaries_and_the_images_and_a_second_run_changes_nothing(
    node_host: LabHost,
    inventory: Path,
    kube_binaries: Path,
    kube_images_tar: Path,
    play: Callable[..., PlayResult],
) -> None:
    cgroup_root = f"/ianvs-lab-test-{node_host.name}"
    variables = _variables(kube_binaries, kube_node_images_src=str(kube_images_tar), kube_node_cgroup_root=cgroup_root)
    first = play(PLAYBOOK, inventory, extra_vars=variables)
    assert first.returncode == 0, first.output
    state = host_state(node_host)

    assert state.service("containerd").is_running and state.service("containerd").is_enabled
    config = state.file("/etc/containerd/config.toml").content_string
    assert 'sandbox_image = "registry.k8s.io/pause:' in config
    assert "restrict_oom_score_adj = true" in config and "SystemdCgroup = false" in config

    for name in ("kubeadm", "kubelet", "kubectl"):
        installed = state.file(f"/usr/bin/{name}")
        assert (installed.user, installed.mode) == ("root", 0o755)
        assert installed.sha256sum == _sha256(kube_binaries / name)
    assert state.check_output("kubeadm version --output short") == VERSION

    wanted = state.check_output(f"kubeadm config images list --kubernetes-version {VERSION}").split()
    images = state.check_output("ctr --namespace k8s.io images list").splitlines()
    present = {line.split()[0]: line for line in images[1:]}
    assert sorted(set(wanted) - set(present)) == [], images
    assert not state.file("/var/tmp/ianvs-lab-kubernetes-images.tar").exists

    assert state.service("kubelet").is_enabled and not state.service("kubelet").is_running  # kubeadm starts it
    unit = state.check_output("systemctl cat kubelet")
    assert f"--cgroup-root={cgroup_root}" in unit and f"ianvs-lab-kubelet-cgroups {cgroup_root}" in unit
    assert state.file("/opt/cni/bin").linked_to == "/usr/lib/cni"
    persisted = state.file("/etc/sysctl.d/90-ianvs-lab-kubernetes.conf").content_string
    assert "net.ipv4.ip_forward=1" in persisted.replace(" ", "").splitlines()
    assert state.check_output("sysctl -n net.ipv4.ip_forward") == "1"

    again = play(PLAYBOOK, inventory, extra_vars=variables)
    assert again.returncode == 0, again.output
    assert again.recap()[node_host.hostname]["changed"] == 0, again.output


def test_a_binary_whose_checksum_differs_is_refused_before_anything_is_installed(
    node_host: LabHost, inventory: Path, kube_binaries: Path, play: Callable[..., PlayResult]
) -> None:
    wrong = {"kubeadm": "sha256:" + "0" * 64}
    result = play(PLAYBOOK, inventory, extra_vars=_variables(kube_binaries, kube_node_binaries_checksums=wrong))
    assert result.returncode != 0
    assert f"{kube_binaries}/kubeadm: sha256:{_sha256(kube_binaries / 'kubeadm')}, expected sha256:{'0' * 64}" in (
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
