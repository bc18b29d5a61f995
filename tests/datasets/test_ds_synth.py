"""Synthetic Cityscapes-format data set: layout, encodings, determinism, and conflicting domains."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from controller.datasets import synth
from controller.datasets.cityscapes import (
    LABELS_BY_NAME,
    TEST_SPLIT_CITIES,
    TRAIN_CLASSES,
    labelids_to_trainids,
    parse_cityscapes_name,
)
from controller.datasets.images import png_size, read_disparity_and_mask, read_disparity_raw, read_label, read_rgb
from controller.datasets.index import Sample, check_samples, read_index
from controller.datasets.synth import DISPARITY_PER_ROW, SynthManifest, synthesize
from controller.errors import DatasetError

SKY, ROAD, SIDEWALK, CAR = (TRAIN_CLASSES.index(n) for n in ("sky", "road", "sidewalk", "car"))
SKY_ID, EGO_ID, UNLABELED_ID, CAR_ID = (LABELS_BY_NAME[n].id for n in ("sky", "ego vehicle", "unlabeled", "car"))
SMALL = {"train_per_city": 2, "test_per_city": 1, "size": (96, 48)}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> SynthManifest:
    """The default data set (3 cities x (16 train + 6 test), 256x128), generated once for this module."""
    return synthesize(tmp_path_factory.mktemp("synth") / "cityscapes-synth")


@pytest.fixture(scope="module")
def train_samples(dataset: SynthManifest) -> list[Sample]:
    return read_index(dataset.train_index)


@pytest.fixture(scope="module")
def means(dataset: SynthManifest, train_samples: list[Sample]) -> dict[str, dict[int, np.ndarray]]:
    return _class_means(dataset, train_samples)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _class_means(dataset: SynthManifest, samples: list[Sample]) -> dict[str, dict[int, np.ndarray]]:
    """Mean RGB colour of each trainId, per domain."""
    sums: dict[str, dict[int, list]] = {}
    for sample in samples:
        domain = dataset.cities[sample.city]
        rgb, label = read_rgb(sample.rgb).astype(np.float64), read_label(sample.label)
        for train_id in np.unique(label[label != 255]):
            acc = sums.setdefault(domain, {}).setdefault(int(train_id), [np.zeros(3), 0])
            acc[0] += rgb[label == train_id].sum(axis=0)
            acc[1] += int((label == train_id).sum())
    return {d: {k: s / n for k, (s, n) in per.items()} for d, per in sums.items()}


# --- layout --------------------------------------------------------------------------------------


def test_layout_follows_the_cityscapes_pattern(dataset: SynthManifest) -> None:
    expected_types = {
        "leftImg8bit": {"leftImg8bit"},
        "gtFine": {"gtFine_labelIds", "gtFine_labelTrainIds"},
        "disparity": {"disparity"},
    }
    for kind, types in expected_types.items():
        for split in ("train", "val"):
            for city in dataset.cities:
                files = sorted((dataset.root / kind / split / city).iterdir())
                parsed = [parse_cityscapes_name(f.name) for f in files]
                assert None not in parsed, files
                assert {p.city for p in parsed} == {city}
                assert {p.frame for p in parsed} == {19}
                assert {p.type for p in parsed} == types
    assert sorted(p.name for p in dataset.root.iterdir()) == [
        "disparity",
        "gtFine",
        "leftImg8bit",
        "synth.json",
        "test-index.txt",
        "train-index.txt",
    ]


def test_default_cities_are_train_split_cities_in_both_folders(dataset: SynthManifest) -> None:
    assert dataset.cities == {"aachen": "day", "bremen": "night", "zurich": "fog"}
    for split in ("train", "val"):
        assert sorted(p.name for p in (dataset.root / "leftImg8bit" / split).iterdir()) == [
            "aachen",
            "bremen",
            "zurich",
        ]
    assert not set(dataset.cities) & TEST_SPLIT_CITIES


def test_counts_and_sequence_numbers(dataset: SynthManifest) -> None:
    assert dataset.counts == {"train": {c: 16 for c in dataset.cities}, "val": {c: 6 for c in dataset.cities}}
    train = sorted(parse_cityscapes_name(p.name).seq for p in (dataset.root / "leftImg8bit/train/aachen").iterdir())
    val = sorted(parse_cityscapes_name(p.name).seq for p in (dataset.root / "leftImg8bit/val/aachen").iterdir())
    assert (train, val) == (list(range(16)), list(range(16, 22)))


def test_index_files_list_rgb_depth_label_relative_city_by_city(
    dataset: SynthManifest, train_samples: list[Sample]
) -> None:
    lines = dataset.train_index.read_text().splitlines()
    assert len(lines) == 48 and len(dataset.test_index.read_text().splitlines()) == 18
    assert lines[0] == (
        "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png "
        "disparity/train/aachen/aachen_000000_000019_disparity.png "
        "gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png"
    )
    assert [s.city for s in train_samples] == ["aachen"] * 16 + ["bremen"] * 16 + ["zurich"] * 16
    check_samples(train_samples)
    check_samples(read_index(dataset.test_index))


def test_images_have_the_requested_size_and_types(train_samples: list[Sample]) -> None:
    sample = train_samples[0]
    assert png_size(sample.rgb) == (256, 128)
    assert read_rgb(sample.rgb).shape == (128, 256, 3)
    assert read_label(sample.label).shape == (128, 256)
    assert read_disparity_raw(sample.depth).dtype == np.uint16


def test_manifest_json_describes_the_set_without_absolute_paths(dataset: SynthManifest) -> None:
    text = dataset.manifest.read_text()
    data = json.loads(text)
    assert (data["seed"], data["size"], data["cities"]) == (0, [256, 128], dataset.cities)
    assert data["counts"] == dataset.counts
    assert "NOT the official Cityscapes split" in data["note"]
    assert str(dataset.root) not in text


# --- labels --------------------------------------------------------------------------------------


def test_train_ids_are_the_official_mapping_of_label_ids(train_samples: list[Sample]) -> None:
    for sample in train_samples[::5]:
        label_ids = read_label(str(sample.label).replace("labelTrainIds", "labelIds"))
        np.testing.assert_array_equal(read_label(sample.label), labelids_to_trainids(label_ids))


def test_void_pixels_unlabeled_and_ego_vehicle_map_to_ignore(train_samples: list[Sample]) -> None:
    sample = train_samples[3]
    label_ids = read_label(str(sample.label).replace("labelTrainIds", "labelIds"))
    train_ids = read_label(sample.label)
    for void in (UNLABELED_ID, EGO_ID):
        assert (label_ids == void).any()
        assert set(np.unique(train_ids[label_ids == void])) == {255}


def test_histogram_counts_pixels_and_covers_at_least_eight_classes(
    dataset: SynthManifest, train_samples: list[Sample]
) -> None:
    counts = np.zeros(256, dtype=np.int64)
    for sample in train_samples:
        counts += np.bincount(read_label(sample.label).ravel(), minlength=256)
    histogram = dataset.class_histogram["train"]
    assert histogram == {**{n: int(counts[i]) for i, n in enumerate(TRAIN_CLASSES)}, "ignore": int(counts[255])}
    present = [n for n in TRAIN_CLASSES if histogram[n] > 0]
    assert len(present) >= 8
    assert {"road", "sidewalk", "building", "vegetation", "sky", "person", "car", "pole", "traffic sign"} <= set(
        present
    )


# --- disparity -----------------------------------------------------------------------------------


def test_sky_and_ego_vehicle_have_invalid_disparity(train_samples: list[Sample]) -> None:
    for sample in train_samples[::7]:
        raw = read_disparity_raw(sample.depth)
        label_ids = read_label(str(sample.label).replace("labelTrainIds", "labelIds"))
        assert (raw[(label_ids == SKY_ID) | (label_ids == EGO_ID)] == 0).all()
        other = ~np.isin(label_ids, [SKY_ID, EGO_ID, UNLABELED_ID])
        assert (raw[other] > 0).mean() > 0.98  # a few stereo holes only


def test_road_disparity_grows_toward_the_bottom_at_the_ground_plane_rate(train_samples: list[Sample]) -> None:
    """Flat ground: d = K (y - h), so the fitted slope over road rows is K = 0.209 / 1.22."""
    for sample in train_samples[::6]:
        disp, valid = read_disparity_and_mask(sample.depth)
        road = (read_label(sample.label) == ROAD) & valid
        rows = np.nonzero(road)[0]
        slope = np.polyfit(rows, disp[road], 1)[0]
        assert slope == pytest.approx(DISPARITY_PER_ROW, abs=0.005)


def test_objects_have_constant_disparity_while_the_road_changes_per_row(train_samples: list[Sample]) -> None:
    """A car stands at one distance (d constant down a column); the road changes by K per row.

    Compared through the median of d(y + 1) - d(y) over vertically adjacent valid pixels of one class,
    which ignores the few pairs that straddle two overlapping cars.
    """
    steps: dict[int, list[np.ndarray]] = {CAR: [], ROAD: []}
    for sample in train_samples:
        disp, valid = read_disparity_and_mask(sample.depth)
        label = read_label(sample.label)
        for cls in steps:
            both = (label[1:] == cls) & (label[:-1] == cls) & valid[1:] & valid[:-1]
            steps[cls].append((disp[1:] - disp[:-1])[both])
    car, road = (np.concatenate(steps[c]) for c in (CAR, ROAD))
    assert car.size > 1000 and road.size > 1000
    assert abs(np.median(car)) < 0.02
    assert np.median(road) == pytest.approx(DISPARITY_PER_ROW, abs=0.02)


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a = synthesize(tmp_path / "a", seed=7, **SMALL)
    b = synthesize(tmp_path / "b", seed=7, **SMALL)
    files_a, files_b = _files(a.root), _files(b.root)
    assert len(files_a) == 3 * 3 * 4 + 3
    assert files_a == files_b


def test_different_seed_gives_different_images(tmp_path: Path) -> None:
    a = synthesize(tmp_path / "a", seed=1, **SMALL)
    b = synthesize(tmp_path / "b", seed=2, **SMALL)
    rgb = "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
    assert (a.root / rgb).read_bytes() != (b.root / rgb).read_bytes()


def test_an_image_does_not_depend_on_the_other_cities(tmp_path: Path) -> None:
    one = synthesize(tmp_path / "one", cities={"bremen": "night"}, **SMALL)
    three = synthesize(tmp_path / "three", **SMALL)
    rgb = "leftImg8bit/val/bremen/bremen_000002_000019_leftImg8bit.png"
    assert (one.root / rgb).read_bytes() == (three.root / rgb).read_bytes()


# --- domains -------------------------------------------------------------------------------------


def test_domains_look_different(means: dict[str, dict[int, np.ndarray]]) -> None:
    skies = [means[d][SKY] for d in ("day", "night", "fog")]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.linalg.norm(skies[i] - skies[j]) > 60


@pytest.mark.parametrize(
    ("domain_a", "cls", "domain_b", "look_alike"),
    [
        ("day", "road", "night", "sky"),  # night sky is as grey as the day road
        ("day", "sidewalk", "night", "road"),  # the street-lit night road looks like a day sidewalk
        ("day", "road", "fog", "sidewalk"),  # wet dark sidewalk in fog
    ],
)
def test_classes_conflict_across_domains(
    means: dict[str, dict[int, np.ndarray]], domain_a: str, cls: str, domain_b: str, look_alike: str
) -> None:
    own = TRAIN_CLASSES.index(cls)
    other = TRAIN_CLASSES.index(look_alike)
    colour = means[domain_a][own]
    assert np.linalg.norm(colour - means[domain_b][other]) < np.linalg.norm(colour - means[domain_b][own])


def test_a_colour_classifier_fitted_on_one_domain_fails_on_another(
    dataset: SynthManifest, train_samples: list[Sample]
) -> None:
    """Nearest-class-mean on colour: good within the day domain, poor on night (so fine-tuning forgets)."""
    day_means = _class_means(dataset, [s for s in train_samples if dataset.cities[s.city] == "day"])["day"]
    classes = np.array(sorted(day_means))
    centres = np.stack([day_means[c] for c in classes])
    tests = read_index(dataset.test_index)

    def accuracy(domain: str) -> float:
        hits = total = 0
        for sample in (s for s in tests if dataset.cities[s.city] == domain):
            rgb, label = read_rgb(sample.rgb).reshape(-1, 3).astype(np.float64), read_label(sample.label).ravel()
            keep = label != 255
            pred = classes[np.argmin(((rgb[keep, None, :] - centres[None]) ** 2).sum(-1), axis=1)]
            hits, total = hits + int((pred == label[keep]).sum()), total + int(keep.sum())
        return hits / total

    assert accuracy("day") > 0.85
    assert accuracy("night") < 0.4


# --- arguments and atomicity -----------------------------------------------------------------------


def test_refuses_a_non_empty_root(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="non-empty folder") as info:
        synthesize(root, **SMALL)
    assert info.value.file == str(root)
    assert (root / "keep.txt").read_text() == "mine"


def test_accepts_an_existing_empty_root(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    assert synthesize(tmp_path / "data", **SMALL).train_index.is_file()


def test_overwrite_replaces_the_old_content(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "old.txt").write_text("x")
    synthesize(root, overwrite=True, **SMALL)
    assert not (root / "old.txt").exists()
    assert os.listdir(tmp_path) == ["data"]


def test_an_interrupted_run_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = synth._write_sample
    calls = []

    def fail_on_fourth(*args: object, **kwargs: object) -> list[Path]:
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(synth, "_write_sample", fail_on_fourth)
    with pytest.raises(KeyboardInterrupt):
        synthesize(tmp_path / "data", **SMALL)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cities": {"berlin": "day"}}, "official Cityscapes test split"),
        ({"cities": {"paris": "day"}}, "not a Cityscapes train/val city"),
        ({"cities": {"aachen": "rain"}}, "unknown domain 'rain'"),
        ({"cities": {}}, "at least one city"),
        ({"size": (32, 16)}, "width >= 64 and height >= 32"),
        ({"train_per_city": 0}, "must be >= 1"),
        ({"seed": -1}, "seed must be >= 0"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthesize(tmp_path / "data", **{**SMALL, **kwargs})
    assert not (tmp_path / "data").exists()
