"""The `simulation:` section of a benchmarking job: the lab's system config (SimulationConfig)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from controller.config.loader import load_job
from controller.config.models import LabNode, SimulationConfig
from controller.errors import ConfigError
from tests.conftest import edit_yaml


def _with_simulation(job_dir: Path, **keys: Any) -> Path:
    job = job_dir / "benchmarkingjob.yaml"
    edit_yaml(job, lambda d: d["benchmarkingjob"].__setitem__("simulation", keys))
    return job


def _line_of(path: Path, key: str) -> int:
    (line,) = [n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith(f"{key}:")]
    return line


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING]


def test_defaults() -> None:
    sim = SimulationConfig()
    assert sim.model_dump() == {
        "cloud_number": 1,
        "edge_number": 0,
        "cluster_name": "ianvs-lab",
        "kubeedge_version": "",
        "sedna_version": "",
        "kubernetes_version": "v1.34.12",
        "node_image": "",
        "case_placement": "edge",
        "keep_lab": False,
        "kubeconfig": None,
        "inventory": None,
        "namespace": "ianvs-lab",
        "timeout": 600,
        "unprivileged": "auto",
    }


def test_an_empty_section_loads_with_the_defaults(job_dir: Path) -> None:
    assert load_job(_with_simulation(job_dir)).job.simulation == SimulationConfig()


def test_a_job_without_the_section_has_no_simulation(job_dir: Path) -> None:
    assert load_job(job_dir / "benchmarkingjob.yaml").job.simulation is None


@pytest.mark.parametrize(
    ("cloud", "edge", "expected"),
    [
        (
            1,
            2,
            [
                LabNode("lab-control-plane", "cloud", control_plane=True),
                LabNode("lab-worker", "edge", control_plane=False),
                LabNode("lab-worker2", "edge", control_plane=False),
            ],
        ),
        (
            2,
            1,
            [
                LabNode("lab-control-plane", "cloud", control_plane=True),
                LabNode("lab-worker", "cloud", control_plane=False),
                LabNode("lab-worker2", "edge", control_plane=False),
            ],
        ),
        (1, 0, [LabNode("lab-control-plane", "cloud", control_plane=True)]),
    ],
    ids=["1 cloud + 2 edge", "2 cloud + 1 edge", "1 cloud only"],
)
def test_nodes_in_kind_order_cloud_first(cloud: int, edge: int, expected: list[LabNode]) -> None:
    sim = SimulationConfig(cloud_number=cloud, edge_number=edge, cluster_name="lab")
    assert sim.nodes() == expected


def test_node_names_are_kinds_container_names() -> None:
    sim = SimulationConfig(cloud_number=2, edge_number=2)
    assert sim.node_names() == [
        "ianvs-lab-control-plane",
        "ianvs-lab-worker",
        "ianvs-lab-worker2",
        "ianvs-lab-worker3",
    ]


def test_the_default_node_image_is_the_offline_built_one_of_the_kubernetes_version() -> None:
    assert SimulationConfig(kubernetes_version="v1.33.4").effective_node_image() == "ianvs-lab/kind-node:v1.33.4"
    assert SimulationConfig(node_image="kindest/node:v1.34.0").effective_node_image() == "kindest/node:v1.34.0"


BAD_VALUES: list[tuple[str, Any, str]] = [
    ("cloud_number", 0, "at least one cloud node (the control plane) is needed, got 0"),
    ("cloud_number", True, "input should be a valid integer, got bool True"),
    ("edge_number", -1, "input should be greater than or equal to 0, got int -1"),
    ("cluster_name", "Ianvs_Lab", "expected a DNS label: lowercase letters, digits and '-'"),
    ("cluster_name", "a" * 41, "at most 40 characters"),
    ("cluster_name", "-lab", "starting and ending with a letter or digit"),
    ("kubeedge_version", ["v1.20.0"], "input should be a valid string, got list"),
    ("kubernetes_version", "1.34.12", "expected a Kubernetes version v1.MINOR.PATCH such as v1.34.12, got '1.34.12'"),
    ("node_image", 5, "input should be a valid string, got int 5"),
    ("case_placement", "fog", "input should be 'edge', 'cloud' or 'any', got string 'fog'"),
    ("keep_lab", "yes", "input should be a valid boolean, got string 'yes'"),
    ("kubeconfig", "", "expected the path of a kubeconfig file, got string ''"),
    ("inventory", 7, "expected the path of an Ansible inventory file or folder, got int 7"),
    ("namespace", "Ianvs", "expected a DNS label"),
    ("timeout", 0, "input should be greater than 0, got int 0"),
    ("unprivileged", "sometimes", "expected true, false or auto, got string 'sometimes'"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_VALUES, ids=[f"{k}={v!r:.12}" for k, v, _ in BAD_VALUES])
def test_a_bad_value_names_file_line_and_key(job_dir: Path, key: str, value: Any, message: str) -> None:
    job = _with_simulation(job_dir, **{"cloud_number": 1, "edge_number": 2, key: value})
    with pytest.raises(ConfigError) as info:
        load_job(job)
    error = info.value
    assert (error.file, error.line, error.key) == (str(job), _line_of(job, key), f"benchmarkingjob.simulation.{key}")
    assert message in error.message


def test_validate_reports_a_bad_value_in_one_line(job_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = _with_simulation(job_dir, cloud_number=0)
    assert main(["validate", str(job)]) == 2
    assert (
        f"error: {job}:{_line_of(job, 'cloud_number')}:5: benchmarkingjob.simulation.cloud_number: "
        "at least one cloud node (the control plane) is needed, got 0"
    ) in capsys.readouterr().err.splitlines()


def test_an_undefined_variable_in_kubeconfig_names_the_key(job_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IANVS_UNSET_VAR", raising=False)
    job = _with_simulation(job_dir, kubeconfig="$IANVS_UNSET_VAR/config")
    with pytest.raises(ConfigError, match=r"benchmarkingjob\.simulation\.kubeconfig: environment variable"):
        load_job(job)


def test_kubeconfig_resolves_relative_to_the_job_file(
    job_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sim = load_job(_with_simulation(job_dir, kubeconfig="./lab/kubeconfig")).job.simulation
    assert sim is not None and sim.kubeconfig == job_dir / "lab" / "kubeconfig"


def test_inventory_resolves_relative_to_the_job_file(
    job_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (job_dir / "lab").mkdir()
    (job_dir / "lab" / "hosts.yml").write_text("all: {}\n")
    monkeypatch.chdir(tmp_path)
    sim = load_job(_with_simulation(job_dir, inventory="./lab/hosts.yml")).job.simulation
    assert sim is not None and sim.inventory == job_dir / "lab" / "hosts.yml"


def test_a_missing_inventory_names_the_key(job_dir: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"benchmarkingjob\.simulation\.inventory: file not found: (\./)?nowhere\.yml"
    ):
        load_job(_with_simulation(job_dir, inventory="./nowhere.yml"))


def test_kubeconfig_and_inventory_exclude_each_other(job_dir: Path) -> None:
    (job_dir / "hosts.yml").write_text("all: {}\n")
    job = _with_simulation(job_dir, inventory="./hosts.yml", kubeconfig="./kubeconfig")
    with pytest.raises(ConfigError, match="exclude each other"):
        load_job(job)


def test_kubeconfig_with_node_counts_is_accepted_silently(job_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    job = _with_simulation(job_dir, kubeconfig="./kubeconfig", cloud_number=3, edge_number=4)
    with caplog.at_level(logging.WARNING):
        load_job(job)
    assert _warnings(caplog) == []


@pytest.mark.parametrize(
    "versions",
    [
        {"kubeedge_version": "v1.20.0"},
        {"sedna_version": "v0.6.0"},
        {"kubeedge_version": "v1.8.0", "sedna_version": 0.4},
    ],
    ids=["kubeedge", "sedna", "both"],
)
def test_kubeedge_or_sedna_version_logs_exactly_one_warning(
    job_dir: Path, caplog: pytest.LogCaptureFixture, versions: dict[str, Any]
) -> None:
    job = _with_simulation(job_dir, edge_number=2, **versions)
    with caplog.at_level(logging.WARNING):
        load_job(job)
    (warning,) = _warnings(caplog)
    text = warning.getMessage()
    assert text.startswith(f"{job}:{_line_of(job, next(iter(versions)))}: ")
    assert all(f"benchmarkingjob.simulation.{key}" in text for key in versions)
    assert "plain Kubernetes nodes" in text and "not KubeEdge/Sedna" in text
    assert "node-role.kubernetes.io/edge and ianvs-lab/role=edge" in text


def test_empty_versions_log_nothing(job_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    job = _with_simulation(job_dir, kubeedge_version="", sedna_version=None)
    with caplog.at_level(logging.WARNING):
        load_job(job)
    assert _warnings(caplog) == []


def test_an_unknown_key_in_the_section_is_named_in_a_warning(job_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    job = _with_simulation(job_dir, edge_numbr=2)
    with caplog.at_level(logging.WARNING):
        load_job(job)
    assert "benchmarkingjob.simulation.edge_numbr: unknown key ignored" in caplog.text


def test_the_example_lab_job_validates(job_dir: Path) -> None:
    job = job_dir / "benchmarkingjob-sim.yaml"
    assert main(["validate", str(job)]) == 0
    sim = load_job(job).job.simulation
    assert sim is not None
    assert sim.node_names() == ["ianvs-lab-control-plane", "ianvs-lab-worker", "ianvs-lab-worker2"]
    assert sim.case_placement == "edge"


def test_the_example_lab_job_is_the_demo_job_without_rfnet_plus_the_section(job_dir: Path) -> None:
    demo = load_job(job_dir / "benchmarkingjob.yaml")
    lab = load_job(job_dir / "benchmarkingjob-sim.yaml")
    # RFNet's case Pods would need the ~3 GB PyTorch image in every node; the example says how to add them back
    assert lab.testenv == demo.testenv
    assert lab.algorithms == tuple(a for a in demo.algorithms if not a.name.startswith("rfnet"))
    exclude = {"name", "simulation", "test_object"}
    assert lab.job.model_dump(exclude=exclude) == demo.job.model_dump(exclude=exclude)
