"""Write the lifelong index files of the full RFNet job from a Cityscapes download.

Usage:
    .venv/bin/python examples/cityscapes-lifelong-full/make_index.py CITYSCAPES_ROOT [--out DIR]
        [--cities aachen,bremen,...] [--test-fraction 0.2] [--unseen-cities frankfurt,lindau,munster]

CITYSCAPES_ROOT holds leftImg8bit/, disparity/ and gtFine/ (with ``*_gtFine_labelTrainIds.png``,
made by ``csCreateTrainIdLabelImgs`` from cityscapesscripts). For each of ``--cities`` (official
train split, in the given order = the task order), its images sorted by name are split: the last
``--test-fraction`` go to the test index, the rest to the train index. The ``--unseen-cities``
(official val split) are appended to the test index only: tasks the learner never trains on, which
unseen-task detection should send to the cloud. Lines are ``rgb disparity labelTrainIds``, relative
to the index file. Official test-split cities are refused (their public labels are dummies).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from controller.datasets.cityscapes import TEST_SPLIT_CITIES, split_of_city  # noqa: E402
from controller.datasets.index import write_index  # noqa: E402
from controller.errors import DatasetError  # noqa: E402

DEFAULT_CITIES = "aachen,bremen,hamburg,strasbourg,stuttgart,zurich"
DEFAULT_UNSEEN = "frankfurt,lindau,munster"


def city_rows(root: Path, split: str, city: str) -> list[tuple[Path, Path, Path]]:
    """(rgb, disparity, labelTrainIds) of every image of `city`, sorted by file name."""
    images = sorted((root / "leftImg8bit" / split / city).glob("*_leftImg8bit.png"))
    if not images:
        raise DatasetError(f"no *_leftImg8bit.png images for city {city!r}", file=root / "leftImg8bit" / split / city)
    rows = []
    for rgb in images:
        stem = rgb.name.removesuffix("_leftImg8bit.png")
        disparity = root / "disparity" / split / city / f"{stem}_disparity.png"
        label = root / "gtFine" / split / city / f"{stem}_gtFine_labelTrainIds.png"
        if not label.is_file():
            raise DatasetError("label not found (run csCreateTrainIdLabelImgs from cityscapesscripts first)", file=label)
        if not disparity.is_file():
            raise DatasetError("disparity not found (unzip disparity_trainvaltest.zip into the root)", file=disparity)
        rows.append((rgb, disparity, label))
    return rows


def split_folder(root: Path, city: str, wanted: str) -> str:
    """The split folder of `city`: its official split, or the only folder that has it (synthetic data)."""
    official = split_of_city(city)
    if city in TEST_SPLIT_CITIES:
        raise DatasetError(f"{city} is an official test city: its public labels are dummies", file=root)
    if official and (root / "leftImg8bit" / official / city).is_dir():
        return official
    if (root / "leftImg8bit" / wanted / city).is_dir():
        return wanted
    raise DatasetError(f"city {city!r} not found under leftImg8bit/{official or wanted}/", file=root)


def build(root: Path, out: Path, cities: list[str], unseen: list[str], test_fraction: float) -> tuple[int, int]:
    if not 0 < test_fraction < 1:
        raise ValueError(f"--test-fraction must be in (0, 1), got {test_fraction}")
    train, test = [], []
    for city in cities:
        rows = city_rows(root, split_folder(root, city, "train"), city)
        cut = max(1, round(len(rows) * (1 - test_fraction)))
        if cut >= len(rows):
            raise DatasetError(f"city {city} has {len(rows)} image(s): too few to hold out a test split", file=root)
        train += rows[:cut]
        test += rows[cut:]
    for city in unseen:
        test += city_rows(root, split_folder(root, city, "val"), city)
    write_index(out / "train-index.txt", train)
    write_index(out / "test-index.txt", test)
    return len(train), len(test)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="Cityscapes root (leftImg8bit/, disparity/, gtFine/)")
    parser.add_argument("--out", type=Path, help="index folder (default ROOT/lifelong)")
    parser.add_argument("--cities", default=DEFAULT_CITIES, help=f"train cities = tasks, in order (default {DEFAULT_CITIES})")
    parser.add_argument("--unseen-cities", default=DEFAULT_UNSEEN, help="test-only cities ('' for none)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    out = (args.out or root / "lifelong").resolve()
    cities = [c for c in args.cities.split(",") if c]
    unseen = [c for c in args.unseen_cities.split(",") if c]
    try:
        n_train, n_test = build(root, out, cities, unseen, args.test_fraction)
    except (DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{out / 'train-index.txt'}: {n_train} samples in {len(cities)} tasks ({', '.join(cities)})")
    print(f"{out / 'test-index.txt'}: {n_test} samples (+ unseen: {', '.join(unseen) or 'none'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
