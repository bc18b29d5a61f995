"""The single-host lab of a benchmarking job's ``simulation:`` section (its system config), as the proposal's
Simulation System Administrator builds it: host checks first (nothing is created when one fails), a kind cluster of
cloud and edge nodes (roles/kind_cluster), the Simulation Job Controller in it (roles/simulation_controller), and
its removal, which leaves no node container, network, volume or kubeconfig behind (docs/lab.md).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.config.models import SimulationConfig
from controller.errors import ClusterError, ConfigError, LabError
from controller.lab.runner import REPO, PlaybookRun, run_playbook
from controller.userdirs import cache_dir, state_dir

if TYPE_CHECKING:
    from controller.config.loader import JobConfig
    from controller.plan import CaseSpec

SINGLE_HOST = REPO / "inventories" / "single-host"
KIND_CLUSTER = "playbooks/kind_cluster.yml"
SIMULATION_CONTROLLER = "playbooks/simulation_controller.yml"
ROLE_LABEL = "ianvs-lab/role"
CONTROL_PLANE_TOLERATION = {
    "key": "node-role.kubernetes.io/control-plane",
    "operator": "Exists",
    "effect": "NoSchedule",
}
NODE_IMAGE_SCRIPT = REPO / "scripts" / "kind-node-image"

log = logging.getLogger("controller.cli")
progress = logging.getLogger("controller.progress")


def labs_dir() -> Path:
    """Where each lab keeps its kind config and kubeconfig: ``$XDG_STATE_HOME/ianvs-lab/labs/<cluster_name>/``."""
    return state_dir("labs")


def kind_binary() -> str:
    """kind on PATH, else the one the test environment builds (``scripts/testenv build kind``)."""
    found = shutil.which("kind")
    if found:
        return found
    versions = _versions()
    built = cache_dir("testenv", "bin", versions.get("KIND_VERSION", ""), "kind")
    return str(built) if built.is_file() else "kind"


def _versions() -> dict[str, str]:
    path = REPO / "scripts" / "testenv.versions"
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


@dataclass(frozen=True)
class KindLab:
    """A kind lab for one system config, and what the job's cases need inside it."""

    simulation: SimulationConfig
    host_paths: tuple[str, ...] = ()
    """host folders the cases read (datasets, plugin files): visible at the same paths in every node"""
    workspace: str = ""
    """host folder for the case Pods' workspaces (models, logs): visible at the same path in every node"""
    images: tuple[str, ...] = ()
    """Docker images loaded into every node (the controller image and the case images)"""
    controller_image: str = ""

    @property
    def name(self) -> str:
        return self.simulation.cluster_name

    @property
    def state_dir(self) -> Path:
        return labs_dir() / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    def case_node_selector(self) -> dict[str, str]:
        return case_node_selector(self.simulation)

    def cluster_vars(self, state: str, unprivileged: bool = False) -> dict[str, Any]:
        sim = self.simulation
        mounts = list(outermost([Path(p) for p in (*self.host_paths, *([self.workspace] if self.workspace else []))]))
        return {
            "lab_kind_cluster": True,  # the stage is opt-in in site.yml; here the system config asks for it
            "kind_cluster_state": state,
            "kind_cluster_name": self.name,
            "kind_cluster_cloud_number": sim.cloud_number,
            "kind_cluster_edge_number": sim.edge_number,
            "kind_cluster_node_image": sim.effective_node_image(),
            "kind_cluster_kind_binary": kind_binary(),
            "kind_cluster_unprivileged": unprivileged,
            "kind_cluster_state_dir": str(self.state_dir),
            "kind_cluster_mounts": mounts,
            "kind_cluster_ready_timeout": sim.timeout,
            "kind_cluster_images": list(self.images),
        }

    def controller_vars(self) -> dict[str, Any]:
        return job_controller_vars(
            self.simulation,
            kubeconfig=self.kubeconfig,
            image=self.controller_image,
            workspace=self.workspace,
            host_paths=self.host_paths,
        )

    def host_check_vars(self) -> dict[str, Any]:
        return {
            "host_check_kind_host": True,
            "host_check_kind_binary": kind_binary(),
            "host_check_privileged_probe_image": self.simulation.effective_node_image()
            if _image_present(self.simulation.effective_node_image())
            else "ianvs-lab/base:bookworm",
            "host_check_unprivileged_ok": self.simulation.unprivileged is not False,
        }


def case_node_selector(simulation: SimulationConfig) -> dict[str, str]:
    """Where case Pods go: the nodes of the system config's ``case_placement`` (ConfigError when a kind lab would
    have none)."""
    placement = simulation.case_placement
    if placement == "edge" and simulation.edge_number == 0 and simulation.inventory is None:
        raise ConfigError(
            "simulation.case_placement is edge, but simulation.edge_number is 0: add edge nodes, "
            "or set case_placement: cloud (or any)"
        )
    return {} if placement == "any" else {ROLE_LABEL: placement}


def job_controller_vars(
    simulation: SimulationConfig, *, kubeconfig: Path, image: str, workspace: str, host_paths: Sequence[str]
) -> dict[str, Any]:
    """roles/simulation_controller's variables for a lab the controller built: its images were loaded into the
    nodes, the controller on the cloud side, the cases where the system config places them."""
    return {
        "simulation_controller_state": "present",
        "simulation_controller_kubeconfig": str(kubeconfig),
        "simulation_controller_namespace": simulation.namespace,
        "simulation_controller_image": image,
        # the images were loaded into the nodes; nothing can be pulled
        "simulation_controller_image_pull_policy": "Never",
        "simulation_controller_workspace": workspace,
        "simulation_controller_host_paths": sorted(set(host_paths)),
        "simulation_controller_node_selector": {ROLE_LABEL: "cloud"},
        "simulation_controller_case_node_selector": case_node_selector(simulation),
        # the first cloud node is the control plane, which kubeadm taints; the controller (and cases placed on the
        # cloud) may run there
        "simulation_controller_tolerations": [CONTROL_PLANE_TOLERATION],
    }


def check_host(lab: KindLab, extravars: dict[str, Any] | None = None) -> bool:
    """Run the host checks, print their table; True when privileged containers work. Raises when a check fails."""
    from controller.lab.host_checks import run_host_checks

    progress.info("lab %s: host checks", lab.name)
    report = run_host_checks(SINGLE_HOST, {**lab.host_check_vars(), **(extravars or {})}, on_task=_on_task)
    print(report.table(), flush=True)
    if not report.ok:
        report.log_failures()
        failed = ", ".join(check.name for check in report.failed) or "a host check task"
        raise LabError(f"lab {lab.name}: host checks failed ({failed}); nothing was created")
    return report.value("privileged_containers") == "yes"


def privileged_works(image: str) -> bool:
    """Whether the Docker engine starts a privileged container (what kind asks for), tried with a local image."""
    proc = subprocess.run(
        ["docker", "run", "--rm", "--privileged", "--network", "none", "--entrypoint", "/bin/true", image],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def up(lab: KindLab, *, privileged: bool | None = None, extravars: dict[str, Any] | None = None) -> Path:
    """Build the lab (or keep the running one of the same size) and deploy the job controller; its kubeconfig.

    ``privileged``: whether the host grants privileged containers, when the host checks already ran (else they run
    here first, and nothing is created when one fails). ``extravars`` (``controller lab up JOB -e VAR=VALUE``)
    override the roles' variables, e.g. a check threshold.
    """
    extra = extravars or {}
    if privileged is None:
        privileged = check_host(lab, extra)
    setting = lab.simulation.unprivileged
    unprivileged = setting is True or (setting == "auto" and not privileged)
    if unprivileged:
        why = "the system config asks for it" if setting is True else "this host refuses privileged containers"
        progress.info("lab %s: kind runs through the docker wrapper (%s)", lab.name, why)
    sim = lab.simulation
    progress.info(
        "lab %s: %d cloud + %d edge node(s) from %s",
        lab.name,
        sim.cloud_number,
        sim.edge_number,
        sim.effective_node_image(),
    )
    up_cluster(lab, unprivileged, extra)
    progress.info("lab %s: deploying the Simulation Job Controller (namespace %s)", lab.name, sim.namespace)
    play(SIMULATION_CONTROLLER, {**lab.controller_vars(), **extra}, f"lab {lab.name}")
    progress.info("lab %s is up; kubeconfig %s", lab.name, lab.kubeconfig)
    return lab.kubeconfig


def up_cluster(lab: KindLab, unprivileged: bool, extravars: dict[str, Any] | None = None) -> PlaybookRun:
    """Only the kind cluster (roles/kind_cluster): created, or kept when it is the same; no checks, no controller."""
    return play(KIND_CLUSTER, {**lab.cluster_vars("present", unprivileged), **(extravars or {})}, f"lab {lab.name}")


def down(lab: KindLab) -> PlaybookRun:
    """Delete the lab's cluster, network and state folder; a lab that is not there is a no-op."""
    progress.info("lab %s: removing it", lab.name)
    return play(KIND_CLUSTER, lab.cluster_vars("absent"), f"lab {lab.name}")


def status(lab: KindLab) -> tuple[str, bool]:
    """A table of the lab's nodes (container state, Kubernetes role and readiness); whether the lab is up."""
    from controller.report.table import plain_table

    containers = node_containers(lab.name)
    ready = _ready_nodes(lab.kubeconfig) if lab.kubeconfig.is_file() and containers else {}
    rows = [("node", "container", "role", "ready")]
    for node in lab.simulation.nodes():
        rows.append(
            (node.name, containers.get(node.name, "absent"), node.role, ready.get(node.name, "-") if ready else "-")
        )
    for extra in sorted(set(containers) - set(lab.simulation.node_names())):
        rows.append((extra, containers[extra], "not in the system config", ready.get(extra, "-")))
    up_ = bool(containers) and all(ready.get(name) == "yes" for name in lab.simulation.node_names())
    return plain_table(rows), up_


def build_node_image(force: bool = False) -> int:
    """``scripts/kind-node-image``: the offline node image of this checkout's Kubernetes version."""
    if not NODE_IMAGE_SCRIPT.is_file():
        raise ConfigError("the node image is built from a checkout of ianvs-lab", file=NODE_IMAGE_SCRIPT)
    return subprocess.run([str(NODE_IMAGE_SCRIPT), *(["--force"] if force else [])], check=False).returncode


def play(playbook: str, extravars: dict[str, Any], what: str, inventory: Path = SINGLE_HOST) -> PlaybookRun:
    """Run a lab playbook; LabError naming every failed host and task (unreachable hosts included)."""
    run = run_playbook(playbook, inventory, extravars=extravars, on_task=_on_task)
    for host, stats in sorted(run.stats.items()):
        progress.info("%s: %s on %s: changed=%d failed=%d", what, playbook, host, stats["changed"], stats["failed"])
    if not run.ok:
        reasons = "; ".join(f"{f.host}: {f.task}: {f.message}" for f in run.failures if not f.ignored)
        raise LabError(f"{what}: {playbook} failed: {reasons or run.error or run.status}")
    return run


def _on_task(task: str) -> None:
    if task:
        progress.info("  %s", task)


def _image_present(image: str) -> bool:
    proc = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    return proc.returncode == 0


def node_containers(name: str) -> dict[str, str]:
    """The node containers of kind cluster ``name`` and their state (running, exited, ...)."""
    proc = subprocess.run(
        [
            "docker",
            "ps",
            "--all",
            "--format",
            "{{.Names}} {{.State}}",
            "--filter",
            f"label=io.x-k8s.kind.cluster={name}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ClusterError(f"docker does not answer: {proc.stderr.strip()}")
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)


def _ready_nodes(kubeconfig: Path) -> dict[str, str]:
    from controller.simulation.kube import node_states, reason

    try:
        nodes = node_states(kubeconfig)
    except Exception as exc:  # an unreachable API server is a status, not a crash
        log.warning("lab API server does not answer: %s", reason(exc))
        return {}
    return {name: "yes" if node.ready else "no" for name, node in nodes.items()}


def for_job(config: JobConfig, specs: Sequence[CaseSpec], root: Path, image: str) -> KindLab:
    """The lab of ``config``'s ``simulation:`` section, with the host folders its cases read mounted into every
    node, ``<workspace>/lab`` as the case Pods' workspace, and ``image`` as controller and case image."""
    from controller.plan import content_digests

    if config.job.simulation is None:
        raise ConfigError("no simulation: section, so there is no lab to build", file=config.file)
    named = [Path(path) for spec in specs for path in content_digests(spec)]
    named += [config.testenv.train_index, config.testenv.test_index]
    # a symlinked dataset folder must be visible where its link points, too
    read = [config.file.parent, *(path.parent for path in named), *(path.resolve().parent for path in named)]
    if config.testenv.dataset is not None:  # downloaded into dataset_path; its images are named relative to it
        read += [config.testenv.dataset.path, config.testenv.dataset.path.resolve()]
    return KindLab(
        config.job.simulation,
        host_paths=outermost(read),
        workspace=str(root / "lab"),
        images=(image,) if image else (),
        controller_image=image,
    )


def outermost(folders: Sequence[Path]) -> tuple[str, ...]:
    """The folders not inside another one of them (a kind mount of the outer one shows the inner one too)."""
    unique = sorted({Path(os.path.abspath(folder)) for folder in folders})
    kept: list[Path] = []
    for folder in unique:
        if not any(folder.is_relative_to(outer) for outer in kept):
            kept.append(folder)
    return tuple(str(folder) for folder in kept)
