"""`--check` on a fresh multi-host inventory: the cluster's playbooks (nodes, control plane, joins, the lab's images)
complete on hosts that have nothing yet, report what they would change, and change nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from infra.fixtures import LabHost

from .conftest import KUBE_NODE_PACKAGES, PlayResult, container_cluster_variables, host_state, write_inventory


def test_check_mode_on_fresh_hosts_reports_the_changes_and_makes_none(
    labhosts: Callable[..., list[LabHost]],
    local_apt_repo: Callable[..., Path],
    kube_binaries: Path,
    kube_images_tar: Path,
    play: Callable[..., PlayResult],
    tmp_path: Path,
) -> None:
    cloud, edge = labhosts(2, apt_repo=local_apt_repo(*KUBE_NODE_PACKAGES), kube_node=True)
    kubeconfig = tmp_path / "lab" / "kubeconfig"
    inventory = write_inventory(
        tmp_path / "hosts.yml",
        {"cloud": [cloud], "edge": [edge]},
        {
            **container_cluster_variables(kube_binaries, kube_images_tar, cloud, kubeconfig),
            "kube_images_list": ["ianvs-lab/base:bookworm"],
            "kube_images_archive_dir": str(tmp_path / "archives"),
        },
    )
    for playbook in ("playbooks/kube_cluster.yml", "playbooks/kube_images.yml"):
        checked = play(playbook, inventory, check=True, timeout_s=900)
        assert checked.returncode == 0, checked.output
        recap = checked.recap()
        assert set(recap) == {cloud.hostname, edge.hostname}, checked.output
        assert all(stats["changed"] > 0 for stats in recap.values()), (playbook, recap)
    for host in (cloud, edge):
        state = host_state(host)
        assert not state.package("containerd").is_installed, host.hostname
        assert not state.file("/usr/bin/kubeadm").exists, host.hostname
        assert not state.file("/var/lib/ianvs-lab").exists, host.hostname
    assert not kubeconfig.exists()
    assert not (tmp_path / "archives").exists()
