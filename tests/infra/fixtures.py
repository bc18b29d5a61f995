"""Fixtures that give tests REAL infrastructure instead of mocks (docs/testenv.md); loaded by tests/conftest.py.

- ``k8s_env`` (session): brings the Kubernetes control plane up with ``scripts/testenv up`` (building the binaries
  on first use) and, if this session started it, takes it down again at the end.
- ``k8s`` (per test): API clients for that control plane and a fresh namespace, deleted afterwards.
- ``docker_engine`` (session): a Docker engine that answers (``scripts/docker-engine``).
- ``base_images`` (session): ``ianvs-lab/base`` and ``ianvs-lab/labhost`` built locally (``scripts/base-image``).
- ``labhosts`` (per test): a factory ``labhosts(n)`` -> n systemd lab-host containers on a private, internal
  Docker network; everything it created is removed afterwards.

Why it fails instead of skipping: a test environment that silently skips proves nothing. The ONLY way to skip
these tests is the explicit opt-out ``IANVS_LAB_SKIP_INFRA=1``, and the skip reason says so. Any component that
cannot start turns into a test error carrying the tail of the script's output.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from controller.userdirs import cache_dir

if TYPE_CHECKING:  # the kubernetes client is imported lazily: collecting tests must not need it
    from kubernetes.client import ApiClient

    from infra.browser import HeadlessBrowser

LOG = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
SKIP_VAR = "IANVS_LAB_SKIP_INFRA"
STATE_DIR = REPO / ".cache" / "testenv"

# A cold build of the control plane takes ~10 min on 2 cores (docs/testenv.md); leave headroom for a busy machine.
TESTENV_UP_TIMEOUT_S = 45 * 60
DOCKER_ENGINE_TIMEOUT_S = 10 * 60
BASE_IMAGE_TIMEOUT_S = 30 * 60
LABHOST_BOOT_TIMEOUT_S = 90

BASE_IMAGE = "ianvs-lab/base:bookworm"
BROWSER_INSTALL_TIMEOUT_S = 10 * 60
LABHOST_IMAGE = "ianvs-lab/labhost:bookworm"
TEST_LABEL = "ianvs-lab.test"
LABHOST_APT_REPO = "/srv/ianvs-lab-apt"
APT_REPO_TIMEOUT_S = 15 * 60

# How a lab host runs. --privileged would be simpler but fails on VMs that lack CAP_SYS_RESOURCE ("unable to
# apply caps"); this set is what systemd as PID 1 needs. The cgroup tree is shared with the host (cgroupns=host)
# because systemd must manage its own slice of it.
LABHOST_RUN_FLAGS: tuple[str, ...] = (
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--cgroupns=host",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/run/lock",
    "--tmpfs",
    "/tmp",
)

# What a lab host that is to be a Kubernetes node needs on top (docs/lab.md, the reference's kubelet recipe):
# writable /proc/sys for the kubelet's and the node role's sysctls, /dev/kmsg for the kubelet's OOM watcher, and
# containerd's and the kubelet's state on volumes (overlayfs snapshots cannot sit on the container's overlayfs).
# The anonymous volumes go with `docker rm -v`.
KUBE_NODE_RUN_FLAGS: tuple[str, ...] = (
    "--security-opt",
    "systempaths=unconfined",
    "--device",
    "/dev/kmsg",
    "-v",
    "/var/lib/containerd",
    "-v",
    "/var/lib/kubelet",
)


class InfraError(RuntimeError):
    """An infrastructure script failed; the message carries its exit code and last output lines."""


# --------------------------------------------------------------------------------------------- helpers


def skip_reason() -> str | None:
    """The visible reason to skip infrastructure tests, or None when they must run."""
    value = os.environ.get(SKIP_VAR, "")
    if value in ("", "0"):
        return None
    return f"{SKIP_VAR}={value}: tests needing the real Kubernetes/Docker environment were skipped on request"


def _skip_if_opted_out() -> None:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)


@contextlib.contextmanager
def _live_output(config: pytest.Config) -> Iterator[None]:
    """Let a long bring-up (cold builds: minutes) print its progress to the terminal instead of being captured."""
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        yield
        return
    with capman.global_and_fixture_disabled():
        yield


def run_script(config: pytest.Config, args: list[str], timeout_s: float, what: str) -> None:
    """Run one of scripts/*, echoing its output live; raise InfraError with the output's tail when it fails.

    Output is read by a thread so that a script that hangs without printing still hits ``timeout_s``.
    """
    tail: collections.deque[str] = collections.deque(maxlen=40)
    with _live_output(config):
        proc = subprocess.Popen(
            args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
        )
        assert proc.stdout is not None

        def pump() -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                tail.append(line.rstrip("\n"))
                sys.stderr.write(line)
                sys.stderr.flush()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            reader.join(5)
            raise InfraError(
                f"{what}: `{' '.join(args)}` ran longer than {timeout_s:.0f}s:\n" + "\n".join(tail)
            ) from None
        reader.join(5)
    if rc != 0:
        raise InfraError(f"{what}: `{' '.join(args)}` exited {rc}:\n" + "\n".join(tail))


def read_key_values(path: Path) -> dict[str, str]:
    """The ``KEY=VALUE`` lines the scripts write and read (env files, scripts/testenv.versions); # comments skipped."""
    values: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise InfraError(f"{path}:{lineno}: expected KEY=VALUE, got {line!r}")
        values[key] = value
    return values


def poll(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.25) -> Any:
    """Call ``predicate`` until it returns something truthy and return that; None when ``timeout_s`` passed first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    return None


def docker(
    *args: str, timeout_s: float = 120, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; on failure raise with the command and its stderr (not just an exit code)."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout_s, input=stdin)
    if check and proc.returncode != 0:
        raise InfraError(f"`docker {' '.join(args)}` exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def unique_name(prefix: str, hint: str = "", max_len: int = 63) -> str:
    """A DNS-1123 label ``<prefix>-<hint>-<6 hex>``: unique per call, readable in `kubectl get ns`/`docker ps`."""
    suffix = secrets.token_hex(3)
    hint = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")
    room = max_len - len(prefix) - len(suffix) - 2
    hint = hint[: max(room - 1, 0)].strip("-")
    return f"{prefix}-{hint}-{suffix}" if hint else f"{prefix}-{suffix}"


# --------------------------------------------------------------------------------------------- Kubernetes


@dataclass(frozen=True)
class K8sEnv:
    """What ``scripts/testenv up`` wrote to .cache/testenv/env: where the control plane is and who may use it."""

    kubeconfig: Path
    restricted_kubeconfig: Path
    restricted_namespace: str
    restricted_service_account: str
    api_server: str
    kubectl: str
    kind: str
    k8s_version: str

    @classmethod
    def load(cls, env_file: Path) -> K8sEnv:
        values = read_key_values(env_file)
        try:
            return cls(
                kubeconfig=Path(values["IANVS_LAB_TESTENV_KUBECONFIG"]),
                restricted_kubeconfig=Path(values["IANVS_LAB_TESTENV_RESTRICTED_KUBECONFIG"]),
                restricted_namespace=values["IANVS_LAB_TESTENV_RESTRICTED_NAMESPACE"],
                restricted_service_account=values["IANVS_LAB_TESTENV_RESTRICTED_SERVICEACCOUNT"],
                api_server=values["IANVS_LAB_TESTENV_APISERVER"],
                kubectl=values["IANVS_LAB_TESTENV_KUBECTL"],
                kind=values["IANVS_LAB_TESTENV_KIND"],
                k8s_version=values["IANVS_LAB_TESTENV_K8S_VERSION"],
            )
        except KeyError as missing:
            raise InfraError(f"{env_file}: key {missing} missing; re-run scripts/testenv up") from None


@dataclass
class K8s:
    """API clients for the test control plane, bound to one fresh namespace (``namespace``) per test."""

    env: K8sEnv
    api: ApiClient
    namespace: str
    _extra_clients: list[ApiClient] = field(default_factory=list)

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api)

    @property
    def apiextensions(self) -> Any:
        from kubernetes import client

        return client.ApiextensionsV1Api(self.api)

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    def restricted_api(self) -> ApiClient:
        """A client authenticated as the restricted service account (RBAC: configmaps in its namespace only)."""
        from kubernetes import config

        api = config.new_client_from_config(config_file=str(self.env.restricted_kubeconfig))
        self._extra_clients.append(api)
        return api

    def kubectl(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        """Run kubectl as admin in this test's namespace (for tests that exercise CLI-driven code paths)."""
        cmd = [self.env.kubectl, "--kubeconfig", str(self.env.kubeconfig), "-n", self.namespace, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)

    def close(self) -> None:
        for api in [self.api, *self._extra_clients]:
            api.close()


def _testenv_is_up() -> bool:
    return subprocess.run([str(SCRIPTS / "testenv"), "status"], cwd=REPO, capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def k8s_env(pytestconfig: pytest.Config) -> Iterator[K8sEnv]:
    """The running control plane. Started (and stopped at the end) by this session unless it was already up."""
    _skip_if_opted_out()
    started_here = not _testenv_is_up()
    if started_here:
        try:
            run_script(
                pytestconfig, [str(SCRIPTS / "testenv"), "up"], TESTENV_UP_TIMEOUT_S, "Kubernetes test environment"
            )
        except InfraError as err:
            pytest.fail(f"the Kubernetes test environment did not start: {err}", pytrace=False)
    try:
        yield K8sEnv.load(STATE_DIR / "env")
    finally:
        if started_here:
            with contextlib.suppress(InfraError):
                run_script(pytestconfig, [str(SCRIPTS / "testenv"), "down"], 120, "Kubernetes test environment")


@pytest.fixture
def k8s(k8s_env: K8sEnv, request: pytest.FixtureRequest) -> Iterator[K8s]:
    """Admin clients and a namespace of this test's own; the namespace is deleted (not awaited) afterwards."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(k8s_env.kubeconfig))
    namespace = unique_name("t", request.node.name)
    handle = K8s(env=k8s_env, api=api, namespace=namespace)
    handle.core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace, labels={TEST_LABEL: "1"}))
    )
    try:
        yield handle
    finally:
        try:
            handle.core.delete_namespace(namespace)
        except client.ApiException as err:
            if err.status != 404:
                LOG.warning("could not delete namespace %s: %s", namespace, err)
        handle.close()


# --------------------------------------------------------------------------------------------- Docker


@dataclass(frozen=True)
class DockerEngine:
    """A Docker engine that answered ``docker info``; ``run`` is the docker CLI with readable failures."""

    server_version: str

    @staticmethod
    def run(
        *args: str, timeout_s: float = 120, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return docker(*args, timeout_s=timeout_s, check=check, stdin=stdin)


@dataclass(frozen=True)
class BaseImages:
    base: str
    labhost: str


@pytest.fixture(scope="session")
def docker_engine(pytestconfig: pytest.Config) -> DockerEngine:
    """Start (installing if needed) a Docker engine; it is left running for the next session, like a system service."""
    _skip_if_opted_out()
    try:
        run_script(pytestconfig, [str(SCRIPTS / "docker-engine")], DOCKER_ENGINE_TIMEOUT_S, "Docker engine")
    except InfraError as err:
        pytest.fail(f"no Docker engine: {err}", pytrace=False)
    version = docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    return DockerEngine(server_version=version)


@pytest.fixture(scope="session")
def base_images(pytestconfig: pytest.Config, docker_engine: DockerEngine) -> BaseImages:
    """ianvs-lab/base and ianvs-lab/labhost, built from Debian packages when missing or out of date."""
    try:
        run_script(pytestconfig, [str(SCRIPTS / "base-image")], BASE_IMAGE_TIMEOUT_S, "base images")
    except InfraError as err:
        pytest.fail(f"the base images could not be built: {err}", pytrace=False)
    return BaseImages(base=BASE_IMAGE, labhost=LABHOST_IMAGE)


@dataclass(frozen=True)
class LabHost:
    """One lab-host container. ``name`` is both the container name and its DNS name on ``network``."""

    name: str
    hostname: str
    ip: str
    network: str

    def exec(
        self, *cmd: str, user: str | None = None, timeout_s: float = 60, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        args = ["exec", "-i"] + (["-u", user] if user else []) + [self.name, *cmd]
        return docker(*args, timeout_s=timeout_s, check=check, stdin=stdin)


def ssh_key_pair(folder: Path) -> Path:
    """A fresh ed25519 key without a passphrase: the private key's path (the public key beside it, ``.pub``)."""
    key = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    return key


def authorize_ssh_key(host: LabHost, key: Path) -> None:
    """Let ``key`` (from `ssh_key_pair`) log in as the host's ``lab`` user."""
    host.exec(
        "sh",
        "-c",
        "cat > /home/lab/.ssh/authorized_keys && chown lab:lab /home/lab/.ssh/authorized_keys "
        "&& chmod 600 /home/lab/.ssh/authorized_keys",
        stdin=key.with_suffix(".pub").read_text(),
    )


def container_ip(name: str) -> str:
    """A container's address on its network (it may change when the container is started again)."""
    return docker(
        "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name
    ).stdout.strip()


def wait_for_systemd(host: LabHost) -> None:
    """Wait until systemd reports the boot finished ("running"; "degraded" still counts as booted, with a warning)."""
    deadline = time.monotonic() + LABHOST_BOOT_TIMEOUT_S
    state = ""
    while time.monotonic() < deadline:
        proc = host.exec("systemctl", "is-system-running", "--wait", check=False, timeout_s=LABHOST_BOOT_TIMEOUT_S)
        state = proc.stdout.strip()
        if state in ("running", "degraded"):
            if state == "degraded":
                failed = host.exec("systemctl", "--failed", "--no-legend", check=False).stdout.strip()
                LOG.warning("lab host %s booted degraded; failed units: %s", host.name, failed)
            return
        time.sleep(0.5)  # "Failed to connect to bus" until systemd has started dbus
    logs = docker("logs", "--tail", "30", host.name, check=False)
    raise InfraError(
        f"lab host {host.name} did not boot within {LABHOST_BOOT_TIMEOUT_S}s (state {state!r}):\n{logs.stdout}{logs.stderr}"
    )


def _use_only_the_local_apt_repo(host: LabHost) -> None:
    """Point apt at the mounted repository, as a lab without internet points it at its own mirror."""
    host.exec(
        "sh",
        "-c",
        f"rm -f /etc/apt/sources.list.d/* && echo 'deb [trusted=yes] file:{LABHOST_APT_REPO} ./' > /etc/apt/sources.list",
    )


@dataclass
class LabHostFactory:
    """``labhosts(n)`` -> n booted lab hosts on one private network per test (created on first call)."""

    images: BaseImages
    test_name: str
    network: str | None = None
    containers: list[str] = field(default_factory=list)
    forward_rule: list[str] | None = None

    def __call__(self, n: int, apt_repo: Path | None = None, kube_node: bool = False) -> list[LabHost]:
        """Boot n hosts; with ``apt_repo`` (from ``local_apt_repo``) apt installs from that folder only; with
        ``kube_node`` they can become Kubernetes nodes (``KUBE_NODE_RUN_FLAGS``)."""
        if n < 1:
            raise ValueError(f"labhosts(n): n must be >= 1, got {n}")
        if self.network is None:
            self.network = unique_name("ianvs-lab", self.test_name, max_len=40)
            # --internal: the hosts reach each other (and the host reaches them), but nothing outside.
            docker("network", "create", "--internal", "--label", f"{TEST_LABEL}=1", self.network)
        if kube_node and self.forward_rule is None:
            self._forward_routed_traffic()
        first = len(self.containers) + 1
        hosts = [self._start(index, apt_repo, kube_node) for index in range(first, first + n)]
        for host in hosts:
            wait_for_systemd(host)
            if apt_repo is not None:
                _use_only_the_local_apt_repo(host)
        return hosts

    def _start(self, index: int, apt_repo: Path | None, kube_node: bool) -> LabHost:
        assert self.network is not None
        hostname = f"labhost-{index}"
        name = f"{self.network}-{hostname}"
        mounts = ["-v", f"{apt_repo}:{LABHOST_APT_REPO}:ro"] if apt_repo is not None else []
        docker(
            "run",
            "-d",
            "--name",
            name,
            "--hostname",
            hostname,
            "--network",
            self.network,
            "--network-alias",
            hostname,
            "--label",
            f"{TEST_LABEL}=1",
            *LABHOST_RUN_FLAGS,
            *(KUBE_NODE_RUN_FLAGS if kube_node else ()),
            *mounts,
            self.images.labhost,
        )
        self.containers.append(name)
        return LabHost(name=name, hostname=hostname, ip=container_ip(name), network=self.network)

    def _forward_routed_traffic(self) -> None:
        """Let the network's bridge carry packets between its hosts whatever their addresses. Docker drops what an
        --internal network's hosts send to addresses outside its subnet (its isolation rules in the machine's
        FORWARD chain); Kubernetes nodes route Pod addresses to each other, as they would across a lab's switch.
        Nothing leaves the bridge: the rule matches traffic in and out of the same bridge only."""
        assert self.network is not None
        bridge = "br-" + docker("network", "inspect", "--format", "{{.Id}}", self.network).stdout.strip()[:12]
        self.forward_rule = ["DOCKER-USER", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
        _iptables("-I", *self.forward_rule)

    def cleanup(self) -> None:
        if self.containers:
            docker("rm", "-f", "-v", *self.containers, check=False, timeout_s=120)
        if self.forward_rule is not None:
            _iptables("-D", *self.forward_rule, check=False)
        if self.network:
            docker("network", "rm", self.network, check=False)


def _iptables(*args: str, check: bool = True) -> None:
    """The machine's iptables (through non-interactive sudo when not root)."""
    command = ["iptables", "-w", *args]
    if os.geteuid() != 0:
        command = ["sudo", "-n", *command]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise InfraError(f"`{' '.join(command)}` exited {proc.returncode}: {proc.stderr.strip()}")


@pytest.fixture
def labhosts(base_images: BaseImages, request: pytest.FixtureRequest) -> Iterator[Callable[[int], list[LabHost]]]:
    """Factory: ``hosts = labhosts(2)``. Containers and their network are removed after the test, pass or fail."""
    factory = LabHostFactory(images=base_images, test_name=request.node.name)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture(scope="session")
def local_apt_repo(pytestconfig: pytest.Config, base_images: BaseImages) -> Callable[..., Path]:
    """``local_apt_repo("docker.io", ...)`` -> a flat apt repository folder with those packages and their
    dependencies (``scripts/apt-repo``, cached per user): what a role installs on an offline lab host."""
    built: dict[tuple[str, ...], Path] = {}

    def build(*packages: str) -> Path:
        key = tuple(sorted(set(packages)))
        if key not in built:
            args = [str(SCRIPTS / "apt-repo"), *key]
            with _live_output(pytestconfig):
                proc = subprocess.run(args, cwd=REPO, stdout=subprocess.PIPE, text=True, timeout=APT_REPO_TIMEOUT_S)
            if proc.returncode != 0:
                pytest.fail(f"`{' '.join(args)}` exited {proc.returncode} (its output is above)", pytrace=False)
            built[key] = Path(proc.stdout.strip().splitlines()[-1])
        return built[key]

    return build


@pytest.fixture(scope="session")
def kind_binary(pytestconfig: pytest.Config) -> Path:
    """The kind binary ``scripts/testenv build kind`` builds from the Go module proxy (cached per user)."""
    _skip_if_opted_out()
    try:
        run_script(pytestconfig, [str(SCRIPTS / "testenv"), "build", "kind"], TESTENV_UP_TIMEOUT_S, "kind build")
    except InfraError as err:
        pytest.fail(f"kind could not be built: {err}", pytrace=False)
    versions = read_key_values(SCRIPTS / "testenv.versions")
    return cache_dir("testenv", "bin", versions["KIND_VERSION"], "kind")


@pytest.fixture(scope="session")
def kind_node_image(pytestconfig: pytest.Config, base_images: BaseImages, kind_binary: Path) -> str:
    """The lab's offline kind node image (``scripts/kind-node-image``: cold, the Go builds of kubeadm, kube-proxy
    and CoreDNS take minutes; cached per user, a no-op when its recipe is unchanged)."""
    try:
        run_script(pytestconfig, [str(SCRIPTS / "kind-node-image")], TESTENV_UP_TIMEOUT_S, "kind node image")
    except InfraError as err:
        pytest.fail(f"the kind node image could not be built: {err}", pytrace=False)
    proc = subprocess.run([str(SCRIPTS / "kind-node-image"), "--print"], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def kube_binaries(pytestconfig: pytest.Config) -> Path:
    """The folder with kubeadm, kubelet and kubectl that ``scripts/testenv build`` makes from the Go module proxy
    (cached per user): what the kube_node role copies to a lab without internet."""
    _skip_if_opted_out()
    args = [str(SCRIPTS / "testenv"), "build", "kubeadm", "kubelet", "kubectl"]
    try:
        run_script(pytestconfig, args, TESTENV_UP_TIMEOUT_S, "kubeadm, kubelet and kubectl builds")
    except InfraError as err:
        pytest.fail(f"kubeadm, kubelet or kubectl could not be built: {err}", pytrace=False)
    versions = read_key_values(SCRIPTS / "testenv.versions")
    return cache_dir("testenv", "bin", versions["K8S_VERSION"])


@pytest.fixture(scope="session")
def kube_images_tar(kind_node_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The component images (kube-apiserver ... pause) as one ``docker save`` tarball: the one the offline node
    image carries, which is also what an air-gapped multi-host lab imports."""
    folder = tmp_path_factory.mktemp("kube-images")
    container = docker("create", kind_node_image).stdout.strip()
    try:
        docker("cp", f"{container}:/kind/images/components.tar", str(folder), timeout_s=300)
    finally:
        docker("rm", "-f", container, check=False)
    return folder / "components.tar"


@pytest.fixture(scope="session")
def headless_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadlessBrowser]:
    """Debian's headless Chromium (``scripts/headless-browser`` installs it when missing), one process per session."""
    from infra.browser import HeadlessBrowser

    _skip_if_opted_out()
    proc = subprocess.run(
        [str(SCRIPTS / "headless-browser")], stdout=subprocess.PIPE, text=True, timeout=BROWSER_INSTALL_TIMEOUT_S
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(f"scripts/headless-browser exited {proc.returncode} (its output is above)", pytrace=False)
    with HeadlessBrowser(Path(proc.stdout.strip().splitlines()[-1]), tmp_path_factory.mktemp("chromium")) as browser:
        yield browser


# --------------------------------------------------------------------------------------------- the test node

NODE_ENV_FILE = STATE_DIR / "node" / "env"
# A cold kubelet build is minutes on 2 cores (docs/testenv-node.md); a warm node-up takes ~10 s.
NODE_UP_TIMEOUT_S = 45 * 60
NODE_DOWN_TIMEOUT_S = 120
LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class NodeEnv:
    """What ``scripts/testenv node-up`` wrote to .cache/testenv/node/env."""

    name: str
    taint_key: str
    image: str
    kubelet_log: Path
    containerd_log: Path

    @classmethod
    def load(cls, env_file: Path) -> NodeEnv:
        values = read_key_values(env_file)
        try:
            return cls(
                name=values["IANVS_LAB_TESTENV_NODE_NAME"],
                taint_key=values["IANVS_LAB_TESTENV_NODE_TAINT_KEY"],
                image=values["IANVS_LAB_TESTENV_NODE_IMAGES"].split()[0],
                kubelet_log=Path(values["IANVS_LAB_TESTENV_KUBELET_LOG"]),
                containerd_log=Path(values["IANVS_LAB_TESTENV_CONTAINERD_LOG"]),
            )
        except (KeyError, IndexError) as missing:
            raise InfraError(f"{env_file}: {missing} missing or empty; re-run scripts/testenv node-up") from None

    def load_images(self, *images: str) -> None:
        """Make local Docker images runnable on the node (``scripts/testenv node-load``)."""
        proc = subprocess.run(
            [str(SCRIPTS / "testenv"), "node-load", *images], cwd=REPO, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            raise InfraError(
                f"scripts/testenv node-load {' '.join(images)} exited {proc.returncode}: {proc.stderr[-2000:]}"
            )

    def log_tails(self) -> str:
        parts = []
        for path in (self.kubelet_log, self.containerd_log):
            lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:] if path.exists() else ["(missing)"]
            parts.append(f"--- last {LOG_TAIL_LINES} lines of {path}:\n" + "\n".join(lines))
        return "\n".join(parts)


@pytest.fixture(scope="session")
def k8s_node(pytestconfig: pytest.Config, k8s_env: K8sEnv, base_images: BaseImages) -> Iterator[NodeEnv]:
    """The opt-in test node (docs/testenv-node.md), started once by the first test that needs it and stopped at
    the end of the session unless it was already up. Pods must tolerate ``taint_key`` and use local images
    (``load_images`` or ``scripts/testenv node-load``) with imagePullPolicy Never."""
    started_here = not NODE_ENV_FILE.exists()
    try:
        run_script(pytestconfig, [str(SCRIPTS / "testenv"), "node-up"], NODE_UP_TIMEOUT_S, "test node")
    except InfraError as err:
        pytest.fail(f"the test node did not start: {err}", pytrace=False)
    try:
        yield NodeEnv.load(NODE_ENV_FILE)
    finally:
        if started_here:
            with contextlib.suppress(InfraError):
                run_script(pytestconfig, [str(SCRIPTS / "testenv"), "node-down"], NODE_DOWN_TIMEOUT_S, "test node")


_FIXTURE_MARKERS = {
    "k8s_env": "k8s",
    "k8s": "k8s",
    "docker_engine": "docker",
    "base_images": "docker",
    "labhosts": "docker",
    "local_apt_repo": "docker",
    "k8s_node": "k8s",
    "kind_node_image": "docker",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses a real-infrastructure fixture carries its marker, so `-m "not k8s"` selects reliably."""
    for item in items:
        for fixture_name in getattr(item, "fixturenames", ()):
            marker = _FIXTURE_MARKERS.get(fixture_name)
            if marker and not item.get_closest_marker(marker):
                item.add_marker(getattr(pytest.mark, marker))
