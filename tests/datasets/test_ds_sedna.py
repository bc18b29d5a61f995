"""`controller dataset sedna`: Sedna `Dataset` manifests for a dataset present on a node, applied on the real API
server against a CRD with Sedna's documented schema (sedna.io/v1alpha1 Dataset: spec url, format, nodeName,
credentialName; status numberOfSamples, updateTime)."""

from __future__ import annotations

import time
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from controller.cli import main
from controller.datasets.sedna import CRD_NAME, apply_manifests, dataset_manifests
from controller.datasets.synth import synthesize
from controller.errors import ClusterError, DatasetError
from controller.simulation.kube import ensure_crd
from tests.infra.fixtures import K8s

NODE_FOLDER = PurePosixPath("/var/lib/ianvs-lab/datasets/synth/data")

# Sedna's Dataset CRD as its documentation describes it (the fields, not Sedna's file).
SEDNA_DATASET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME},
    "spec": {
        "group": "sedna.io",
        "names": {"kind": "Dataset", "listKind": "DatasetList", "plural": "datasets", "singular": "dataset"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "required": ["spec"],
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": {
                                "type": "object",
                                "required": ["url", "format"],
                                "properties": {
                                    "url": {"type": "string"},
                                    "format": {"type": "string", "enum": ["txt", "csv"]},
                                    "nodeName": {"type": "string"},
                                    "credentialName": {"type": "string"},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {
                                    "numberOfSamples": {"type": "integer"},
                                    "updateTime": {"type": "string", "format": "date-time"},
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A synthetic Cityscapes-format dataset folder with its index files (rgb, depth, label a line)."""
    return synthesize(tmp_path / "synth" / "data", train_per_city=2, test_per_city=1, size=(64, 32), seed=0).root


def lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


# --- the manifests ---------------------------------------------------------------------------------------------


def test_one_dataset_per_split_names_the_node_and_a_txt_index_on_it(dataset: Path) -> None:
    documents = dataset_manifests(dataset, node="edge-1", node_folder=NODE_FOLDER, name="synth")
    assert [d["metadata"]["name"] for d in documents] == ["synth-train", "synth-test"]
    for document, split in zip(documents, ("train", "test"), strict=True):
        assert document["apiVersion"] == "sedna.io/v1alpha1" and document["kind"] == "Dataset"
        assert document["spec"] == {
            "url": f"{NODE_FOLDER}/sedna-{split}-index.txt",
            "format": "txt",
            "nodeName": "edge-1",
        }
        assert document["metadata"]["labels"]["ianvs-lab/split"] == split


def test_the_sedna_index_names_every_sample_by_its_absolute_path_on_the_node(dataset: Path) -> None:
    dataset_manifests(dataset, node="edge-1", node_folder=NODE_FOLDER)
    ours = lines(dataset / "train-index.txt")
    sedna = lines(dataset / "sedna-train-index.txt")
    assert len(sedna) == len(ours) > 0
    for our_line, sedna_line in zip(ours, sedna, strict=True):
        assert sedna_line == [str(NODE_FOLDER / token) for token in our_line]


def test_the_samples_annotation_counts_the_index_lines(dataset: Path) -> None:
    documents = dataset_manifests(dataset, node="edge-1")
    counts = [str(len(lines(dataset / f"{split}-index.txt"))) for split in ("train", "test")]
    assert [d["metadata"]["annotations"]["ianvs-lab/samples"] for d in documents] == counts


def test_by_default_the_node_sees_the_dataset_at_the_same_path(dataset: Path) -> None:
    (train, _) = dataset_manifests(dataset, node="edge-1")
    assert train["spec"]["url"] == str(dataset / "sedna-train-index.txt")
    assert all(Path(token).is_file() for line in lines(dataset / "sedna-train-index.txt") for token in line)


def test_a_second_run_leaves_the_sedna_index_untouched(dataset: Path) -> None:
    dataset_manifests(dataset, node="edge-1")
    written = dataset / "sedna-train-index.txt"
    before = written.stat().st_mtime_ns
    time.sleep(0.01)
    dataset_manifests(dataset, node="edge-1")
    assert written.stat().st_mtime_ns == before


def test_a_missing_sample_file_is_refused_and_no_sedna_index_is_written(dataset: Path) -> None:
    first_test_image = lines(dataset / "test-index.txt")[0][0]
    (dataset / first_test_image).unlink()
    with pytest.raises(DatasetError, match=r"test-index.txt:\d+: file not found"):
        dataset_manifests(dataset, node="edge-1")
    assert not list(dataset.glob("sedna-*"))


def test_a_sample_outside_the_dataset_folder_is_refused(dataset: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"x")
    index = dataset / "train-index.txt"
    index.write_text(index.read_text() + f"{outside} {outside} {outside}\n")
    with pytest.raises(DatasetError, match="outside the dataset folder"):
        dataset_manifests(dataset, node="edge-1")


def test_a_node_name_kubernetes_would_refuse_is_bad_input(dataset: Path) -> None:
    with pytest.raises(DatasetError, match="--node 'Edge_1': expected a Kubernetes node name"):
        dataset_manifests(dataset, node="Edge_1")


def test_a_folder_without_index_files_says_how_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="controller dataset index"):
        dataset_manifests(tmp_path, node="edge-1")


def test_a_long_dataset_name_keeps_its_split_suffix(dataset: Path) -> None:
    documents = dataset_manifests(dataset, node="edge-1", name="Very_Long " * 10)
    names = [d["metadata"]["name"] for d in documents]
    assert all(len(name) <= 63 for name in names)
    assert names[0].endswith("-train") and names[1].endswith("-test")


def test_the_command_prints_yaml_for_a_cache_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synthesize(tmp_path / "made", train_per_city=1, test_per_city=1, size=(64, 32), seed=0)
    assert main(["dataset", "pull", str(tmp_path / "made"), "--name", "city-synth"]) == 0
    capsys.readouterr()
    assert main(["dataset", "sedna", "city-synth", "--node", "edge-2", "--split", "test"]) == 0
    (document,) = list(yaml.safe_load_all(capsys.readouterr().out))
    assert document["metadata"]["name"] == "city-synth-test"
    assert document["metadata"]["annotations"]["ianvs-lab/dataset-sha256"]
    assert document["spec"]["nodeName"] == "edge-2"


def test_the_command_refuses_what_is_neither_a_cache_entry_nor_a_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "sedna", "no-such-dataset", "--node", "edge-1"]) == 2
    assert "'no-such-dataset': not a cache entry" in capsys.readouterr().err


# --- on the real API server ------------------------------------------------------------------------------------


def _datasets(k8s: K8s) -> dict[str, dict[str, Any]]:
    found = k8s.custom.list_namespaced_custom_object("sedna.io", "v1alpha1", k8s.namespace, "datasets")["items"]
    return {item["metadata"]["name"]: item for item in found}


def _without_crd(k8s: K8s) -> None:
    from kubernetes import client

    try:
        k8s.apiextensions.delete_custom_resource_definition(CRD_NAME)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            k8s.apiextensions.read_custom_resource_definition(CRD_NAME)
        except client.ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(0.2)
    pytest.fail(f"{CRD_NAME} still there after 60 s")


def test_apply_without_sednas_crd_says_so_and_creates_nothing(dataset: Path, k8s: K8s) -> None:
    _without_crd(k8s)
    documents = dataset_manifests(dataset, node="edge-1", namespace=k8s.namespace)
    with pytest.raises(ClusterError, match=f"no CustomResourceDefinition {CRD_NAME} \\(Sedna is not installed\\)"):
        apply_manifests(documents, k8s.env.kubeconfig, None)


def test_applied_datasets_pass_sednas_schema_and_read_back_unchanged(dataset: Path, k8s: K8s) -> None:
    ensure_crd(k8s.api, SEDNA_DATASET_CRD)
    documents = dataset_manifests(dataset, node="edge-1", node_folder=NODE_FOLDER, namespace=k8s.namespace)
    apply_manifests(documents, k8s.env.kubeconfig, None)
    stored = _datasets(k8s)
    assert sorted(stored) == sorted(d["metadata"]["name"] for d in documents)
    for document in documents:
        item = stored[document["metadata"]["name"]]
        assert item["spec"] == document["spec"]  # no field pruned by the structural schema
        assert item["metadata"]["annotations"] == document["metadata"]["annotations"]


def test_applying_the_same_manifests_again_changes_nothing(dataset: Path, k8s: K8s) -> None:
    ensure_crd(k8s.api, SEDNA_DATASET_CRD)
    documents = dataset_manifests(dataset, node="edge-1", namespace=k8s.namespace)
    apply_manifests(documents, k8s.env.kubeconfig, None)
    versions = {name: item["metadata"]["resourceVersion"] for name, item in _datasets(k8s).items()}
    apply_manifests(dataset_manifests(dataset, node="edge-1", namespace=k8s.namespace), k8s.env.kubeconfig, None)
    assert {name: item["metadata"]["resourceVersion"] for name, item in _datasets(k8s).items()} == versions


def test_the_command_applies_them_with_a_kubeconfig(
    dataset: Path, k8s: K8s, capsys: pytest.CaptureFixture[str]
) -> None:
    ensure_crd(k8s.api, SEDNA_DATASET_CRD)
    command = ["dataset", "sedna", str(dataset), "--node", "edge-1", "--namespace", k8s.namespace]
    assert main([*command, "--apply", "--kubeconfig", str(k8s.env.kubeconfig)]) == 0
    assert capsys.readouterr().out == "", "--apply prints no manifests (the log says what was applied)"
    assert sorted(_datasets(k8s)) == ["data-test", "data-train"]
