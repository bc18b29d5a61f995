"""A multi-host lab from an inventory: lab-host containers on a private network (one cloud, two edge), reached by
Ansible over SSH like a lab's machines, become one Kubernetes cluster through playbooks/kube_cluster.yml
(kube_node, kube_control_plane, kube_join), and playbooks/teardown.yml (kube_reset) takes it down again. A third edge host is stopped while the cluster is built
(unreachable), then started to join with a wrong endpoint (a join that fails). One cluster for the module; the
tests run in order."""

from __future__ import annotations

import csv
import json
import random
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from infra.fixtures import (
    BaseImages,
    LabHost,
    LabHostFactory,
    authorize_ssh_key,
    container_ip,
    docker,
    ssh_key_pair,
    wait_for_systemd,
)

from controller.lab.kind_lab import labs_dir
from tests.conftest import EXAMPLE, edit_yaml, keep_algorithms

from .conftest import (
    KUBE_NODE_PACKAGES,
    PlayResult,
    cgroup_root,
    container_cluster_variables,
    host_state,
    remove_cgroup_roots,
    run_play,
    sha256_of,
    write_inventory,
)

RUN_ALGORITHMS = ("pixel-softmax-kb", "majority-class")
RUN_CLUSTER = "ianvs-lab-hosts-test"


@dataclass
class Lab:
    cloud: LabHost
    edges: list[LabHost]
    late: LabHost
    """an edge host stopped while the cluster is built"""
    inventory: Path
    kubeconfig: Path
    workdir: Path
    built: PlayResult
    variables: dict[str, Any]
    """the inventory's group variables (what these containers need)"""
    ssh_key: Path
    """Ansible reaches the hosts over SSH with this key, as the lab's real machines"""

    def write_inventory(self, path: Path, groups: dict[str, list[LabHost]]) -> Path:
        return write_inventory(
            path,
            groups,
            self.variables,
            host_variables=lambda host: {"kube_node_cgroup_root": cgroup_root(host)},
            ssh_key=self.ssh_key,
        )

    def started_again(self, host: LabHost) -> LabHost:
        """``host`` started after a stop, at the address it got (the inventory is written again with it)."""
        docker("start", host.name, timeout_s=120)
        wait_for_systemd(host)
        self.late = replace(host, ip=container_ip(host.name))
        self.write_inventory(self.inventory, {"cloud": [self.cloud], "edge": [*self.edges, self.late]})
        return self.late

    @property
    def hosts(self) -> list[LabHost]:
        """The hosts in the cluster."""
        return [self.cloud, *self.edges]

    def play(
        self, playbook: str, limit: str | None = None, skip_tags: str | None = None, **extra_vars: Any
    ) -> PlayResult:
        return run_play(
            playbook, self.inventory, self.workdir, extra_vars or None, timeout_s=1200, limit=limit, skip_tags=skip_tags
        )

    def nodes(self) -> dict[str, dict[str, Any]]:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(self.kubeconfig))
        try:
            return {
                node.metadata.name: api.sanitize_for_serialization(node)
                for node in client.CoreV1Api(api).list_node().items
            }
        finally:
            api.close()


@pytest.fixture(scope="module")
def lab(
    base_images: BaseImages,
    local_apt_repo: Any,
    kube_binaries: Path,
    kube_images_tar: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("kube-cluster")
    factory = LabHostFactory(images=base_images, test_name="kube-cluster")
    hosts: list[LabHost] = []
    try:
        hosts = factory(4, apt_repo=local_apt_repo(*KUBE_NODE_PACKAGES), kube_node=True)
        cloud, edges, late = hosts[0], hosts[1:3], hosts[3]
        key = ssh_key_pair(workdir)
        for host in hosts:
            authorize_ssh_key(host, key)
        docker("stop", late.name, timeout_s=120)
        kubeconfig = workdir / "lab" / "kubeconfig"
        variables = container_cluster_variables(kube_binaries, kube_images_tar, cloud, kubeconfig)
        lab = Lab(cloud, edges, late, workdir / "hosts.json", kubeconfig, workdir, PlayResult(-1, ""), variables, key)
        lab.write_inventory(lab.inventory, {"cloud": [cloud], "edge": [*edges, late]})
        lab.built = run_play("playbooks/kube_cluster.yml", lab.inventory, workdir, timeout_s=1800)
        yield lab
        if hosts:
            run_play("playbooks/teardown.yml", lab.inventory, workdir, timeout_s=600)
    finally:
        factory.cleanup()
        remove_cgroup_roots(hosts)


def test_the_playbook_makes_one_cluster_of_every_reachable_host(lab: Lab) -> None:
    assert sorted(lab.nodes()) == sorted(host.hostname for host in lab.hosts), lab.built.output


def test_an_unreachable_host_is_named_in_the_recap_and_fails_the_run(lab: Lab) -> None:
    recap = lab.built.recap()
    assert recap[lab.late.hostname]["unreachable"] == 1
    assert {
        host.hostname: recap[host.hostname]["failed"] + recap[host.hostname]["unreachable"] for host in lab.hosts
    } == {host.hostname: 0 for host in lab.hosts}, lab.built.output
    assert lab.built.returncode != 0


def test_a_node_has_the_runtime_the_binaries_and_the_images(lab: Lab, kube_binaries: Path) -> None:
    edge = lab.edges[0]
    state = host_state(edge)
    assert state.service("containerd").is_running and state.service("containerd").is_enabled
    config = state.file("/etc/containerd/config.toml").content_string
    assert (
        'sandbox_image = "registry.k8s.io/pause:' in config
        and 'conf_template = "/etc/containerd/cni.template"' in config
    )
    assert "restrict_oom_score_adj = true" in config and "SystemdCgroup = false" in config
    for name in ("kubeadm", "kubelet", "kubectl"):
        installed = state.file(f"/usr/bin/{name}")
        assert (installed.user, installed.mode) == ("root", 0o755)
        assert installed.sha256sum == sha256_of(kube_binaries / name)
    wanted = state.check_output("kubeadm config images list --kubernetes-version v1.34.12").split()
    present = {line.split()[0] for line in state.check_output("ctr --namespace k8s.io images list").splitlines()[1:]}
    assert sorted(set(wanted) - present) == []
    assert not state.file("/var/tmp/ianvs-lab-kubernetes-images.tar").exists
    unit = state.check_output("systemctl cat kubelet")
    assert f"--cgroup-root={cgroup_root(edge)}" in unit and f"ianvs-lab-kubelet-cgroups {cgroup_root(edge)}" in unit
    assert state.file("/opt/cni/bin").linked_to == "/usr/lib/cni"
    persisted = state.file("/etc/sysctl.d/90-ianvs-lab-kubernetes.conf").content_string
    assert "net.ipv4.ip_forward=1" in persisted.replace(" ", "").splitlines()
    assert state.check_output("sysctl -n net.ipv4.ip_forward") == "1"


def test_every_node_is_ready(lab: Lab) -> None:
    ready = {
        name: any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
        for name, node in lab.nodes().items()
    }
    assert ready == {host.hostname: True for host in lab.hosts}


def test_nodes_are_labelled_cloud_or_edge(lab: Lab) -> None:
    labels = {name: node["metadata"]["labels"] for name, node in lab.nodes().items()}
    assert labels[lab.cloud.hostname]["ianvs-lab/role"] == "cloud"
    assert "node-role.kubernetes.io/edge" not in labels[lab.cloud.hostname]
    for edge in lab.edges:
        assert labels[edge.hostname]["ianvs-lab/role"] == "edge"
        assert labels[edge.hostname]["node-role.kubernetes.io/edge"] == ""


def test_the_kubeconfig_on_the_controller_is_private(lab: Lab) -> None:
    assert lab.kubeconfig.stat().st_mode & 0o777 == 0o600


def test_no_join_token_reaches_the_output(lab: Lab) -> None:
    tokens = host_state(lab.cloud).check_output(
        "kubeadm token list --kubeconfig /etc/kubernetes/admin.conf -o jsonpath='{.token}{\"\\n\"}'"
    )
    secrets = [line.split(".")[1] for line in tokens.splitlines() if "." in line]
    assert secrets, "no bootstrap token found to look for"
    assert not [secret for secret in secrets if secret in lab.built.output]


def _dns_query(name: str) -> bytes:
    header = struct.pack(">HHHHHH", random.randrange(1 << 16), 0x0100, 1, 0, 0, 0)
    question = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\0"
    return header + question + struct.pack(">HH", 1, 1)


def test_an_edge_host_resolves_a_cluster_name_through_the_dns_service(lab: Lab) -> None:
    """A query from an edge host to the DNS Service's address crosses kube-proxy's rules and the Pod network to
    a CoreDNS Pod, wherever it runs. The nodes are Ready when the play ends, CoreDNS may not be yet: until it
    is, the Service has no endpoint and kube-proxy rejects the query, so the query is retried for a while."""
    query = _dns_query("kubernetes.default.svc.cluster.local").hex()
    script = (
        "import socket,time\n"
        "deadline=time.monotonic()+120\n"
        "while True:\n"
        "  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(5)\n"
        "  try:\n"
        f"    s.sendto(bytes.fromhex('{query}'),('10.96.0.10',53));print(s.recvfrom(512)[0].hex());break\n"
        "  except OSError:\n"
        "    if time.monotonic()>deadline: raise\n"
        "    time.sleep(2)\n"
    )
    answer = bytes.fromhex(lab.edges[0].exec("python3", "-c", script, timeout_s=180).stdout.strip())
    assert struct.unpack(">H", answer[6:8])[0] >= 1, "no answer record"
    assert socket.inet_aton("10.96.0.1") in answer  # the kubernetes Service's address


@dataclass(frozen=True)
class Run:
    job: Path
    workspace: Path
    proc: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def multi_host_run(lab: Lab, tiny_dataset: Path) -> Iterator[Run]:
    """`controller run` of the example lab job with ``simulation.inventory`` naming the cluster's hosts (the stopped
    one left out), kept (keep_lab) for the tests after it; its kubeconfig removed afterwards."""
    target = lab.workdir / "job"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("data", "workspace"))
    (target / "data").symlink_to(tiny_dataset, target_is_directory=True)
    shutil.copy(target / "benchmarkingjob-sim.yaml", target / "benchmarkingjob.yaml")
    keep_algorithms(target, *RUN_ALGORITHMS)
    inventory = lab.write_inventory(target / "hosts.json", {"cloud": [lab.cloud], "edge": lab.edges})
    edit_yaml(
        target / "benchmarkingjob.yaml",
        lambda d: d["benchmarkingjob"]["simulation"].update(
            inventory=str(inventory), cluster_name=RUN_CLUSTER, keep_lab=True
        ),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "controller", "run", str(target / "benchmarkingjob.yaml")],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    try:
        yield Run(target / "benchmarkingjob.yaml", target / "workspace", proc)
    finally:
        shutil.rmtree(labs_dir() / RUN_CLUSTER, ignore_errors=True)


def _results(run: Run) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in run.workspace.glob("*/*/result.json")]


def test_a_job_runs_its_cases_on_the_edge_hosts(multi_host_run: Run, lab: Lab) -> None:
    assert multi_host_run.proc.returncode == 0, multi_host_run.proc.stderr[-4000:]
    results = _results(multi_host_run)
    assert sorted(r["algorithm"] for r in results) == sorted(RUN_ALGORITHMS)
    for result in results:
        assert result["status"] == "ok", result.get("error")
        assert result["provenance"]["case_pod"]["node"] in {host.hostname for host in lab.edges}
        assert result["provenance"]["case_pod"]["role"] == "edge"


def test_lab_status_lists_every_node_with_its_role_and_readiness(multi_host_run: Run, lab: Lab) -> None:
    status = subprocess.run(
        [sys.executable, "-m", "controller", "lab", "status", str(multi_host_run.job)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    rows = sorted(line.split() for line in status.stdout.splitlines()[1:])
    assert rows == sorted(
        [[lab.cloud.hostname, "cloud", "yes"], *([edge.hostname, "edge", "yes"] for edge in lab.edges)]
    )


def test_each_case_pod_fills_its_nodes_dataset_cache_once(multi_host_run: Run, lab: Lab) -> None:
    fetched: dict[str, list[bool]] = {}
    caches = set()
    for result in _results(multi_host_run):
        data = result["provenance"]["case_data"]
        assert data["cache"].startswith("/var/lib/ianvs-lab/datasets/case-data-")
        caches.add(data["cache"])
        fetched.setdefault(result["provenance"]["case_pod"]["node"], []).append(data["fetched"])
    assert len(caches) == 1
    assert {node: sorted(flags) for node, flags in fetched.items()} == {
        node: [False] * (len(flags) - 1) + [True] for node, flags in fetched.items()
    }
    for host in lab.edges:
        expected = host.hostname in fetched
        assert host_state(host).file(next(iter(caches))).is_directory == expected, host.hostname


def test_the_multi_host_leaderboard_equals_the_local_runs(multi_host_run: Run, tmp_path: Path) -> None:
    local = subprocess.run(
        [sys.executable, "-m", "controller", "run", str(multi_host_run.job), "--runtime", "local"]
        + ["--workspace", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr[-4000:]
    in_lab, here = _ranks(multi_host_run.workspace), _ranks(tmp_path)
    assert sorted(in_lab) == sorted(here) == sorted(RUN_ALGORITHMS)
    for algorithm, row in here.items():
        for metric in ("mIoU", "ACC", "BWT"):
            assert float(in_lab[algorithm][metric]) == pytest.approx(float(row[metric]), abs=1e-6), (algorithm, metric)


def _ranks(workspace: Path) -> dict[str, dict[str, str]]:
    with (workspace / "cityscapes-lifelong-sim" / "rank" / "all_rank.csv").open() as handle:
        return {row["algorithm"]: row for row in csv.DictReader(handle)}


def test_the_lab_images_are_on_every_node_and_a_second_import_changes_nothing(multi_host_run: Run, lab: Lab) -> None:
    from controller.simulation.controller_image import DEFAULT_TAG

    for host in lab.hosts:
        listed = host_state(host).check_output("ctr --namespace k8s.io images list --quiet")
        assert f"docker.io/{DEFAULT_TAG}" in listed.split(), host.hostname
    again = lab.play(
        "playbooks/kube_images.yml", limit=",".join(h.hostname for h in lab.hosts), kube_images_list=[DEFAULT_TAG]
    )
    assert again.returncode == 0, again.output
    assert {host: stats["changed"] for host, stats in again.recap().items()} == {
        host.hostname: 0 for host in lab.hosts
    }, again.output


def test_site_yml_deploys_the_job_controller_after_the_cluster_and_a_rerun_changes_nothing(
    multi_host_run: Run, lab: Lab
) -> None:
    """The rerun covers every stage from the cluster on: nodes, control plane, joins, images, job controller."""
    from kubernetes import client, config

    from controller.simulation.controller_image import DEFAULT_TAG

    settings = {
        "lab_simulation_controller": True,
        "simulation_controller_kubeconfig": str(lab.kubeconfig),
        "simulation_controller_namespace": "site-lab",
        "simulation_controller_image": DEFAULT_TAG,
        "simulation_controller_image_pull_policy": "Never",
        "kube_images_list": [DEFAULT_TAG],
        "simulation_controller_node_selector": {"ianvs-lab/role": "cloud"},
        "simulation_controller_tolerations": [
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
        ],
    }
    hosts = ",".join(host.hostname for host in lab.hosts)
    # the stages before the cluster's (host checks, Docker, kind) are not this lab's: skipped as a user would
    others = "host_check,docker,kind,kind_cluster"
    deployed = lab.play("site.yml", limit=hosts, skip_tags=others, **settings)
    assert deployed.returncode == 0, deployed.output
    api = config.new_client_from_config(config_file=str(lab.kubeconfig))
    try:
        apps = client.AppsV1Api(api)
        deadline = time.monotonic() + 180
        while True:
            (deployment,) = apps.list_namespaced_deployment("site-lab").items
            if (deployment.status.available_replicas or 0) >= 1:
                break
            assert time.monotonic() < deadline, deployment.status
            time.sleep(2)
        (pod,) = client.CoreV1Api(api).list_namespaced_pod("site-lab").items
        assert pod.spec.node_name == lab.cloud.hostname
    finally:
        api.close()
    again = lab.play("site.yml", limit=hosts, skip_tags=others, **settings)
    assert again.returncode == 0, again.output
    assert {host: stats["changed"] for host, stats in again.recap().items()} == {
        host.hostname: 0 for host in lab.hosts
    }, again.output


def test_a_join_that_fails_names_the_step_and_the_kubelet_log(lab: Lab) -> None:
    lab.started_again(lab.late)
    # nothing answers there: the join gives up after the discovery timeout
    failed = lab.play(
        "playbooks/kube_cluster.yml", kube_join_api_endpoint=f"{lab.cloud.ip}:6999", kube_join_discovery_timeout="10s"
    )
    assert failed.returncode != 0
    output = " ".join(failed.output.split())
    assert f'{lab.late.hostname}: joining the cluster failed at "Kube join | Run kubeadm join" (exit 1):' in output
    assert "|| kubelet log:" in output
    assert not host_state(lab.late).file("/etc/kubernetes/ianvs-lab-join.yaml").exists, "the token was left behind"
    assert sorted(lab.nodes()) == sorted(host.hostname for host in lab.hosts), "the other nodes changed"


def test_teardown_leaves_the_hosts_clean_and_a_second_teardown_is_a_no_op(lab: Lab) -> None:
    down = lab.play("playbooks/teardown.yml")
    assert down.returncode == 0, down.output
    for host in [*lab.hosts, lab.late]:
        state = host_state(host)
        assert not state.service("kubelet").is_running
        assert state.check_output("ctr --namespace k8s.io tasks list --quiet") == ""
        for path in ("/etc/kubernetes", "/var/lib/etcd", "/etc/cni/net.d", "/var/lib/kubelet/pki"):
            assert not state.file(path).exists, f"{host.hostname}: {path} left"
        assert "10.244." not in state.check_output("ip -4 route")
        assert not list(Path("/sys/fs/cgroup").glob(f"*{cgroup_root(host)}")), f"{host.hostname}: cgroups left"
        assert not state.file("/var/lib/ianvs-lab").exists, f"{host.hostname}: dataset cache or workspaces left"
        assert "ianvs-lab/controller" not in state.check_output("ctr --namespace k8s.io images list --quiet")
    assert not lab.kubeconfig.exists()
    again = lab.play("playbooks/teardown.yml")
    assert again.returncode == 0, again.output
    assert {host: stats["changed"] for host, stats in again.recap().items()} == {
        host.hostname: 0 for host in [*lab.hosts, lab.late]
    }, again.output
