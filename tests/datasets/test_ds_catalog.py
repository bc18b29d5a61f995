"""The built-in catalog and the user catalog that overrides it."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.datasets.catalog import Catalog
from controller.errors import ConfigError
from tests.datasets.conftest import REPO

OBS_URL = "https://kubeedge.obs.cn-north-1.myhuaweicloud.com/sedna-robo/semantic_segmentation_dataset.zip"


def _user(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return path


def test_builtin_catalog_names_the_public_datasets_of_the_field() -> None:
    catalog = Catalog.load(include_user=False)
    assert catalog.names() == ["cityscapes", "cloud-robotics", "ianvs-semantic-segmentation"]
    assert catalog.get("ianvs-semantic-segmentation").url == OBS_URL  # type: ignore[union-attr]
    assert {n: catalog.get(n).layout for n in catalog.names()} == {  # type: ignore[union-attr]
        "cityscapes": "cityscapes",
        "cloud-robotics": "cloud-robotics",
        "ianvs-semantic-segmentation": "ianvs-segmentation",
    }


def test_cityscapes_entry_explains_how_to_pull_a_local_copy() -> None:
    entry = Catalog.load(include_user=False).get("cityscapes")
    assert entry is not None and entry.url is None
    assert [f.file for f in entry.files] == [
        "gtFine_trainvaltest.zip",
        "leftImg8bit_trainvaltest.zip",
        "disparity_trainvaltest.zip",
    ]
    assert "controller dataset pull cityscapes --from" in entry.login


def test_builtin_catalog_ships_inside_the_package() -> None:
    assert (REPO / "controller" / "datasets" / "catalog.yaml").is_file()


def test_user_catalog_overrides_only_the_keys_it_sets(tmp_path: Path) -> None:
    user = _user(tmp_path, "datasets:\n  ianvs-semantic-segmentation:\n    url: https://mirror.lab/ss.zip\n")
    entry = Catalog.load(user).get("ianvs-semantic-segmentation")
    assert entry is not None
    assert (entry.url, entry.layout, entry.origin) == ("https://mirror.lab/ss.zip", "ianvs-segmentation", str(user))


def test_user_catalog_adds_entries_and_resolves_relative_paths(tmp_path: Path) -> None:
    user = _user(tmp_path, "datasets:\n  lab-set:\n    url: ./archives/lab.zip\n    layout: flat\n")
    entry = Catalog.load(user).get("lab-set")
    assert entry is not None and entry.url == str(tmp_path / "archives" / "lab.zip")


def test_user_catalog_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = _user(tmp_path, "datasets:\n  env-set: {url: 'https://h/e.zip'}\n")
    monkeypatch.setenv("IANVS_LAB_CATALOG", str(user))
    assert "env-set" in Catalog.load()


def test_user_catalog_in_the_xdg_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "config" / "ianvs-lab"  # XDG_CONFIG_HOME is tmp_path/config (isolated_env)
    folder.mkdir(parents=True)
    (folder / "catalog.yaml").write_text("datasets:\n  xdg-set: {url: 'https://h/x.zip'}\n")
    assert "xdg-set" in Catalog.load()


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ("  a: {sha256: abc}\n", "mine.yaml:2:7: datasets.a.sha256", "64 hexadecimal digits"),
        ("  a: {layout: coco}\n", "mine.yaml:2:7: datasets.a.layout", "unknown layout 'coco'"),
        ("  a: {size: -1}\n", "mine.yaml:2:7: datasets.a.size", "byte count"),
        ("  a: {ulr: x}\n", "mine.yaml:2:7: datasets.a.ulr", "unknown key"),
        ("  'bad name': {}\n", "mine.yaml:2:3: datasets.bad name", "invalid dataset name"),
    ],
)
def test_bad_user_catalog_entries_name_file_line_and_key(body: str, where: str, message: str, tmp_path: Path) -> None:
    user = _user(tmp_path, "datasets:\n" + body)
    with pytest.raises(ConfigError, match=message) as caught:
        Catalog.load(user)
    assert f"{where}: " in str(caught.value)
