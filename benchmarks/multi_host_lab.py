"""The multi-host rows of benchmarks/lab_bench.py (`--multi-host 1+2`): a lab of CLOUD+EDGE fresh lab-host
containers standing in for machines (the test suite's, tests/infra/fixtures.py) built by controller.lab.kube_lab
exactly as `controller lab up JOB.yaml` builds it for a job with ``simulation.inventory``.

    cold_s     kube_lab.up on fresh hosts: packages, binaries and 587 MB of component images copied, kubeadm
               init and joins, the controller image imported into every node, the job controller deployed
               (split: cluster / images / controller)
    warm_s     kube_lab.up again on the running lab (its changed count is shown: expected 0 on every host)
    down_s     playbooks/teardown.yml; down2_s once more, with nothing left to remove

The hosts, their network and the kubelets' cgroup roots are removed at the end, also on a failure or Ctrl-C.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from controller.userdirs import cache_dir

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test suite's lab hosts (infra.fixtures) and inventories (ansible_roles)
GOAL_COLD_SIZE = (1, 2)
GOAL_COLD_S = 300.0


@dataclass
class MultiHostResult:
    cloud: int
    edge: int
    hosts_s: float | None = None
    cold_s: dict[str, float] = field(default_factory=dict)
    warm_s: float | None = None
    warm_changed: int | None = None
    down_s: float | None = None
    down2_s: float | None = None
    down2_changed: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.cloud}+{self.edge}"

    @property
    def cold_total_s(self) -> float | None:
        return sum(self.cold_s.values()) if len(self.cold_s) == 3 else None


def _step(message: str) -> None:
    print(f"[lab_bench] {message}", file=sys.stderr, flush=True)


def _prerequisites(workdir: Path) -> tuple[Path, Path, Path]:
    """The apt repository of the node packages, the kube binaries and the component images tarball (all cached
    per user by the scripts the test suite uses)."""
    from ansible_roles.conftest import KUBE_NODE_PACKAGES

    def script(*args: str) -> str:
        proc = subprocess.run([str(REPO / "scripts" / args[0]), *args[1:]], capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            sys.exit(f"scripts/{' '.join(args)} failed: {(proc.stdout + proc.stderr)[-2000:]}")
        return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""

    apt_repo = Path(script("apt-repo", *KUBE_NODE_PACKAGES))
    script("testenv", "build", "kubeadm", "kubelet", "kubectl")
    from infra.fixtures import SCRIPTS, read_key_values

    versions = read_key_values(SCRIPTS / "testenv.versions")
    binaries = cache_dir("testenv", "bin", versions["K8S_VERSION"])
    image = script("kind-node-image", "--print")
    container = subprocess.run(["docker", "create", image], capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["docker", "cp", f"{container}:/kind/images/components.tar", str(workdir)], check=True)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    return apt_repo, binaries, workdir / "components.tar"


def measure_multi_host(cloud: int, edge: int, controller_image: str) -> MultiHostResult:
    from ansible_roles.conftest import cgroup_root, container_cluster_variables, remove_cgroup_roots, write_inventory
    from infra.fixtures import BASE_IMAGE, LABHOST_IMAGE, BaseImages, LabHostFactory

    from controller.config.models import SimulationConfig
    from controller.errors import IanvsLabError
    from controller.lab import kube_lab
    from controller.lab.runner import PlaybookRun

    result = MultiHostResult(cloud, edge)
    workdir = Path(tempfile.mkdtemp(prefix="ianvs-lab-bench-"))
    factory = LabHostFactory(images=BaseImages(base=BASE_IMAGE, labhost=LABHOST_IMAGE), test_name="bench")
    hosts = []
    lab = None
    try:
        apt_repo, binaries, images_tar = _prerequisites(workdir)
        _step(f"multi-host {result.label}: starting {cloud + edge} fresh lab hosts (not timed in up)")
        started = time.monotonic()
        hosts = factory(cloud + edge, apt_repo=apt_repo, kube_node=True)
        result.hosts_s = time.monotonic() - started
        kubeconfig = workdir / "kubeconfig"  # the inventory's; kube_lab puts the lab's in its own state folder
        inventory = write_inventory(
            workdir / "hosts.json",
            {"cloud": hosts[:cloud], "edge": hosts[cloud:]},
            container_cluster_variables(binaries, images_tar, hosts[0], kubeconfig),
            host_variables=lambda host: {"kube_node_cgroup_root": cgroup_root(host)},
        )
        lab = kube_lab.KubeLab(
            SimulationConfig(inventory=inventory, cluster_name=f"ianvs-lab-bench-hosts-{cloud}-{edge}"),
            controller_image=controller_image,
        )
        _step(f"multi-host {result.label}: lab up from fresh hosts")

        def cold(playbook: str, run: PlaybookRun, seconds: float) -> None:
            result.cold_s[Path(playbook).stem] = seconds

        kube_lab.up(lab, on_play=cold)
        _step(f"multi-host {result.label}: lab up again")
        changed: list[int] = []

        def warm(playbook: str, run: PlaybookRun, seconds: float) -> None:
            changed.append(sum(stats["changed"] for stats in run.stats.values()))

        started = time.monotonic()
        kube_lab.up(lab, on_play=warm)
        result.warm_s, result.warm_changed = time.monotonic() - started, sum(changed)
        _step(f"multi-host {result.label}: lab down")
        started = time.monotonic()
        kube_lab.down(lab)
        result.down_s = time.monotonic() - started
        started = time.monotonic()
        again = kube_lab.down(lab)
        result.down2_s = time.monotonic() - started
        result.down2_changed = sum(stats["changed"] for stats in again.stats.values())
    except IanvsLabError as err:
        result.notes.append(f"failed: {err}")
        if lab is not None and result.down_s is None:
            try:
                kube_lab.down(lab)
            except IanvsLabError as down_err:
                result.notes.append(f"teardown failed too: {down_err}")
    finally:
        factory.cleanup()
        remove_cgroup_roots(hosts)
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
    return result


def print_rows(results: list[MultiHostResult]) -> None:
    print()
    print("multi-host lab (lab-host containers standing in for machines, kubeadm; kube_lab.up as `lab up JOB.yaml`)")
    print(
        f"{'hosts':<6} {'start_s':>7} {'cold_s':>7} {'cluster':>8} {'images':>7} {'ctrl':>6} "
        f"{'warm_s':>7} {'changed':>7} {'down_s':>7} {'down2_s':>8} {'changed':>7}"
    )
    for r in results:
        split = [r.cold_s.get(k) for k in ("kube_cluster", "kube_images", "simulation_controller")]
        cells = [_s(r.hosts_s), _s(r.cold_total_s), *(_s(v) for v in split), _s(r.warm_s)]
        print(
            f"{r.label:<6} {cells[0]:>7} {cells[1]:>7} {cells[2]:>8} {cells[3]:>7} {cells[4]:>6} {cells[5]:>7} "
            f"{_n(r.warm_changed):>7} {_s(r.down_s):>7} {_s(r.down2_s):>8} {_n(r.down2_changed):>7}"
        )
        for note in r.notes:
            print(f"       {r.label}: {note}")
    goal = next((r for r in results if (r.cloud, r.edge) == GOAL_COLD_SIZE), None)
    cold = goal.cold_total_s if goal else None
    verdict = "not measured" if cold is None else ("PASS" if cold < GOAL_COLD_S else "MISS")
    print(
        f"goal (issue 11 §4): a {GOAL_COLD_SIZE[0]}+{GOAL_COLD_SIZE[1]} lab from fresh hosts under "
        f"{GOAL_COLD_S:.0f} s: {_s(cold)} s  {verdict}"
    )


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)
