"""The multi-host lab of a benchmarking job whose ``simulation:`` section names an Ansible ``inventory``: the
inventory's ``cloud`` and ``edge`` machines joined into one Kubernetes cluster (playbooks/kube_cluster.yml), the
controller image imported into every node (playbooks/kube_images.yml), the Simulation Job Controller deployed
through the fetched kubeconfig (playbooks/simulation_controller.yml, run on this machine as for a kind lab), and
its removal (playbooks/teardown.yml). The nodes do not share this machine's folders: the cases' files reach them
as case data (controller/simulation/case_data.py). docs/multi-host-lab.md.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.config.models import SimulationConfig
from controller.errors import ConfigError
from controller.lab.kind_lab import SINGLE_HOST, job_controller_vars, labs_dir, play
from controller.lab.runner import PlaybookRun
from controller.simulation.case_data import DEFAULT_DATA_CACHE

KUBE_CLUSTER = "playbooks/kube_cluster.yml"
KUBE_IMAGES = "playbooks/kube_images.yml"
TEARDOWN = "playbooks/teardown.yml"
SIMULATION_CONTROLLER = "playbooks/simulation_controller.yml"
NODE_WORKSPACE = "/var/lib/ianvs-lab/workspace"
"""case workspaces (models, logs) on each node; results come back through ConfigMaps"""

progress = logging.getLogger("controller.progress")


@dataclass(frozen=True)
class KubeLab:
    """A kubeadm lab over an inventory's machines, and the image its cases run in."""

    simulation: SimulationConfig
    controller_image: str = ""

    @property
    def inventory(self) -> Path:
        if self.simulation.inventory is None:
            raise ConfigError("simulation.inventory is not set: this job's lab is a kind cluster on this host")
        return self.simulation.inventory

    @property
    def name(self) -> str:
        return self.simulation.cluster_name

    @property
    def kubeconfig(self) -> Path:
        return labs_dir() / self.name / "kubeconfig"

    def cluster_vars(self) -> dict[str, Any]:
        kubeconfig = str(self.kubeconfig)
        return {
            "lab_kube_cluster": True,  # the system config asks for the cluster, whatever the inventory says
            "kube_control_plane_cluster_name": self.name,
            "kube_control_plane_kubeconfig_dest": kubeconfig,
            "kube_join_kubeconfig": kubeconfig,
            "kube_reset_kubeconfig": kubeconfig,
            "kube_join_ready_timeout": self.simulation.timeout,
        }

    def images_vars(self) -> dict[str, Any]:
        return {"lab_kube_cluster": True, "kube_images_list": [self.controller_image]}

    def controller_vars(self) -> dict[str, Any]:
        return job_controller_vars(
            self.simulation,
            kubeconfig=self.kubeconfig,
            image=self.controller_image,
            workspace=NODE_WORKSPACE,
            host_paths=(),
        )


OnPlay = Callable[[str, PlaybookRun, float], None]
"""called after each playbook of `up` with its name, its run and its seconds (benchmarks/lab_bench.py)"""


def up(lab: KubeLab, extravars: dict[str, Any] | None = None, on_play: OnPlay | None = None) -> Path:
    """Build the cluster (or keep it: every role is idempotent), import the controller image into every node and
    deploy the job controller; the lab's kubeconfig. Fails (LabError) naming the host and task that failed."""
    extra = extravars or {}
    steps = (
        (KUBE_CLUSTER, lab.cluster_vars(), lab.inventory, f"a cluster of the machines in {lab.inventory}"),
        (KUBE_IMAGES, lab.images_vars(), lab.inventory, f"{lab.controller_image} on every node"),
        (
            SIMULATION_CONTROLLER,
            lab.controller_vars(),
            SINGLE_HOST,
            f"deploying the Simulation Job Controller (namespace {lab.simulation.namespace})",
        ),
    )
    for playbook, variables, inventory, what in steps:
        progress.info("lab %s: %s", lab.name, what)
        started = time.monotonic()
        run = play(playbook, {**variables, **extra}, f"lab {lab.name}", inventory)
        if on_play is not None:
            on_play(playbook, run, time.monotonic() - started)
    progress.info(
        "lab %s is up; kubeconfig %s; case data cache %s on each node", lab.name, lab.kubeconfig, DEFAULT_DATA_CACHE
    )
    return lab.kubeconfig


def down(lab: KubeLab, extravars: dict[str, Any] | None = None) -> PlaybookRun:
    """Every machine taken out of the cluster (kubeadm reset, state, routes, the lab's images, the kubeconfig); a
    lab that is not there is a no-op."""
    progress.info("lab %s: taking the machines in %s out of it", lab.name, lab.inventory)
    run = play(TEARDOWN, {**lab.cluster_vars(), **(extravars or {})}, f"lab {lab.name}", lab.inventory)
    # the teardown removed the kubeconfig; its folder goes too unless something else was put there
    with contextlib.suppress(OSError):  # absent, or not empty
        lab.kubeconfig.parent.rmdir()
    return run


def status(lab: KubeLab) -> tuple[str, bool]:
    """A table of the lab's nodes (role label, readiness) as its API server sees them; whether every one is Ready."""
    from controller.report.table import plain_table
    from controller.simulation.kube import node_states, reason

    rows = [("node", "role", "ready")]
    if not lab.kubeconfig.is_file():
        return plain_table(rows) + f"\n(no kubeconfig at {lab.kubeconfig}: the lab is not up)", False
    try:
        nodes = node_states(lab.kubeconfig)
    except Exception as exc:  # an unreachable API server is a status, not a crash
        return plain_table(rows) + f"\n(the API server does not answer: {reason(exc)})", False
    rows += [(name, node.role, "yes" if node.ready else "no") for name, node in sorted(nodes.items())]
    return plain_table(rows), bool(nodes) and all(node.ready for node in nodes.values())
