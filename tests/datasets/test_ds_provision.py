"""Provisioning: download -> verify -> extract -> index -> marker, and "present means no network"."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from controller.datasets.cache import MANIFEST, MARKER, DataCache, read_marker
from controller.datasets.catalog import Catalog
from controller.datasets.index import read_index
from controller.datasets.provision import Request, provision
from controller.errors import DatasetError
from tests.datasets.conftest import FAST, cityscapes_tree, make_zip, sha256, tree, zip_folder
from tests.datasets.dataset_server import FileServer


@pytest.fixture
def city_zip(tmp_path: Path) -> Path:
    """A zip of a small empty-file Cityscapes tree under one top folder (like most dataset archives)."""
    src = cityscapes_tree(tmp_path / "src", {"train": ["ulm", "jena"], "val": ["lindau"]})
    return zip_folder(src, tmp_path / "archives" / "city.zip", prefix="cityscapes/")


def _pull(source: str, dest: Path | None = None, **kw) -> object:  # type: ignore[no-untyped-def]
    catalog = kw.pop("catalog", None) or Catalog.load(include_user=False)
    return provision(Request(source, dest=dest, **kw), cache=DataCache(), catalog=catalog, policy=FAST)


def test_pull_downloads_extracts_indexes_and_marks_the_folder(
    server: FileServer, city_zip: Path, tmp_path: Path
) -> None:
    url = server.add("/city.zip", city_zip.read_bytes())
    result = _pull(url, tmp_path / "ds", sha256=sha256(city_zip.read_bytes()))
    assert result.fetched and result.path == tmp_path / "ds"
    assert [s.city for s in read_index(result.train_index)] == ["jena", "ulm"]
    assert [s.city for s in read_index(result.test_index)] == ["lindau"]
    marker = read_marker(tmp_path / "ds")
    assert marker is not None and marker.sha256 == sha256(city_zip.read_bytes()) and marker.layout == "cityscapes"
    assert marker.source == url and marker.files == 9 + 2  # 3 images x 3 files + 2 index files


def test_second_pull_is_served_from_the_marker_without_network(
    server: FileServer, city_zip: Path, tmp_path: Path
) -> None:
    url = server.add("/city.zip", city_zip.read_bytes())
    _pull(url, tmp_path / "ds")
    server.stop()  # any request would now fail
    again = _pull(url, tmp_path / "ds")
    assert not again.fetched and len(server.hits) == 1


def test_default_destination_is_inside_the_cache(server: FileServer, city_zip: Path, isolated_env: Path) -> None:
    url = server.add("/city.zip", city_zip.read_bytes())
    result = _pull(url)
    assert result.path == isolated_env / "city" / "data"
    entry = DataCache().load("city")
    assert entry is not None and entry.copies == [str(result.path)] and entry.layout == "cityscapes"
    assert (isolated_env / "city" / "archives" / "city.zip").read_bytes() == city_zip.read_bytes()


def test_a_cached_archive_is_reused_for_a_second_destination(
    server: FileServer, city_zip: Path, tmp_path: Path
) -> None:
    url = server.add("/city.zip", city_zip.read_bytes())
    _pull(url, tmp_path / "a")
    _pull(url, tmp_path / "b")
    assert len(server.gets("/city.zip")) == 1
    assert DataCache().load("city").copies == [str(tmp_path / "a"), str(tmp_path / "b")]  # type: ignore[union-attr]


def test_wrong_sha256_leaves_neither_dataset_nor_archive(
    server: FileServer, city_zip: Path, tmp_path: Path, isolated_env: Path
) -> None:
    url = server.add("/city.zip", city_zip.read_bytes())
    with pytest.raises(DatasetError, match=f"expected {'0' * 64}, got {sha256(city_zip.read_bytes())}"):
        _pull(url, tmp_path / "ds", sha256="0" * 64)
    assert not (tmp_path / "ds").exists()
    assert not any(p.name.startswith(".ds.staging") for p in tmp_path.iterdir())
    assert tree(isolated_env / "city" / "archives") == set()


def test_an_unsafe_archive_leaves_no_dataset(server: FileServer, tmp_path: Path) -> None:
    bad = make_zip(tmp_path / "bad.zip", {"ok.txt": b"1", "../escape.txt": b"2"})
    url = server.add("/bad.zip", bad.read_bytes())
    with pytest.raises(DatasetError, match="contains '..'"):
        _pull(url, tmp_path / "work" / "ds")
    assert tree(tmp_path / "work") == {".ds.lock"} or tree(tmp_path / "work") == set()
    assert not (tmp_path / "escape.txt").exists()


def test_a_foreign_folder_at_the_destination_is_never_overwritten(
    server: FileServer, city_zip: Path, tmp_path: Path
) -> None:
    url = server.add("/city.zip", city_zip.read_bytes())
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "thesis.tex").write_text("precious")
    with pytest.raises(DatasetError, match="was not prepared by ianvs-lab"):
        _pull(url, tmp_path / "ds")
    assert tree(tmp_path / "ds") == {"thesis.tex"} and server.hits == []


def test_a_dataset_from_another_archive_is_replaced(server: FileServer, city_zip: Path, tmp_path: Path) -> None:
    other = zip_folder(cityscapes_tree(tmp_path / "o", {"train": ["ulm"], "val": ["lindau"]}), tmp_path / "o.zip")
    first = server.add("/other.zip", other.read_bytes())
    _pull(first, tmp_path / "ds")
    second = server.add("/city.zip", city_zip.read_bytes())
    result = _pull(second, tmp_path / "ds")
    assert result.fetched and read_marker(tmp_path / "ds").source == second  # type: ignore[union-attr]
    assert not any(p.name.startswith(".ds.") and "lock" not in p.name for p in tmp_path.iterdir())


def test_changed_index_options_rewrite_the_index_without_network(
    server: FileServer, city_zip: Path, tmp_path: Path
) -> None:
    url = server.add("/city.zip", city_zip.read_bytes())
    _pull(url, tmp_path / "ds")
    server.stop()
    result = _pull(url, tmp_path / "ds", train_index_name="train-by-city.txt", tasks="by-city")
    assert not result.fetched and result.train_index == tmp_path / "ds" / "train-by-city.txt"
    assert result.marker.index["tasks"] == {"jena": 1, "ulm": 1}


def test_local_archive_and_file_url_need_no_server(city_zip: Path, tmp_path: Path) -> None:
    by_path = _pull(str(city_zip), tmp_path / "a")
    by_url = _pull(city_zip.as_uri(), tmp_path / "b")
    assert by_path.marker.sha256 == by_url.marker.sha256 == sha256(city_zip.read_bytes())
    assert city_zip.exists()  # a local archive is used in place, never moved


def test_local_folder_is_linked_into_place(tmp_path: Path) -> None:
    src = cityscapes_tree(tmp_path / "src", {"train": ["ulm"], "val": ["lindau"]})
    result = _pull(str(src), tmp_path / "ds")
    image = "leftImg8bit/train/ulm/ulm_000000_000019_leftImg8bit.png"
    assert (tmp_path / "ds" / image).stat().st_ino == (src / image).stat().st_ino
    assert not (src / "train-index.txt").exists()  # the source folder is left as it was
    assert result.train_index is not None and result.train_index.is_file()


def test_archive_shipping_its_own_index_files_keeps_them(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "x.zip",
        {
            "a.png": b"",
            "a_label.png": b"",
            "train-index.txt": b"a.png a_label.png\n",
            "test-index.txt": b"a.png a_label.png\n",
        },
    )
    result = _pull(str(archive), tmp_path / "ds", require_index=True)
    assert result.train_index.read_text() == "a.png a_label.png\n"  # type: ignore[union-attr]


def test_unindexable_archive_warns_on_pull_and_fails_when_an_index_is_required(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    archive = make_zip(tmp_path / "x.zip", {"readme.txt": b"hi"})
    with caplog.at_level(logging.WARNING):
        result = _pull(str(archive), tmp_path / "a")
    assert result.train_index is None and any("no index files written" in m for m in caplog.messages)
    with pytest.raises(DatasetError, match="cannot generate index files"):
        _pull(str(archive), tmp_path / "b", require_index=True)
    assert not (tmp_path / "b").exists()


def test_catalog_name_uses_the_user_catalog_mirror(server: FileServer, city_zip: Path, tmp_path: Path) -> None:
    url = server.add("/mirror/city.zip", city_zip.read_bytes())
    user = tmp_path / "catalog.yaml"
    user.write_text(
        f"datasets:\n  lab-city:\n    url: {url}\n    sha256: {sha256(city_zip.read_bytes())}\n    layout: cityscapes\n"
    )
    result = _pull("lab-city", catalog=Catalog.load(user))
    assert result.name == "lab-city" and result.marker.layout == "cityscapes"


def test_multi_archive_entry_extracts_every_part_into_one_tree(tmp_path: Path) -> None:
    src = cityscapes_tree(tmp_path / "src", {"train": ["ulm"], "val": ["lindau"]})
    downloads = tmp_path / "downloads"
    for part in ("leftImg8bit", "gtFine", "disparity"):
        zip_folder(src / part, downloads / f"{part}_trainvaltest.zip", prefix=f"{part}/")
    user = tmp_path / "catalog.yaml"
    user.write_text(
        "datasets:\n  cityscapes:\n    files: [gtFine_trainvaltest.zip, leftImg8bit_trainvaltest.zip, disparity_trainvaltest.zip]\n"
    )
    result = _pull("cityscapes", from_=str(downloads), catalog=Catalog.load(user))
    assert [p.file for p in result.marker.parts] == [
        "gtFine_trainvaltest.zip",
        "leftImg8bit_trainvaltest.zip",
        "disparity_trainvaltest.zip",
    ]
    assert len(read_index(result.train_index)[0].inputs) == 2  # rgb + disparity from two different zips


def test_cityscapes_without_a_local_copy_explains_the_login(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot be downloaded automatically: Login-gated"):
        _pull("cityscapes")


def test_unknown_name_lists_the_catalog(tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match="not a catalog name \\(known: cityscapes, cloud-robotics, ianvs-semantic-segmentation\\)"
    ):
        _pull("citiscapes")


def test_free_disk_is_checked_before_downloading(server: FileServer, tmp_path: Path) -> None:
    server.add("/huge.zip", b"tiny", length_delta=1 << 50)  # announces a petabyte
    with pytest.raises(DatasetError, match="not enough free disk space"):
        _pull(server.url("/huge.zip"), tmp_path / "ds")
    archives = DataCache().archive_dir("huge")
    assert not archives.exists() or tree(archives) == set()


def test_marker_and_manifest_describe_the_folder(server: FileServer, city_zip: Path, tmp_path: Path) -> None:
    _pull(server.add("/city.zip", city_zip.read_bytes()), tmp_path / "ds")
    manifest = (tmp_path / "ds" / MANIFEST).read_text().splitlines()
    assert "0\tcityscapes/leftImg8bit/train/ulm/ulm_000000_000019_leftImg8bit.png" in manifest
    data = json.loads((tmp_path / "ds" / MARKER).read_text())
    assert data["train_index"] == "train-index.txt" and data["index"]["root"] == "cityscapes"
