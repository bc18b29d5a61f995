"""Cityscapes label table, labelId -> trainId mapping, split cities and file names.

Expected values are copied by hand from the cityscapesScripts label table (reference rfnet.md, section 4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from controller.datasets import cityscapes as cs

# (labelId, name, trainId) for the 19 evaluated classes
TRAIN_ROWS = [
    (7, "road", 0),
    (8, "sidewalk", 1),
    (11, "building", 2),
    (12, "wall", 3),
    (13, "fence", 4),
    (17, "pole", 5),
    (19, "traffic light", 6),
    (20, "traffic sign", 7),
    (21, "vegetation", 8),
    (22, "terrain", 9),
    (23, "sky", 10),
    (24, "person", 11),
    (25, "rider", 12),
    (26, "car", 13),
    (27, "truck", 14),
    (28, "bus", 15),
    (31, "train", 16),
    (32, "motorcycle", 17),
    (33, "bicycle", 18),
]
IGNORED_ROWS = [
    (0, "unlabeled"),
    (1, "ego vehicle"),
    (2, "rectification border"),
    (3, "out of roi"),
    (4, "static"),
    (5, "dynamic"),
    (6, "ground"),
    (9, "parking"),
    (10, "rail track"),
    (14, "guard rail"),
    (15, "bridge"),
    (16, "tunnel"),
    (18, "polegroup"),
    (29, "caravan"),
    (30, "trailer"),
]
OFFICIAL_COLORS = [
    (128, 64, 128),
    (244, 35, 232),
    (70, 70, 70),
    (102, 102, 156),
    (190, 153, 153),
    (153, 153, 153),
    (250, 170, 30),
    (220, 220, 0),
    (107, 142, 35),
    (152, 251, 152),
    (70, 130, 180),
    (220, 20, 60),
    (255, 0, 0),
    (0, 0, 142),
    (0, 0, 70),
    (0, 60, 100),
    (0, 80, 100),
    (0, 0, 230),
    (119, 11, 32),
]


def test_table_has_ids_0_to_33_and_license_plate() -> None:
    assert sorted(lb.id for lb in cs.LABELS) == [-1, *range(34)]


@pytest.mark.parametrize(("label_id", "name", "train_id"), TRAIN_ROWS)
def test_train_class_maps_to_its_train_id(label_id: int, name: str, train_id: int) -> None:
    assert cs.LABELS_BY_ID[label_id].name == name
    assert cs.label_to_train_lut()[label_id] == train_id
    assert not cs.LABELS_BY_ID[label_id].ignore_in_eval


@pytest.mark.parametrize(("label_id", "name"), IGNORED_ROWS)
def test_ignored_label_maps_to_255(label_id: int, name: str) -> None:
    assert cs.LABELS_BY_ID[label_id].name == name
    assert cs.label_to_train_lut()[label_id] == 255
    assert cs.LABELS_BY_ID[label_id].ignore_in_eval


def test_license_plate_has_train_id_minus_one_and_is_ignored() -> None:
    plate = cs.LABELS_BY_ID[-1]
    assert (plate.name, plate.train_id, plate.ignore_in_eval) == ("license plate", -1, True)


@pytest.mark.parametrize("unknown_id", [34, 100, 254, 255])
def test_lut_maps_unknown_ids_to_255(unknown_id: int) -> None:
    lut = cs.label_to_train_lut()
    assert lut.shape == (256,) and lut.dtype == np.uint8
    assert lut[unknown_id] == 255


def test_train_classes_in_train_id_order() -> None:
    assert cs.TRAIN_CLASSES == tuple(name for _, name, _ in sorted(TRAIN_ROWS, key=lambda r: r[2]))


def test_train_colors_are_the_official_colours() -> None:
    assert cs.TRAIN_COLORS == tuple(OFFICIAL_COLORS)
    assert cs.TRAIN_COLORS[10] == (70, 130, 180)  # sky; RFNet's copy has a typo here


def test_labelids_to_trainids_maps_an_image() -> None:
    label_ids = np.array([[7, 8, 0], [23, 26, 1]], dtype=np.uint8)
    expected = np.array([[0, 1, 255], [10, 13, 255]], dtype=np.uint8)
    out = cs.labelids_to_trainids(label_ids)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_labelids_to_trainids_sends_out_of_range_ints_to_255() -> None:
    label_ids = np.array([-1, 7, 300, 33], dtype=np.int32)
    np.testing.assert_array_equal(cs.labelids_to_trainids(label_ids), [255, 0, 255, 18])


def test_labelids_to_trainids_rejects_float_arrays() -> None:
    with pytest.raises(TypeError, match="integer"):
        cs.labelids_to_trainids(np.zeros(3, dtype=np.float32))


@pytest.mark.parametrize(("split", "n_cities", "n_images"), [("train", 18, 2975), ("val", 3, 500), ("test", 6, 1525)])
def test_split_sizes(split: str, n_cities: int, n_images: int) -> None:
    assert len(cs.SPLIT_CITIES[split]) == n_cities
    assert sum(cs.FINE_IMAGE_COUNTS[split].values()) == n_images


def test_val_and_test_cities() -> None:
    assert set(cs.VAL_CITIES) == {"frankfurt", "lindau", "munster"}
    assert cs.TEST_SPLIT_CITIES == {"berlin", "bielefeld", "bonn", "leverkusen", "mainz", "munich"}


def test_splits_are_disjoint() -> None:
    train, val, test = (set(cs.SPLIT_CITIES[s]) for s in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)


@pytest.mark.parametrize(
    ("city", "split"), [("aachen", "train"), ("zurich", "train"), ("lindau", "val"), ("bonn", "test"), ("paris", None)]
)
def test_split_of_city(city: str, split: str | None) -> None:
    assert cs.split_of_city(city) == split


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("aachen_000012_000019_leftImg8bit.png", ("aachen", 12, 19, "leftImg8bit")),
        ("munster_000173_000019_gtFine_labelTrainIds.png", ("munster", 173, 19, "gtFine_labelTrainIds")),
        ("monchengladbach_000000_026602_disparity.png", ("monchengladbach", 0, 26602, "disparity")),
        (Path("leftImg8bit/train/ulm/ulm_000094_000019_leftImg8bit.png"), ("ulm", 94, 19, "leftImg8bit")),
    ],
)
def test_parse_cityscapes_name(name: str | Path, expected: tuple) -> None:
    assert cs.parse_cityscapes_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "00480.png",  # Cloud-Robotics style
        "aachen_12_000019_leftImg8bit.png",  # seq not 6 digits
        "aachen_000012_000019_leftImg8bit.jpg",  # not a PNG
        "aachen_000012_000019_gtFine_polygons.json",
        "aachen_000012_000019_.png",  # empty type
    ],
)
def test_parse_cityscapes_name_rejects(name: str) -> None:
    assert cs.parse_cityscapes_name(name) is None


def test_cityscapes_name_is_inverse_of_parse() -> None:
    name = cs.cityscapes_name("bremen", 7, 19, "gtFine_labelIds")
    assert name == "bremen_000007_000019_gtFine_labelIds.png"
    assert cs.parse_cityscapes_name(name) == ("bremen", 7, 19, "gtFine_labelIds")


def test_table_matches_cityscapesscripts_when_installed() -> None:
    """Cross-check against the upstream table; skipped unless the optional package is importable."""
    labels = pytest.importorskip("cityscapesscripts.helpers.labels")
    upstream = {lb.id: lb for lb in labels.labels}
    assert set(upstream) == set(cs.LABELS_BY_ID)
    for ours in cs.LABELS:
        theirs = upstream[ours.id]
        assert (ours.name, ours.train_id, ours.category, ours.category_id) == (
            theirs.name,
            theirs.trainId,
            theirs.category,
            theirs.categoryId,
        )
        assert (ours.has_instances, ours.ignore_in_eval, ours.color) == (
            theirs.hasInstances,
            theirs.ignoreInEval,
            tuple(theirs.color),
        )


# --- which city an image is from ----------------------------------------------------------------


def test_the_city_of_a_cityscapes_file_name_wins_over_its_folder() -> None:
    assert cs.city_or_folder("images/seq7/ulm_000001_000019_leftImg8bit.png") == "ulm"


def test_other_file_names_take_the_city_from_their_folder() -> None:
    assert cs.city_or_folder("images/bonn/0001.png") == "bonn"


def test_a_bare_file_name_has_no_city() -> None:
    assert cs.city_or_folder("0001.png") is None


def test_only_official_test_split_cities_are_flagged() -> None:
    flagged = [
        cs.official_test_city(p) for p in ("x/berlin_000000_000019_leftImg8bit.png", "munich/1.png", "ulm/1.png")
    ]
    assert flagged == ["berlin", "munich", None]


def test_the_dummy_labels_warning_counts_and_names_the_cities() -> None:
    text = cs.dummy_labels_warning({"munich": 2, "bonn": 1}, "test", "; drop them")
    assert text.startswith("the test index uses 3 images of official Cityscapes test-split cities (bonn 1, munich 2)")
    assert text.endswith("meaningless; drop them")
