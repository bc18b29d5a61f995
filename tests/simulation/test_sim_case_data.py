"""Case data: the files a job's cases read, bundled and served by the controller, fetched into a node's dataset
cache by a case Pod and linked where the case reads them (multi-host labs, whose nodes lack the controller's
folders). The server runs on loopback; the "Pod" is this process with the original folder moved away."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import threading
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from controller.datasets.index import read_index
from controller.errors import ConfigError
from controller.simulation.case_data import (
    Bundle,
    CaseData,
    DataServer,
    address_towards,
    bundle,
    materialise,
)
from controller.simulation.case_pods import CasePodSettings, case_job
from controller.simulation.simulation_job import SimulationJob


@pytest.fixture
def data(tmp_path: Path, tiny_dataset: Path) -> Path:
    """A private copy of the tiny dataset (the tests move it away to play a node without it)."""
    copy = tmp_path / "lab-data" / "synth"
    shutil.copytree(tiny_dataset, copy)
    return copy


def _indexes(data: Path) -> list[str]:
    return [str(data / "train-index.txt"), str(data / "test-index.txt")]


def _serve(archive: Bundle) -> DataServer:
    return DataServer(archive.path.parent, "127.0.0.1")


def test_the_bundle_holds_the_index_files_and_every_file_they_name_under_their_absolute_paths(
    data: Path, tmp_path: Path
) -> None:
    built = bundle([], tmp_path / "cache", _indexes(data))
    with tarfile.open(built.path) as tar:
        members = set(tar.getnames())
    named = {str(p).lstrip("/") for index in _indexes(data) for s in read_index(index) for p in (*s.inputs, s.label)}
    assert named <= members
    assert {str(data / "train-index.txt").lstrip("/"), str(data / "test-index.txt").lstrip("/")} <= members
    assert len(members) == built.files
    assert built.roots == (str(data),)
    assert built.sha256 == hashlib.sha256(built.path.read_bytes()).hexdigest()


def test_the_same_files_make_the_same_archive(data: Path, tmp_path: Path) -> None:
    first = bundle([], tmp_path / "one", _indexes(data))
    second = bundle([], tmp_path / "two", _indexes(data))
    assert first.sha256 == second.sha256


def test_only_the_newest_archives_are_kept(data: Path, tmp_path: Path) -> None:
    from controller.simulation import case_data

    cache = tmp_path / "cache"
    built = []
    for number in range(case_data.KEEP_ARCHIVES + 2):
        (data / "extra.txt").write_text(f"version {number}\n")  # another set of files: another archive
        built.append(bundle([str(data / "extra.txt")], cache, _indexes(data)))
    kept = sorted(path.name for path in cache.glob("*.tar"))
    assert kept == sorted(b.path.name for b in built[-case_data.KEEP_ARCHIVES :])
    assert len(list(cache.glob("*.tar.sha256"))) == case_data.KEEP_ARCHIVES


def test_a_missing_file_is_named_and_no_archive_is_written(data: Path, tmp_path: Path) -> None:
    sample = read_index(data / "train-index.txt")[0]
    sample.label.unlink()
    with pytest.raises(ConfigError, match=str(sample.label)):
        bundle([], tmp_path / "cache", _indexes(data))
    assert not list((tmp_path / "cache").glob("*.tar"))


def test_the_server_serves_the_archive_and_nothing_else(data: Path, tmp_path: Path) -> None:
    built = bundle([], tmp_path / "cache", _indexes(data))
    with _serve(built) as server:
        assert urllib.request.urlopen(f"{server.base_url}/{built.path.name}").read() == built.path.read_bytes()
        for path, status in (("/", 403), ("/../etc/passwd", 404), ("/nothing.tar", 404)):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(server.base_url + path)
            assert refused.value.code == status


def test_a_pod_fetches_the_data_into_the_cache_and_reads_it_at_the_controllers_paths(
    data: Path, tmp_path: Path
) -> None:
    built = bundle([], tmp_path / "cache", _indexes(data))
    expected = read_index(data / "test-index.txt")
    shutil.move(data, tmp_path / "elsewhere")  # the node has no copy of the controller's folder
    with _serve(built) as server:
        done = materialise(built.case_data(server.base_url), tmp_path / "node-cache")
    assert done.fetched and done.path.parent == tmp_path / "node-cache"
    assert data.is_symlink() and done.linked == (str(data),)
    assert [s.rgb.read_bytes() for s in read_index(data / "test-index.txt")] == [s.rgb.read_bytes() for s in expected]


def test_a_second_pod_on_the_node_finds_the_data_in_the_cache(data: Path, tmp_path: Path) -> None:
    built = bundle([], tmp_path / "cache", _indexes(data))
    shutil.move(data, tmp_path / "elsewhere")
    with _serve(built) as server:
        case_data = built.case_data(server.base_url)
        materialise(case_data, tmp_path / "node-cache")
    data.unlink()  # the next Pod's own filesystem has no link yet; the server is gone
    again = materialise(case_data, tmp_path / "node-cache")
    assert not again.fetched and data.is_symlink()


def test_pods_starting_together_fetch_once(data: Path, tmp_path: Path) -> None:
    built = bundle([], tmp_path / "cache", _indexes(data))
    shutil.move(data, tmp_path / "elsewhere")
    outcomes: list[bool] = []
    with _serve(built) as server:
        case_data = built.case_data(server.base_url)
        threads = [
            threading.Thread(target=lambda: outcomes.append(materialise(case_data, tmp_path / "node-cache").fetched))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(outcomes) == [False, False, True]


def test_data_that_does_not_match_its_checksum_is_refused_and_not_cached(data: Path, tmp_path: Path) -> None:
    built = bundle([], tmp_path / "cache", _indexes(data))
    shutil.move(data, tmp_path / "elsewhere")
    with _serve(built) as server:
        wrong = replace(built.case_data(server.base_url), sha256="0" * 64)
        with pytest.raises(ValueError, match=rf"case data from {wrong.url}: .*sha256"):
            materialise(wrong, tmp_path / "node-cache")
    assert not data.exists() and not list((tmp_path / "node-cache").glob("case-data-*/*"))


def test_a_root_that_exists_in_the_pod_is_refused(data: Path, tmp_path: Path) -> None:
    built = bundle([], tmp_path / "cache", _indexes(data))
    with _serve(built) as server, pytest.raises(ValueError, match=f"{data} exists in the case Pod already"):
        materialise(built.case_data(server.base_url), tmp_path / "node-cache")


def test_the_controller_is_reached_at_its_address_on_the_route_to_the_api_server() -> None:
    assert address_towards("https://127.0.0.1:6443") == "127.0.0.1"


def test_a_job_with_case_data_carries_it_through_the_api_and_mounts_the_nodes_cache() -> None:
    case_data = CaseData("http://10.0.0.1:8000/ab.tar", "a" * 64, ("/srv/data",), 10)
    job = SimulationJob.from_object(
        {
            "metadata": {"name": "j-0123456789ab", "namespace": "lab", "uid": "u"},
            "spec": {"caseId": "0123456789ab", "specHash": "b" * 64, "image": "img", "caseData": case_data.to_object()},
        }
    )
    assert job.case_data == case_data
    assert job.to_manifest()["spec"]["caseData"] == case_data.to_object()
    pod = case_job(job, CasePodSettings(workspace="/ws", data_cache="/var/cache/data"))["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][-2:] == ["--data-cache", "/var/cache/data"]
    assert {"name": "data-cache", "mountPath": "/var/cache/data"} in container["volumeMounts"]
    assert {"name": "data-cache", "hostPath": {"path": "/var/cache/data", "type": "DirectoryOrCreate"}} in pod[
        "volumes"
    ]


def test_a_job_without_case_data_mounts_no_cache() -> None:
    job = SimulationJob.from_object(
        {"metadata": {"name": "j", "namespace": "lab", "uid": "u"}, "spec": {"caseId": "0123456789ab", "image": "i"}}
    )
    pod = case_job(job, CasePodSettings(workspace="/ws"))["spec"]["template"]["spec"]
    assert "--data-cache" not in pod["containers"][0]["args"]
    assert all(volume["name"] != "data-cache" for volume in pod["volumes"])
