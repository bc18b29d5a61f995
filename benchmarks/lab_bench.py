"""What building the simulated lab costs on this machine: the offline kind node image, and kind clusters of the
system config's sizes (roles/kind_cluster, driven by controller.lab.kind_lab), from no cluster to every node Ready.

    .venv/bin/python benchmarks/lab_bench.py [--sizes 1+0,1+2,1+4] [--skip-image] [--multi-host 1+2 [--no-kind]]

Prints what it measured:

    node image   scripts/kind-node-image --force (cold), then scripts/kind-node-image again (warm: expected a
                 no-op; the image id before and after tells whether it was one)
    up_s         the kind_cluster playbook where no cluster of that name exists, until every node is Ready
    reuse_s      the same playbook again on the running cluster (kept as it is: its changed count is shown)
    MiB/node     mean memory of the node containers (docker stats) once the cluster is up
    down_s       the playbook with state absent; down2_s: once more, with nothing left to remove
(--multi-host: the multi-host rows of benchmarks/multi_host_lab.py, lab-host containers joined by kubeadm) then
seconds per extra edge node (the up_s of two sizes with the same cloud count, e.g. 1+2 and 1+4) and issue 10's
goals next to the measured values. It measures, it never asserts: a missed goal is printed as MISS.

The cluster only: the Simulation Job Controller is not deployed, and the host checks are not run (a privileged probe
container decides whether kind goes through the docker wrapper, as `controller lab up` does). Needs a Docker engine
and kind (on PATH or `scripts/testenv build kind`); about 10 minutes of the machine. Each size's cluster is named
ianvs-lab-bench-<cloud>-<edge>; it is removed at the end of its size, also on a failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NODE_IMAGE_SCRIPT = REPO / "scripts" / "kind-node-image"

GOAL_UP_SIZE = (1, 2)
GOAL_UP_S = 120.0
GOAL_PER_EDGE_S = 25.0

_UNITS = {"B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}
_UNITS.update({"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12})


@dataclass
class SizeResult:
    cloud: int
    edge: int
    up_s: float | None = None
    reuse_s: float | None = None
    reuse_changed: int | None = None
    mib_per_node: float | None = None
    down_s: float | None = None
    down2_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.cloud}+{self.edge}"


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\+(\d+)\s*", item)
        if not match or int(match[1]) < 1:
            raise argparse.ArgumentTypeError(f"expected CLOUD+EDGE with CLOUD >= 1 (e.g. 1+2), got {item!r}")
        sizes.append((int(match[1]), int(match[2])))
    return sizes


def step(message: str) -> None:
    print(f"[lab_bench] {message}", file=sys.stderr, flush=True)


def node_image_name() -> str:
    proc = subprocess.run([str(NODE_IMAGE_SCRIPT), "--print"], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def image_id(image: str) -> str | None:
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", image], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def build_image(force: bool) -> float:
    """Seconds of one ``scripts/kind-node-image`` run; its log is shown only when it fails."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(NODE_IMAGE_SCRIPT), *(["--force"] if force else [])], capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        sys.exit(f"scripts/kind-node-image{' --force' if force else ''} failed (exit {proc.returncode}):\n{tail}")
    return seconds


def mib(text: str) -> float:
    """``512.3MiB`` (docker stats' MemUsage, before the " / limit") in MiB."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]+)\s*", text)
    if not match or match[2].upper() not in _UNITS:
        raise ValueError(f"unexpected memory figure {text!r}")
    return float(match[1]) * _UNITS[match[2].upper()] / (1 << 20)


def node_memory_mib(names: list[str]) -> dict[str, float]:
    proc = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    usage = {}
    for line in proc.stdout.splitlines():
        name, _, figures = line.partition(" ")
        if name in names and figures:
            usage[name] = mib(figures.split("/")[0])
    return usage


def measure(cloud: int, edge: int, image: str, unprivileged: bool) -> SizeResult:
    from controller.config.models import SimulationConfig
    from controller.errors import IanvsLabError
    from controller.lab import kind_lab

    result = SizeResult(cloud, edge)
    lab = kind_lab.KindLab(
        SimulationConfig(
            cloud_number=cloud, edge_number=edge, cluster_name=f"ianvs-lab-bench-{cloud}-{edge}", node_image=image
        )
    )
    removed = False
    try:
        if kind_lab.node_containers(lab.name):
            step(f"{result.label}: a cluster {lab.name} is left over; removing it first (not timed)")
            kind_lab.down(lab)
            result.notes.append("a leftover cluster was removed first")

        step(f"{result.label}: lab up (no cluster yet)")
        started = time.monotonic()
        # the cluster only: kind_lab.up() also runs the host checks and deploys the job controller
        kind_lab.up_cluster(lab, unprivileged)
        result.up_s = time.monotonic() - started

        step(f"{result.label}: lab up again (the running cluster is kept)")
        started = time.monotonic()
        again = kind_lab.up_cluster(lab, unprivileged)
        result.reuse_s = time.monotonic() - started
        result.reuse_changed = sum(stats["changed"] for stats in again.stats.values())

        usage = node_memory_mib(lab.simulation.node_names())
        if usage:
            result.mib_per_node = statistics.mean(usage.values())
        missing = sorted(set(lab.simulation.node_names()) - set(usage))
        if missing:
            result.notes.append(f"no memory figure for {', '.join(missing)}")

        step(f"{result.label}: lab down")
        started = time.monotonic()
        kind_lab.down(lab)
        result.down_s = time.monotonic() - started
        removed = True

        step(f"{result.label}: lab down again (nothing to remove)")
        started = time.monotonic()
        kind_lab.down(lab)
        result.down2_s = time.monotonic() - started
    except IanvsLabError as err:
        result.notes.append(f"failed: {err}")
    finally:
        if not removed:
            step(f"{result.label}: removing the cluster")
            try:
                kind_lab.down(lab)
            except Exception as err:  # the table still gets printed; the cluster is named for a manual `kind delete`
                result.notes.append(f"could not remove {lab.name}: {err}")
    return result


def per_edge_node(results: list[SizeResult]) -> tuple[float, str] | None:
    """Seconds of lab up per extra edge node, from the two largest edge counts measured with the same cloud count
    (fewest cloud nodes first): 1+2 and 1+4 of the default sizes (1+0 has no worker to join, so it is left out)."""
    measured = [r for r in results if r.up_s is not None]
    for cloud in sorted({r.cloud for r in measured}):
        same = sorted((r for r in measured if r.cloud == cloud), key=lambda r: r.edge)
        if len(same) < 2:
            continue
        low, high = same[-2], same[-1]
        if high.edge > low.edge and low.up_s is not None and high.up_s is not None:
            return (high.up_s - low.up_s) / (high.edge - low.edge), f"{low.label} -> {high.label}"
    return None


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def verdict(value: float | None, goal: float) -> str:
    return "not measured" if value is None else ("PASS" if value < goal else "MISS")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=parse_sizes("1+0,1+2,1+4"),
        help="cloud+edge node counts, comma-separated (default 1+0,1+2,1+4)",
    )
    parser.add_argument(
        "--skip-image", action="store_true", help="do not build the node image (it must be there already)"
    )
    parser.add_argument(
        "--multi-host",
        type=parse_sizes,
        default=[],
        metavar="SIZES",
        help="also multi-host labs of these cloud+edge lab-host containers (benchmarks/multi_host_lab.py), e.g. 1+2",
    )
    parser.add_argument("--no-kind", action="store_true", help="measure no kind lab (with --multi-host)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")

    from controller.lab.kind_lab import kind_binary, privileged_works

    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        sys.exit("no Docker engine answers (scripts/docker-engine starts one)")
    if not shutil.which(kind_binary()) and not Path(kind_binary()).is_file():
        sys.exit("no kind binary: put one on PATH or build it with scripts/testenv build kind")
    image = node_image_name()

    lines: list[str] = []
    if args.skip_image:
        if image_id(image) is None:
            sys.exit(f"--skip-image, but there is no node image {image}: build it with scripts/kind-node-image")
        lines.append(f"node image   {image}: builds skipped (--skip-image)")
    else:
        step(f"node image {image}: cold build (scripts/kind-node-image --force; minutes)")
        cold = build_image(force=True)
        before = image_id(image)
        step(f"node image {image}: warm build (scripts/kind-node-image; expected a no-op)")
        warm = build_image(force=False)
        noop = "a no-op: the image is unchanged" if image_id(image) == before else "NOT a no-op: the image was rebuilt"
        lines.append(f"node image   cold build (--force) {cold:7.1f} s")
        lines.append(f"node image   warm build           {warm:7.1f} s   expected a no-op; it was {noop}")

    # as `controller lab up` decides from the host checks: kind goes through the docker wrapper when refused
    unprivileged = not privileged_works(image)
    mode = "unprivileged, through the docker wrapper" if unprivileged else "privileged"
    results = [] if args.no_kind else [measure(cloud, edge, image, unprivileged) for cloud, edge in args.sizes]
    multi_host = []
    if args.multi_host:
        from multi_host_lab import measure_multi_host, print_rows

        from controller.runtime.lab import controller_image

        built = controller_image()
        multi_host = [measure_multi_host(cloud, edge, built) for cloud, edge in args.multi_host]
    if args.no_kind:
        print_rows(multi_host)
        return 0

    print(f"kind lab on this host: {image}, {mode} node containers, kind {kind_binary()}")
    for line in lines:
        print(line)
    print()
    print(
        f"{'size':<6} {'nodes':>5} {'up_s':>7} {'reuse_s':>8} {'changed':>7} {'down_s':>7} {'down2_s':>8} {'MiB/node':>9}"
    )
    for r in results:
        changed = "-" if r.reuse_changed is None else str(r.reuse_changed)
        memory = "-" if r.mib_per_node is None else f"{r.mib_per_node:.0f}"
        print(
            f"{r.label:<6} {r.cloud + r.edge:>5} {seconds(r.up_s):>7} {seconds(r.reuse_s):>8} {changed:>7} "
            f"{seconds(r.down_s):>7} {seconds(r.down2_s):>8} {memory:>9}"
        )
        for note in r.notes:
            print(f"       {r.label}: {note}")
    slope = per_edge_node(results)
    if slope is not None:
        print(f"per extra edge node: {slope[0]:.1f} s of lab up ({slope[1]})")
    else:
        print("per extra edge node: not measured (needs two sizes with the same cloud count)")

    print()
    goal_size = next((r for r in results if (r.cloud, r.edge) == GOAL_UP_SIZE), None)
    up = goal_size.up_s if goal_size else None
    label = "+".join(map(str, GOAL_UP_SIZE))
    print(
        f"goal (issue 10 §6): lab up of {label} with the node image built, under {GOAL_UP_S:.0f} s: "
        f"{seconds(up)} s  {verdict(up, GOAL_UP_S)}"
    )
    per_edge = slope[0] if slope else None
    print(
        f"goal (issue 10 §6): each extra edge node under {GOAL_PER_EDGE_S:.0f} s: "
        f"{seconds(per_edge)} s  {verdict(per_edge, GOAL_PER_EDGE_S)}"
    )
    if multi_host:
        print_rows(multi_host)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
