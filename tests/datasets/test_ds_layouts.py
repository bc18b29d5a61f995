"""Index generation for the Cityscapes, Ianvs segmentation-zip, Cloud-Robotics and flat layouts."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from controller.datasets.images import read_label, write_png
from controller.datasets.index import read_index
from controller.datasets.layouts import detect_layout, find_root, generate_index
from controller.errors import DatasetError
from tests.datasets.conftest import cityscapes_tree


def _touch(root: Path, *paths: str) -> None:
    for rel in paths:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_cityscapes_layout_pairs_image_disparity_and_train_ids(tmp_path: Path) -> None:
    cityscapes_tree(tmp_path, {"train": ["aachen", "bremen"], "val": ["lindau"]})
    result = generate_index(tmp_path)
    assert result.layout == "cityscapes"
    assert _lines(result.train_index) == [
        "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png "
        "disparity/train/aachen/aachen_000000_000019_disparity.png "
        "gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png",
        "leftImg8bit/train/bremen/bremen_000000_000019_leftImg8bit.png "
        "disparity/train/bremen/bremen_000000_000019_disparity.png "
        "gtFine/train/bremen/bremen_000000_000019_gtFine_labelTrainIds.png",
    ]
    assert [s.city for s in read_index(result.test_index)] == ["lindau"]


def test_cityscapes_without_disparity_writes_two_columns(tmp_path: Path) -> None:
    cityscapes_tree(tmp_path, {"train": ["ulm"], "val": ["lindau"]}, disparity=False)
    result = generate_index(tmp_path, "cityscapes")
    assert len(_lines(result.train_index)[0].split()) == 2


def test_missing_train_ids_are_generated_with_the_official_mapping(tmp_path: Path) -> None:
    cityscapes_tree(tmp_path, {"train": ["ulm"], "val": ["lindau"]}, disparity=False, label="gtFine_labelIds")
    label_ids = np.array([[7, 8, 26, 0], [33, 1, 24, 23]], dtype=np.uint8)
    for split, city in (("train", "ulm"), ("val", "lindau")):
        write_png(tmp_path / "gtFine" / split / city / f"{city}_000000_000019_gtFine_labelIds.png", label_ids)
    result = generate_index(tmp_path)
    assert result.generated_labels == 2
    produced = read_label(tmp_path / "gtFine/train/ulm/ulm_000000_000019_gtFine_labelTrainIds.png")
    # road 7->0, sidewalk 8->1, car 26->13, unlabeled 0->255, bicycle 33->18, ego 1->255, person 24->11, sky 23->10
    assert produced.tolist() == [[0, 1, 13, 255], [18, 255, 11, 10]]
    assert _lines(result.train_index)[0].endswith("ulm_000000_000019_gtFine_labelTrainIds.png")


def _ianvs_zip_tree(root: Path) -> Path:
    base = root / "semantic_segmentation_dataset"
    for split, city in (("train", "aachen"), ("val", "bonn"), ("test", "lindau")):
        stem = f"{city}_000000_000019"
        _touch(
            base,
            f"{split}/leftImg8bit/cityscapes_real/{city}/{stem}_leftImg8bit.png",
            f"{split}/depth/cityscapes_real/{city}/{stem}_disparity.png",
            f"{split}/gtFine/cityscapes_real/{city}/{stem}_gtFine_labelTrainIds.png",
            f"{split}/leftImg8bit/synthia_sim/000{len(split)}.png",
            f"{split}/depth/synthia_sim/000{len(split)}.png",
            f"{split}/gtFine/synthia_sim/000{len(split)}TrainIds.png",
        )
    return base


def test_ianvs_zip_layout_is_found_below_the_archive_folder(tmp_path: Path) -> None:
    _ianvs_zip_tree(tmp_path)
    assert find_root(tmp_path) == ("ianvs-segmentation", tmp_path / "semantic_segmentation_dataset")


def test_ianvs_zip_layout_indexes_train_and_val_for_training_and_test_for_testing(tmp_path: Path) -> None:
    _ianvs_zip_tree(tmp_path)
    result = generate_index(tmp_path)
    p = "semantic_segmentation_dataset"
    assert _lines(result.train_index) == [
        f"{p}/train/leftImg8bit/cityscapes_real/aachen/aachen_000000_000019_leftImg8bit.png "
        f"{p}/train/depth/cityscapes_real/aachen/aachen_000000_000019_disparity.png "
        f"{p}/train/gtFine/cityscapes_real/aachen/aachen_000000_000019_gtFine_labelTrainIds.png",
        f"{p}/train/leftImg8bit/synthia_sim/0005.png {p}/train/depth/synthia_sim/0005.png {p}/train/gtFine/synthia_sim/0005TrainIds.png",
        f"{p}/val/leftImg8bit/cityscapes_real/bonn/bonn_000000_000019_leftImg8bit.png "
        f"{p}/val/depth/cityscapes_real/bonn/bonn_000000_000019_disparity.png "
        f"{p}/val/gtFine/cityscapes_real/bonn/bonn_000000_000019_gtFine_labelTrainIds.png",
        f"{p}/val/leftImg8bit/synthia_sim/0003.png {p}/val/depth/synthia_sim/0003.png {p}/val/gtFine/synthia_sim/0003TrainIds.png",
    ]
    samples = read_index(result.test_index)
    assert [(s.city, s.folder, s.domain) for s in samples] == [
        ("lindau", "lindau", "cityscapes_real"),
        (None, "synthia_sim", None),
    ]


def test_test_split_cities_are_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _ianvs_zip_tree(tmp_path)
    with caplog.at_level(logging.WARNING):
        result = generate_index(tmp_path)
    assert result.train_samples == 4
    assert any(
        "train index uses 1 images of official Cityscapes test-split cities (bonn 1)" in m for m in caplog.messages
    )


def test_test_split_cities_can_be_dropped(tmp_path: Path) -> None:
    _ianvs_zip_tree(tmp_path)
    result = generate_index(tmp_path, drop_test_cities=True)
    assert result.train_samples == 3
    assert "bonn" not in result.train_index.read_text()


def test_tasks_by_folder_make_each_task_contiguous_across_splits(tmp_path: Path) -> None:
    _ianvs_zip_tree(tmp_path)
    result = generate_index(tmp_path, tasks="by-folder")
    folders = [s.folder for s in read_index(result.train_index)]
    assert folders == ["aachen", "synthia_sim", "synthia_sim", "bonn"]
    assert result.tasks == {"aachen": 1, "synthia_sim": 2, "bonn": 1}


def test_tasks_by_city_fall_back_to_the_folder_for_non_cityscapes_names(tmp_path: Path) -> None:
    _ianvs_zip_tree(tmp_path)
    result = generate_index(tmp_path, tasks="by-city")
    assert result.tasks == {"aachen": 1, "synthia_sim": 2, "bonn": 1}


def test_cloud_robotics_layout(tmp_path: Path) -> None:
    for split in ("train", "val", "test"):
        for scene in ("20220420_front", "20220420_garden"):
            _touch(
                tmp_path,
                f"rgb/{split}/{scene}/00480.png",
                f"gtFine/{split}/{scene}/00480_TrainIds.png",
                f"viz/{split}/{scene}/00480.png",
            )
    result = generate_index(tmp_path, "cloud-robotics", tasks="by-folder")
    assert _lines(result.train_index) == [
        "rgb/train/20220420_front/00480.png gtFine/train/20220420_front/00480_TrainIds.png",
        "rgb/train/20220420_garden/00480.png gtFine/train/20220420_garden/00480_TrainIds.png",
    ]
    assert "rgb/test/" in result.test_index.read_text()
    assert result.tasks == {"20220420_front": 1, "20220420_garden": 1}


def test_flat_layout_without_splits_puts_every_fifth_sample_in_test(tmp_path: Path) -> None:
    for i in range(10):
        _touch(tmp_path, f"images/{i:02d}.jpg", f"masks/{i:02d}.png")
    result = generate_index(tmp_path, "flat")
    assert (result.train_samples, result.test_samples) == (8, 2)
    assert [line.split()[0] for line in _lines(result.test_index)] == ["images/04.jpg", "images/09.jpg"]


def test_flat_layout_with_split_folders(tmp_path: Path) -> None:
    _touch(tmp_path, "images/train/a.png", "labels/train/a_label.png", "images/val/b.png", "labels/val/b_label.png")
    result = generate_index(tmp_path)
    assert _lines(result.train_index) == ["images/train/a.png labels/train/a_label.png"]
    assert _lines(result.test_index) == ["images/val/b.png labels/val/b_label.png"]


def test_images_without_labels_are_left_out_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cityscapes_tree(tmp_path, {"train": ["ulm", "jena"], "val": ["lindau"]}, disparity=False)
    (tmp_path / "gtFine/train/jena/jena_000000_000019_gtFine_labelTrainIds.png").unlink()
    with caplog.at_level(logging.WARNING):
        result = generate_index(tmp_path)
    assert result.train_samples == 1
    assert any("1 images without a label were left out" in m for m in caplog.messages)


def test_explicit_splits_are_used(tmp_path: Path) -> None:
    cityscapes_tree(tmp_path, {"train": ["ulm"], "val": ["lindau"], "test": ["mainz"]}, disparity=False)
    result = generate_index(tmp_path, train_splits=["train", "val"], test_splits=["val"])
    assert result.train_samples == 2 and result.test_samples == 1


def test_missing_split_is_a_named_error(tmp_path: Path) -> None:
    cityscapes_tree(tmp_path, {"train": ["ulm"], "val": ["lindau"]})
    with pytest.raises(DatasetError, match="split folder.*nope missing; present: train, val"):
        generate_index(tmp_path, test_splits=["nope"])


def test_unknown_layout_lists_the_known_ones(tmp_path: Path) -> None:
    _touch(tmp_path, "random/file.txt")
    with pytest.raises(DatasetError, match="cityscapes, ianvs-segmentation, cloud-robotics, flat"):
        generate_index(tmp_path)
    assert detect_layout(tmp_path) is None


def test_index_can_be_written_elsewhere_with_paths_relative_to_it(tmp_path: Path) -> None:
    data = cityscapes_tree(tmp_path / "data", {"train": ["ulm"], "val": ["lindau"]})
    result = generate_index(data, index_dir=tmp_path / "indexes", train_name="tr.txt", test_name="te.txt")
    assert _lines(result.train_index)[0].startswith("../data/leftImg8bit/train/ulm/")
    assert read_index(result.train_index)[0].rgb.is_file()
