"""Index generation for the folder layouts of this field's public data sets.

Layouts (``root`` is found in the given folder or up to two levels below it)::

    cityscapes          root/{leftImg8bit,gtFine[,disparity]}/<split>/<city>/<city>_<seq>_<frame>_<type>.png
    ianvs-segmentation  root/<split>/{leftImg8bit,gtFine[,depth]}/{cityscapes_real/<city>,synthia_sim}/...
                        (the KubeEdge Ianvs Cityscapes+SYNTHIA zip)
    cloud-robotics      root/{rgb,gtFine}/<split>/<folder>/<n>.png, labels <n>_TrainIds.png
    flat                root/{images|rgb|img|imgs|image}/[<split>/]...,
                        labels in {labels|label|masks|mask|gt|gtFine|annotations},
                        optional {depth|disparity}; without split folders every 5th sample (sorted) is test

Matching: an image ``<base>_leftImg8bit.png`` (or ``<base>.<ext>``) takes the first label that
exists in the mirrored label folder among ``<base>_gtFine_labelTrainIds.png``, ``<base>TrainIds.png``,
``<base>_TrainIds.png``, ``<base>_labelTrainIds.png``, ``<base>_trainIds.png``, ``<base>_label.png``,
``<base>_mask.png``, ``<base>.png``. When only ``<base>_gtFine_labelIds.png`` exists, the
``_gtFine_labelTrainIds.png`` is generated with the official 34 -> 19 mapping
(:func:`controller.datasets.cityscapes.labelids_to_trainids`). Depth: ``<base>_disparity.png``,
``<base>_depth.png``, ``<base>.png``; a layout has a depth column when its depth folder exists.

Index lines are ``rgb [depth] label`` relative to the index file (written with
:func:`controller.datasets.index.write_index`). The task domain stays derivable from the path: the
Cityscapes city from the file name, the folder from the parent folder (``Sample.city``/``.folder``).
Ordering: splits in the order given, then sorted paths; ``tasks='by-city'`` or ``'by-folder'``
groups lines task by task (tasks in order of first appearance), since a lifelong round is a task.

Official Cityscapes test-split cities (berlin, bielefeld, bonn, leverkusen, mainz, munich) have dummy
public labels: they are reported in a warning, or dropped with ``drop_test_cities``.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from controller.datasets.cityscapes import city_or_folder, dummy_labels_warning, official_test_city
from controller.datasets.index import TEST_INDEX, TRAIN_INDEX
from controller.errors import DatasetError

log = logging.getLogger(__name__)

LAYOUTS: tuple[str, ...] = ("cityscapes", "ianvs-segmentation", "cloud-robotics", "flat")
TASK_MODES: tuple[str, ...] = ("by-city", "by-folder")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "val", "test")
LABEL_PATTERNS = (
    "{base}_gtFine_labelTrainIds.png",
    "{base}TrainIds.png",
    "{base}_TrainIds.png",
    "{base}_labelTrainIds.png",
    "{base}_trainIds.png",
    "{base}_label.png",
    "{base}_mask.png",
    "{base}.png",
)
LABEL_IDS_PATTERN = "{base}_gtFine_labelIds.png"
DEPTH_PATTERNS = ("{base}_disparity.png", "{base}_depth.png", "{base}.png")
_FLAT_IMAGES = ("images", "rgb", "img", "imgs", "image")
_FLAT_LABELS = ("labels", "label", "masks", "mask", "gt", "gtFine", "annotations")
_FLAT_DEPTH = ("depth", "disparity")


@dataclass(frozen=True)
class _Layout:
    name: str
    images: str
    labels: str
    depth: str | None
    split_first: bool
    train: tuple[str, ...]
    test: tuple[str, ...]
    """test splits in preference order: the first one present is used"""


_LAYOUTS: dict[str, _Layout] = {
    "cityscapes": _Layout("cityscapes", "leftImg8bit", "gtFine", "disparity", False, ("train",), ("val",)),
    # the Ianvs zip: train = its train + val folders, test = its test folder (as Ianvs's own index files)
    "ianvs-segmentation": _Layout(
        "ianvs-segmentation", "leftImg8bit", "gtFine", "depth", True, ("train", "val"), ("test",)
    ),
    "cloud-robotics": _Layout("cloud-robotics", "rgb", "gtFine", None, False, ("train",), ("test", "val")),
}


@dataclass(frozen=True)
class Row:
    rgb: str
    depth: str | None
    label: str
    """paths relative to the layout root, '/'-separated"""
    split: str


@dataclass
class IndexResult:
    layout: str
    root: Path
    train_index: Path
    test_index: Path
    train_samples: int
    test_samples: int
    tasks: dict[str, int] = field(default_factory=dict)
    """train samples per task (when a task mode was given)"""
    generated_labels: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "layout": self.layout,
            "root": str(self.root),
            "train_index": str(self.train_index),
            "test_index": str(self.test_index),
            "train_samples": self.train_samples,
            "test_samples": self.test_samples,
            "tasks": self.tasks,
            "generated_labels": self.generated_labels,
        }


# --- detection ----------------------------------------------------------------------------------


def _subdirs(path: Path) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return []


def _matches(path: Path, layout: str) -> bool:
    names = set(_subdirs(path))
    if layout == "cityscapes":
        return {"leftImg8bit", "gtFine"} <= names
    if layout == "cloud-robotics":
        return {"rgb", "gtFine"} <= names
    if layout == "ianvs-segmentation":
        return any(split in names and {"leftImg8bit", "gtFine"} <= set(_subdirs(path / split)) for split in SPLITS)
    if layout == "flat":
        return bool(names & set(_FLAT_IMAGES)) and bool(names & set(_FLAT_LABELS))
    raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")


def find_root(path: Path, layouts: Sequence[str] = LAYOUTS, depth: int = 2) -> tuple[str, Path] | None:
    """(layout, root) of the shallowest folder at most ``depth`` levels below ``path`` that matches.

    Layouts are tried in the order given at each folder (more specific ones first by default).
    """
    level = [path]
    for _ in range(depth + 1):
        for folder in level:
            for layout in layouts:
                if _matches(folder, layout):
                    return layout, folder
        level = [folder / name for folder in level for name in _subdirs(folder)]
        if not level:
            break
    return None


def detect_layout(path: Path) -> str | None:
    found = find_root(path)
    return found[0] if found else None


# --- scanning -----------------------------------------------------------------------------------


def _files(path: Path) -> list[str]:
    try:
        with os.scandir(path) as it:
            return [e.name for e in it if e.is_file()]
    except OSError:
        return []


def _base(name: str) -> str:
    stem = name.rsplit(".", 1)[0]
    return stem[: -len("_leftImg8bit")] if stem.endswith("_leftImg8bit") else stem


@dataclass
class _Scan:
    rows: list[Row] = field(default_factory=list)
    generate: list[tuple[str, str]] = field(default_factory=list)
    missing_label: list[str] = field(default_factory=list)
    missing_depth: list[str] = field(default_factory=list)


def _scan_folder(root: Path, split: str, image_dir: str, label_dir: str, depth_dir: str | None, scan: _Scan) -> None:
    """Walk ``root/image_dir`` recursively and pair each image with its label (and depth)."""
    stack = [""]
    while stack:
        rel = stack.pop()
        here = root / image_dir / rel if rel else root / image_dir
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        images = sorted(e.name for e in entries if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
        stack.extend(sorted((f"{rel}/{e.name}" if rel else e.name for e in entries if e.is_dir()), reverse=True))
        if not images:
            continue
        labels = set(_files(root / label_dir / rel))
        depths = set(_files(root / depth_dir / rel)) if depth_dir else set()
        prefix = f"{rel}/" if rel else ""
        for name in images:
            base = _base(name)
            label = next((p.format(base=base) for p in LABEL_PATTERNS if p.format(base=base) in labels), None)
            image_path = f"{image_dir}/{prefix}{name}"
            if label is None:
                ids = LABEL_IDS_PATTERN.format(base=base)
                if ids not in labels:
                    scan.missing_label.append(image_path)
                    continue
                label = LABEL_PATTERNS[0].format(base=base)
                scan.generate.append((f"{label_dir}/{prefix}{ids}", f"{label_dir}/{prefix}{label}"))
            depth = None
            if depth_dir:
                depth = next((p.format(base=base) for p in DEPTH_PATTERNS if p.format(base=base) in depths), None)
                if depth is None:
                    scan.missing_depth.append(image_path)
                    continue
                depth = f"{depth_dir}/{prefix}{depth}"
            scan.rows.append(Row(image_path, depth, f"{label_dir}/{prefix}{label}", split))


def _present(root: Path, splits: Iterable[str], layout: _Layout) -> list[str]:
    return [
        s for s in splits if (root / s / layout.images if layout.split_first else root / layout.images / s).is_dir()
    ]


def _scan_layout(root: Path, layout: _Layout, splits: Sequence[str], scan: _Scan) -> None:
    for split in splits:
        if layout.split_first:  # root/<split>/<modality>/...
            images, labels = f"{split}/{layout.images}", f"{split}/{layout.labels}"
            depth = f"{split}/{layout.depth}" if layout.depth else None
        else:  # root/<modality>/<split>/...
            images, labels = f"{layout.images}/{split}", f"{layout.labels}/{split}"
            depth = f"{layout.depth}/{split}" if layout.depth else None
        if depth and not (root / depth).is_dir():
            depth = None
        _scan_folder(root, split, images, labels, depth, scan)


def _flat_layout(root: Path) -> _Layout:
    names = set(_subdirs(root))
    images = next(n for n in _FLAT_IMAGES if n in names)
    labels = next(n for n in _FLAT_LABELS if n in names)
    depth = next((n for n in _FLAT_DEPTH if n in names), None)
    return _Layout("flat", images, labels, depth, False, ("train",), ("test", "val"))


# --- tasks and checks ---------------------------------------------------------------------------


def task_of(rgb: str, mode: str) -> str:
    """The task a line belongs to: its city (``by-city``, see :func:`city_or_folder`) or its folder."""
    if mode == "by-city":
        return city_or_folder(rgb) or ""
    return PurePosixPath(rgb).parent.name


def _group(rows: list[Row], mode: str | None) -> list[Row]:
    if mode is None:
        return rows
    order: dict[str, int] = {}
    for row in rows:
        order.setdefault(task_of(row.rgb, mode), len(order))
    return sorted(rows, key=lambda r: order[task_of(r.rgb, mode)])  # sorted() is stable


# --- label generation ---------------------------------------------------------------------------


def _convert_label(pair: tuple[str, str]) -> None:
    from controller.datasets.cityscapes import labelids_to_trainids
    from controller.datasets.images import read_label, write_png

    source, target = pair
    write_png(target, labelids_to_trainids(read_label(source)))


def generate_train_ids(pairs: Sequence[tuple[Path, Path]], workers: int | None = None) -> int:
    """Write ``*_gtFine_labelTrainIds.png`` from ``*_gtFine_labelIds.png`` (34 -> 19 classes, else 255).

    Uses a process pool for more than 16 images (PNG decoding and encoding are CPU-bound).
    """
    jobs = [(str(a), str(b)) for a, b in pairs]
    if not jobs:
        return 0
    workers = workers or min(len(jobs) // 16 + 1, os.cpu_count() or 1)
    if workers <= 1:
        for job in jobs:
            _convert_label(job)
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_convert_label, jobs, chunksize=8))
    return len(jobs)


# --- entry point --------------------------------------------------------------------------------


def generate_index(
    path: Path,
    layout: str | None = None,
    *,
    tasks: str | None = None,
    train_splits: Sequence[str] | None = None,
    test_splits: Sequence[str] | None = None,
    drop_test_cities: bool = False,
    index_dir: Path | None = None,
    train_name: str = TRAIN_INDEX,
    test_name: str = TEST_INDEX,
) -> IndexResult:
    """Find the layout under ``path``, generate missing trainId labels and write both index files.

    Index files go to ``index_dir`` (default ``path``). Raises DatasetError when no layout matches,
    a split has no samples, or images lack labels entirely.
    """
    path = Path(os.path.normpath(Path(path).absolute()))
    if not path.is_dir():
        raise DatasetError("dataset folder not found", file=path)
    if tasks is not None and tasks not in TASK_MODES:
        raise DatasetError(f"unknown task mode {tasks!r}; expected one of {', '.join(TASK_MODES)}", file=path)
    if layout is not None and layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}", file=path)
    found = find_root(path, (layout,) if layout else LAYOUTS)
    if found is None:
        wanted = f"the {layout} layout" if layout else f"a known layout ({', '.join(LAYOUTS)})"
        raise DatasetError(f"no folder here or two levels below matches {wanted}; see docs/datasets.md", file=path)
    name, root = found
    spec = _flat_layout(root) if name == "flat" else _LAYOUTS[name]
    rows = _collect(root, spec, name, train_splits, test_splits, path)
    index_dir = index_dir or path
    return _write(root, name, rows, tasks, drop_test_cities, index_dir, train_name, test_name)


def _collect(
    root: Path,
    spec: _Layout,
    name: str,
    train_splits: Sequence[str] | None,
    test_splits: Sequence[str] | None,
    path: Path,
) -> tuple[_Scan, list[str], list[str]]:
    flat_unsplit = name == "flat" and not any((root / spec.images / s).is_dir() for s in SPLITS)
    if flat_unsplit:
        scan = _Scan()
        _scan_folder(root, "all", spec.images, spec.labels, spec.depth, scan)
        return scan, ["all"], ["all"]
    train = list(train_splits) if train_splits else _present(root, spec.train, spec)
    if test_splits:
        test = list(test_splits)
    else:
        present = _present(root, spec.test, spec)
        test = present[:1]
    missing = [s for s in (*train, *test) if not _present(root, [s], spec)]
    if missing or not train or not test:
        have = (
            [s for s in _subdirs(root) if _present(root, [s], spec)]
            if spec.split_first
            else _subdirs(root / spec.images)
        )
        raise DatasetError(
            f"{name} layout at {root}: split folder(s) {', '.join(missing) or '(none found)'} missing; "
            f"present: {', '.join(have) or 'none'}",
            file=path,
        )
    if "test" in test and name == "cityscapes":
        log.warning("cityscapes: the official 'test' split has dummy public labels; evaluating on it is meaningless")
    scan = _Scan()
    _scan_layout(root, spec, list(dict.fromkeys([*train, *test])), scan)
    return scan, train, test


def _write(
    root: Path,
    layout: str,
    collected: tuple[_Scan, list[str], list[str]],
    tasks: str | None,
    drop_test_cities: bool,
    index_dir: Path,
    train_name: str,
    test_name: str,
) -> IndexResult:
    from controller.datasets.index import write_index

    scan, train_splits, test_splits = collected
    warnings: list[str] = []
    if scan.missing_label:
        warnings.append(
            f"{len(scan.missing_label)} images without a label were left out (first: {scan.missing_label[0]})"
        )
    if scan.missing_depth:
        warnings.append(
            f"{len(scan.missing_depth)} images without depth were left out (first: {scan.missing_depth[0]})"
        )
    if train_splits == ["all"]:
        train_rows = [r for i, r in enumerate(scan.rows) if i % 5 != 4]
        test_rows = [r for i, r in enumerate(scan.rows) if i % 5 == 4]
    else:
        train_rows = [r for s in train_splits for r in scan.rows if r.split == s]
        test_rows = [r for s in test_splits for r in scan.rows if r.split == s]
    for which, rows in (("train", train_rows), ("test", test_rows)):
        cities = Counter(c for c in map(official_test_city, (r.rgb for r in rows)) if c)
        if cities:
            if drop_test_cities:
                kept = [r for r in rows if official_test_city(r.rgb) is None]
                rows[:] = kept
                log.info("%s index: left out %d images of official test-split cities", which, sum(cities.values()))
            else:
                warnings.append(dummy_labels_warning(cities, which, "; drop them with --drop-test-cities"))
    for which, rows in (("train", train_rows), ("test", test_rows)):
        if not rows:
            raise DatasetError(f"{layout} layout at {root}: no {which} samples found", file=root)
    needed = {r.label for r in (*train_rows, *test_rows)}
    generated = generate_train_ids([(root / a, root / b) for a, b in scan.generate if b in needed])
    train_rows = _group(train_rows, tasks)
    test_rows = _group(test_rows, tasks)
    index_dir.mkdir(parents=True, exist_ok=True)
    train_index = write_index(index_dir / train_name, (_tokens(root, r) for r in train_rows))
    test_index = write_index(index_dir / test_name, (_tokens(root, r) for r in test_rows))
    for message in warnings:
        log.warning("%s: %s", root, message)
    task_counts = dict(Counter(task_of(r.rgb, tasks) for r in train_rows)) if tasks else {}
    return IndexResult(
        layout, root, train_index, test_index, len(train_rows), len(test_rows), task_counts, generated, warnings
    )


def _tokens(root: Path, row: Row) -> list[Path]:
    paths = [row.rgb] + ([row.depth] if row.depth else []) + [row.label]
    return [root / p for p in paths]
