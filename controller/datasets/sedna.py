"""Sedna `Dataset` manifests for a dataset on a node: the dataset manager as a plug-in for Sedna.

Sedna (kubeedge/sedna) names the data its jobs use with a ``Dataset`` object (sedna.io/v1alpha1): ``spec.url`` is
an index file on the node, ``spec.format`` ``txt`` (one sample a line, space-separated paths: the format this
project's index files have), ``spec.nodeName`` the node that holds the files. Sedna's local controller on that node
reads the index and fills in ``status.numberOfSamples``.

Our index files name samples relative to the index (Ianvs's rule); Sedna's workers open the paths as written. So
for each split this writes a Sedna index next to ours, ``sedna-<split>-index.txt``, with every path absolute as
the node sees it (``node_folder``: the same folder by default, which is what the kind lab's mounts give), and the
manifest points at it. Writing is atomic and skipped when the content is unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from controller import fsio
from controller.datasets.index import TEST_INDEX, TRAIN_INDEX, read_index
from controller.errors import ClusterError, DatasetError

log = logging.getLogger(__name__)

API_VERSION = "sedna.io/v1alpha1"
KIND = "Dataset"
CRD_NAME = "datasets.sedna.io"
SPLITS = ("train", "test")
MANAGED_BY = "ianvs-lab"
_NAME_MAX = 57  # a label value's limit (63) less "-train": the split suffix is never cut off


@dataclass(frozen=True)
class SednaIndex:
    """One split of a dataset as Sedna sees it: the index written for the node and what it holds."""

    split: str
    source: Path
    """our index file, here"""
    written: Path
    """the Sedna index, here"""
    node_path: PurePosixPath
    """the Sedna index on the node: the manifest's url"""
    samples: int
    sha256: str
    """of the Sedna index's bytes"""


def resource_name(text: str) -> str:
    """A Dataset name prefix (DNS-1123 label, room left for a split suffix) made from a dataset name:
    'Cityscapes_Fine' -> 'cityscapes-fine'."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)[:_NAME_MAX].rstrip("-")
    if not name:
        raise DatasetError(f"{text!r} gives no usable Kubernetes name: pass --name (lowercase letters, digits, '-')")
    return name


def index_files(folder: Path, splits: Sequence[str] = SPLITS) -> dict[str, Path]:
    """The index file of each split in a dataset folder: the ones its marker names, else the default names."""
    from controller.datasets.cache import read_marker

    marker = read_marker(folder)
    named = {"train": TRAIN_INDEX, "test": TEST_INDEX}
    if marker is not None:
        named = {"train": marker.train_index or TRAIN_INDEX, "test": marker.test_index or TEST_INDEX}
    found = {split: folder / named[split] for split in splits if (folder / named[split]).is_file()}
    if not found:
        wanted = ", ".join(named[split] for split in splits)
        raise DatasetError(f"no index file ({wanted}); write them with `controller dataset index`", file=folder)
    return found


def sedna_index(source: Path, folder: Path, node_folder: PurePosixPath, split: str) -> tuple[SednaIndex, str]:
    """The Sedna index of ``source`` (its samples with absolute paths on the node) and its text, not yet written.
    Every file an index names must be here, inside ``folder`` (what is missing here is missing on the node too)."""
    samples = read_index(source, check_exists=True)
    lines = []
    for sample in samples:
        tokens = []
        for path in (*sample.inputs, sample.label):
            try:
                inside = path.relative_to(folder)
            except ValueError:
                raise DatasetError(
                    f"{path} is outside the dataset folder {folder}; the node sees only that folder",
                    file=source,
                    line=sample.line,
                ) from None
            tokens.append(str(node_folder / inside.as_posix()))
        lines.append(" ".join(tokens))
    text = "\n".join(lines) + "\n"
    written = source.parent / f"sedna-{split}-index.txt"
    index = SednaIndex(
        split=split,
        source=source,
        written=written,
        node_path=node_folder / written.relative_to(folder).as_posix(),
        samples=len(samples),
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )
    return index, text


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        fsio.write_text(path, text)


def manifest(index: SednaIndex, *, name: str, node: str, namespace: str, dataset_sha256: str | None) -> dict[str, Any]:
    """The Dataset object of one split."""
    annotations = {"ianvs-lab/samples": str(index.samples), "ianvs-lab/index-sha256": index.sha256}
    if dataset_sha256:
        annotations["ianvs-lab/dataset-sha256"] = dataset_sha256
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": f"{name}-{index.split}",
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "ianvs-lab/dataset": name,
                "ianvs-lab/split": index.split,
            },
            "annotations": annotations,
        },
        "spec": {"url": str(index.node_path), "format": "txt", "nodeName": node},
    }


def dataset_manifests(
    folder: Path,
    *,
    node: str,
    node_folder: PurePosixPath | None = None,
    name: str | None = None,
    namespace: str = "default",
    splits: Sequence[str] = SPLITS,
) -> list[dict[str, Any]]:
    """The Dataset objects (one per split that has an index) of the dataset in ``folder`` on ``node``."""
    from controller.datasets.cache import read_marker

    folder = folder.absolute()
    if not folder.is_dir():
        raise DatasetError("not a dataset folder", file=folder)
    if not node or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", node):
        raise DatasetError(f"--node {node!r}: expected a Kubernetes node name (lowercase letters, digits, '-', '.')")
    if node_folder is not None and not node_folder.is_absolute():
        raise DatasetError(f"--node-path {node_folder}: expected an absolute path on the node")
    marker = read_marker(folder)
    base = resource_name(name or (marker.name if marker else folder.name))
    on_node = node_folder or PurePosixPath(folder.as_posix())
    # every split is checked before any Sedna index is written: a bad index leaves nothing half-done
    indexes = [sedna_index(source, folder, on_node, split) for split, source in index_files(folder, splits).items()]
    documents = []
    for index, text in indexes:
        _write_if_changed(index.written, text)
        log.info("%s split: %d samples, Sedna index %s", index.split, index.samples, index.written)
        documents.append(
            manifest(index, name=base, node=node, namespace=namespace, dataset_sha256=marker.sha256 if marker else None)
        )
    return documents


def apply_manifests(documents: Sequence[dict[str, Any]], kubeconfig: Path | None, context: str | None) -> None:
    """Create or replace the Dataset objects; a cluster without Sedna's Dataset CRD is a clear error, before any
    object is written."""
    from kubernetes import client

    from controller.simulation.kube import api_client, apply, reason

    api = api_client(kubeconfig, context)
    try:
        try:
            client.ApiextensionsV1Api(api).read_custom_resource_definition(CRD_NAME)
        except client.ApiException as exc:
            if exc.status == 404:
                raise ClusterError(
                    f"the cluster has no CustomResourceDefinition {CRD_NAME} (Sedna is not installed); "
                    "install Sedna, or leave out --apply and keep the manifests"
                ) from None
            raise ClusterError(f"CustomResourceDefinition {CRD_NAME}: {reason(exc)}") from None
        for document in documents:
            apply(api, document)
            log.info("applied Dataset %s/%s", document["metadata"]["namespace"], document["metadata"]["name"])
    finally:
        api.close()
