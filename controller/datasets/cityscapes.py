"""Cityscapes facts as data: the official label table, the labelId -> trainId mapping, split cities
and the file-name pattern.

Why this is data and not a dependency: the table is small, stable since 2016 and the only part of
``cityscapesScripts`` the benchmark needs; keeping it here avoids pulling that package (and its
``requests``/``typing`` back-port dependencies) into every install. ``tests/datasets/test_ds_cityscapes.py``
compares it with ``cityscapesscripts.helpers.labels`` when that package happens to be importable.

Mapping used for training and evaluation (19 classes)::

    trainId = LUT[labelId]      LUT[i] = label.train_id for the 34 labels 0..33 with a trainId in 0..18,
                                LUT[i] = 255 (ignore) for every other value 0..255

The license plate (labelId -1, trainId -1) is never drawn into label images, so it has no LUT slot.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # numpy is imported by the functions that need it: `validate` stays fast
    import numpy as np

IGNORE_TRAIN_ID = 255
"""trainId used for every pixel that is not one of the 19 evaluated classes."""


@dataclass(frozen=True)
class Label:
    """One row of the official Cityscapes label table (``cityscapesScripts/helpers/labels.py``)."""

    name: str
    id: int
    train_id: int
    category: str
    category_id: int
    has_instances: bool
    ignore_in_eval: bool
    color: tuple[int, int, int]


# fmt: off
LABELS: tuple[Label, ...] = (
    #     name                   id  trainId  category       catId  instances ignore  color
    Label("unlabeled",            0, 255, "void",           0, False, True,  (0, 0, 0)),
    Label("ego vehicle",          1, 255, "void",           0, False, True,  (0, 0, 0)),
    Label("rectification border", 2, 255, "void",           0, False, True,  (0, 0, 0)),
    Label("out of roi",           3, 255, "void",           0, False, True,  (0, 0, 0)),
    Label("static",               4, 255, "void",           0, False, True,  (0, 0, 0)),
    Label("dynamic",              5, 255, "void",           0, False, True,  (111, 74, 0)),
    Label("ground",               6, 255, "void",           0, False, True,  (81, 0, 81)),
    Label("road",                 7,   0, "flat",           1, False, False, (128, 64, 128)),
    Label("sidewalk",             8,   1, "flat",           1, False, False, (244, 35, 232)),
    Label("parking",              9, 255, "flat",           1, False, True,  (250, 170, 160)),
    Label("rail track",          10, 255, "flat",           1, False, True,  (230, 150, 140)),
    Label("building",            11,   2, "construction",   2, False, False, (70, 70, 70)),
    Label("wall",                12,   3, "construction",   2, False, False, (102, 102, 156)),
    Label("fence",               13,   4, "construction",   2, False, False, (190, 153, 153)),
    Label("guard rail",          14, 255, "construction",   2, False, True,  (180, 165, 180)),
    Label("bridge",              15, 255, "construction",   2, False, True,  (150, 100, 100)),
    Label("tunnel",              16, 255, "construction",   2, False, True,  (150, 120, 90)),
    Label("pole",                17,   5, "object",         3, False, False, (153, 153, 153)),
    Label("polegroup",           18, 255, "object",         3, False, True,  (153, 153, 153)),
    Label("traffic light",       19,   6, "object",         3, False, False, (250, 170, 30)),
    Label("traffic sign",        20,   7, "object",         3, False, False, (220, 220, 0)),
    Label("vegetation",          21,   8, "nature",         4, False, False, (107, 142, 35)),
    Label("terrain",             22,   9, "nature",         4, False, False, (152, 251, 152)),
    Label("sky",                 23,  10, "sky",            5, False, False, (70, 130, 180)),
    Label("person",              24,  11, "human",          6, True,  False, (220, 20, 60)),
    Label("rider",               25,  12, "human",          6, True,  False, (255, 0, 0)),
    Label("car",                 26,  13, "vehicle",        7, True,  False, (0, 0, 142)),
    Label("truck",               27,  14, "vehicle",        7, True,  False, (0, 0, 70)),
    Label("bus",                 28,  15, "vehicle",        7, True,  False, (0, 60, 100)),
    Label("caravan",             29, 255, "vehicle",        7, True,  True,  (0, 0, 90)),
    Label("trailer",             30, 255, "vehicle",        7, True,  True,  (0, 0, 110)),
    Label("train",               31,  16, "vehicle",        7, True,  False, (0, 80, 100)),
    Label("motorcycle",          32,  17, "vehicle",        7, True,  False, (0, 0, 230)),
    Label("bicycle",             33,  18, "vehicle",        7, True,  False, (119, 11, 32)),
    Label("license plate",       -1,  -1, "vehicle",        7, False, True,  (0, 0, 142)),
)
# fmt: on

LABELS_BY_ID: dict[int, Label] = {label.id: label for label in LABELS}
LABELS_BY_NAME: dict[str, Label] = {label.name: label for label in LABELS}

NUM_TRAIN_CLASSES = 19

TRAIN_LABELS: tuple[Label, ...] = tuple(
    sorted((lb for lb in LABELS if 0 <= lb.train_id < IGNORE_TRAIN_ID), key=lambda lb: lb.train_id)
)
"""The 19 evaluated labels, position == trainId."""

TRAIN_CLASSES: tuple[str, ...] = tuple(lb.name for lb in TRAIN_LABELS)
"""Class names in trainId order: road, sidewalk, ..., bicycle."""

TRAIN_COLORS: tuple[tuple[int, int, int], ...] = tuple(lb.color for lb in TRAIN_LABELS)
"""Official visualisation colours in trainId order (sky is (70, 130, 180))."""


def label_to_train_lut() -> np.ndarray:
    """A 256-entry uint8 lookup table: ``lut[labelId] = trainId``, 255 for ignored or unknown ids.

    A fresh array each call, so callers may modify it.
    """
    import numpy as np

    lut = np.full(256, IGNORE_TRAIN_ID, dtype=np.uint8)
    for label in TRAIN_LABELS:
        lut[label.id] = label.train_id
    return lut


@functools.cache
def _lut() -> np.ndarray:
    lut = label_to_train_lut()
    lut.setflags(write=False)
    return lut


def labelids_to_trainids(arr: np.ndarray) -> np.ndarray:
    """Map a labelId image to a trainId image (uint8, same shape); values outside 0..255 -> 255."""
    import numpy as np

    arr = np.asarray(arr)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"labelids_to_trainids expects an integer array, got dtype {arr.dtype}")
    if arr.dtype == np.uint8:
        mapped: np.ndarray = _lut()[arr]  # numpy's stubs type indexing by an array as Any
        return mapped
    out = np.full(arr.shape, IGNORE_TRAIN_ID, dtype=np.uint8)
    inside = (arr >= 0) & (arr <= 255)
    out[inside] = _lut()[arr[inside]]
    return out


# --- splits -----------------------------------------------------------------------------------

FINE_IMAGE_COUNTS: dict[str, dict[str, int]] = {
    "train": {
        "aachen": 174,
        "bochum": 96,
        "bremen": 316,
        "cologne": 154,
        "darmstadt": 85,
        "dusseldorf": 221,
        "erfurt": 109,
        "hamburg": 248,
        "hanover": 196,
        "jena": 119,
        "krefeld": 99,
        "monchengladbach": 94,
        "strasbourg": 365,
        "stuttgart": 196,
        "tubingen": 144,
        "ulm": 95,
        "weimar": 142,
        "zurich": 122,
    },
    "val": {"frankfurt": 267, "lindau": 59, "munster": 174},
    "test": {"berlin": 544, "bielefeld": 181, "bonn": 46, "leverkusen": 58, "mainz": 298, "munich": 398},
}
"""Number of finely annotated images per official split and city (train 2975, val 500, test 1525)."""

SPLIT_CITIES: dict[str, tuple[str, ...]] = {split: tuple(c) for split, c in FINE_IMAGE_COUNTS.items()}
TRAIN_CITIES: tuple[str, ...] = SPLIT_CITIES["train"]
VAL_CITIES: tuple[str, ...] = SPLIT_CITIES["val"]
TEST_CITIES: tuple[str, ...] = SPLIT_CITIES["test"]

TEST_SPLIT_CITIES: frozenset[str] = frozenset(TEST_CITIES)
"""Cities of the official test split: their public gtFine files are dummies (only ego vehicle and
rectification border are labelled), so they must never be used as training or evaluation labels."""


def split_of_city(city: str) -> str | None:
    """The official split ('train', 'val', 'test') a city belongs to, or None if it is not a Cityscapes city."""
    for split, cities in SPLIT_CITIES.items():
        if city in cities:
            return split
    return None


# --- file names -------------------------------------------------------------------------------

ANNOTATED_FRAME = 19
"""The annotated frame is the 20th (``_000019``) of each 30-frame snippet."""

_NAME_RE = re.compile(r"^(?P<city>[A-Za-z][A-Za-z0-9-]*)_(?P<seq>\d{6})_(?P<frame>\d{6})_(?P<type>[A-Za-z0-9_]+)\.png$")


class CityscapesName(NamedTuple):
    """Parts of ``<city>_<seq:06d>_<frame:06d>_<type>.png``; ``type`` is e.g. ``leftImg8bit`` or
    ``gtFine_labelTrainIds``."""

    city: str
    seq: int
    frame: int
    type: str


def parse_cityscapes_name(filename: str | PurePath) -> CityscapesName | None:
    """Split a Cityscapes file name (a path's last component is used) into its parts, None if it does
    not match the pattern."""
    match = _NAME_RE.match(PurePath(filename).name)
    if match is None:
        return None
    return CityscapesName(match["city"], int(match["seq"]), int(match["frame"]), match["type"])


def city_or_folder(path: str | PurePath) -> str | None:
    """The Cityscapes city of a file name, else the name of the folder it is in (None for a bare name).

    The one rule for "which city is this image from": index lines of other layouts keep one
    city (or sequence) per folder.
    """
    parsed = parse_cityscapes_name(path)
    if parsed is not None:
        return parsed.city
    return PurePath(path).parent.name or None


def official_test_city(path: str | PurePath) -> str | None:
    """The official test-split city an image belongs to (see :func:`city_or_folder`), else None."""
    city = city_or_folder(path)
    return city if city in TEST_SPLIT_CITIES else None


def dummy_labels_warning(counts: Mapping[str, int], which: str, hint: str = "") -> str:
    """What to say when the ``which`` ("train"/"test") index uses images of test-split cities."""
    listing = ", ".join(f"{city} {n}" for city, n in sorted(counts.items()))
    return (
        f"the {which} index uses {sum(counts.values())} images of official Cityscapes test-split cities "
        f"({listing}): their public labels are dummies (only ego vehicle and border), so training or scores "
        f"on them are meaningless{hint}"
    )


def cityscapes_name(city: str, seq: int, frame: int, type_: str) -> str:
    """Build ``<city>_<seq:06d>_<frame:06d>_<type>.png`` (the inverse of :func:`parse_cityscapes_name`)."""
    name = f"{city}_{seq:06d}_{frame:06d}_{type_}.png"
    if parse_cityscapes_name(name) is None:
        raise ValueError(f"not a valid Cityscapes file name: {name!r}")
    return name
