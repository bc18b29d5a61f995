"""Ianvs-compatible index files: parsing, errors, sample attributes, size checks, writing, checksums."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from controller.datasets.images import write_png
from controller.datasets.index import (
    Sample,
    check_samples,
    index_checksum,
    read_index,
    validate_attribute_name,
    write_index,
)
from controller.errors import DatasetError

RGB = "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
DEPTH = "disparity/train/aachen/aachen_000000_000019_disparity.png"
LABEL = "gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png"


def _touch_png(path: Path, width: int = 4, height: int = 2, dtype: type = np.uint8) -> Path:
    return write_png(path, np.zeros((height, width), dtype=dtype))


def _dataset(root: Path, lines: list[str], *, create: tuple[str, ...] = (RGB, DEPTH, LABEL)) -> Path:
    for rel in create:
        _touch_png(root / rel)
    root.mkdir(parents=True, exist_ok=True)
    index = root / "index.txt"
    index.write_text("\n".join(lines) + "\n")
    return index


# --- read_index ---------------------------------------------------------------------------------


def test_three_columns_are_rgb_depth_label(tmp_path: Path) -> None:
    index = _dataset(tmp_path, [f"{RGB} {DEPTH} {LABEL}"])
    (sample,) = read_index(index)
    assert sample.inputs == (tmp_path / RGB, tmp_path / DEPTH)
    assert (sample.rgb, sample.depth, sample.label) == (tmp_path / RGB, tmp_path / DEPTH, tmp_path / LABEL)
    assert (sample.index_file, sample.line) == (index, 1)


def test_two_columns_have_no_depth(tmp_path: Path) -> None:
    (sample,) = read_index(_dataset(tmp_path, [f"{RGB} {LABEL}"]))
    assert sample.depth is None
    assert sample.label == tmp_path / LABEL


def test_relative_paths_resolve_against_the_index_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _dataset(tmp_path / "data", [f"{RGB} {LABEL}"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (sample,) = read_index(os.path.relpath(index, elsewhere))
    assert sample.rgb == tmp_path / "data" / RGB


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    _touch_png(tmp_path / "abs" / "x.png")
    index = _dataset(tmp_path / "idx", [f"{tmp_path / 'abs' / 'x.png'} {tmp_path / 'abs' / 'x.png'}"], create=())
    (sample,) = read_index(index)
    assert sample.rgb == tmp_path / "abs" / "x.png"


def test_blank_and_comment_lines_are_skipped_and_line_numbers_are_physical(tmp_path: Path) -> None:
    index = _dataset(tmp_path, ["# header", "", f"{RGB} {LABEL}", "   ", "  # indented comment", f"{RGB} {LABEL}"])
    assert [s.line for s in read_index(index)] == [3, 6]


def test_missing_index_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="index file not found") as info:
        read_index(tmp_path / "none.txt")
    assert info.value.file == str(tmp_path / "none.txt")


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n\n"])
def test_empty_index_file(tmp_path: Path, content: str) -> None:
    index = tmp_path / "index.txt"
    index.write_text(content)
    with pytest.raises(DatasetError, match="empty index file: no samples") as info:
        read_index(index)
    assert info.value.file == str(index)


def test_column_count_must_match_the_first_line(tmp_path: Path) -> None:
    index = _dataset(tmp_path, [f"{RGB} {DEPTH} {LABEL}", "# note", f"{RGB} {LABEL}"])
    with pytest.raises(DatasetError, match="expected 3 columns like the first sample line, found 2") as info:
        read_index(index)
    assert (info.value.file, info.value.line) == (str(index), 3)


def test_single_column_line_is_rejected(tmp_path: Path) -> None:
    index = _dataset(tmp_path, [RGB])
    with pytest.raises(DatasetError, match="at least 2 space-separated paths") as info:
        read_index(index)
    assert info.value.line == 1


def test_missing_listed_file_names_line_and_path_as_written(tmp_path: Path) -> None:
    missing = "leftImg8bit/train/aachen/aachen_000099_000019_leftImg8bit.png"
    index = _dataset(tmp_path, [f"{RGB} {LABEL}", *["# comment"] * 5, f"{missing} {LABEL}"])
    with pytest.raises(DatasetError, match=f"file not found: {missing}") as info:
        read_index(index)
    assert (info.value.file, info.value.line) == (str(index), 7)
    assert f"{index}:7: file not found: {missing}" == str(info.value)


def test_existence_check_can_be_skipped(tmp_path: Path) -> None:
    index = tmp_path / "index.txt"
    index.write_text("a.png b.png\n")
    (sample,) = read_index(index, check_exists=False)
    assert sample.label == tmp_path / "b.png"


# --- attributes ---------------------------------------------------------------------------------


def _sample(rgb: str, label: str = "l.png") -> Sample:
    return Sample(inputs=(Path(rgb),), label=Path(label), index_file=Path("/d/index.txt"), line=4)


@pytest.mark.parametrize(
    ("rgb", "city", "folder", "domain"),
    [
        # Cityscapes layout: the folder above the city is a split -> no domain
        ("/d/leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png", "aachen", "aachen", None),
        # Ianvs cityscapes-synthia layout
        (
            "/d/train/leftImg8bit/cityscapes_real/bremen/bremen_000001_000019_leftImg8bit.png",
            "bremen",
            "bremen",
            "cityscapes_real",
        ),
        ("/d/train/leftImg8bit/synthia_sim/0001.png", None, "synthia_sim", None),
        # Cloud-Robotics layout
        ("/d/rgb/train/20220420_garden/00480.png", None, "20220420_garden", None),
        ("/d/night/seq_07/frame.png", None, "seq_07", "night"),
    ],
)
def test_path_attributes(rgb: str, city: str | None, folder: str, domain: str | None) -> None:
    sample = _sample(rgb)
    assert (sample.city, sample.folder, sample.domain) == (city, folder, domain)
    assert [sample.attribute(n) for n in ("city", "folder", "domain")] == [city, folder, domain]


def test_column_attribute_returns_tokens_as_written(tmp_path: Path) -> None:
    (sample,) = read_index(_dataset(tmp_path, [f"{RGB}  {DEPTH}\t{LABEL}"]))
    assert [sample.attribute(f"column:{n}") for n in (0, 1, 2, -1)] == [RGB, DEPTH, LABEL, LABEL]


def test_column_attribute_out_of_range_names_index_line() -> None:
    with pytest.raises(DatasetError, match="column 2 out of range, the line has 2 columns") as info:
        _sample("/d/a/b.png").attribute("column:2")
    assert (info.value.file, info.value.line) == ("/d/index.txt", 4)


@pytest.mark.parametrize("name", ["town", "column", "column:x", "column:--1", "City"])
def test_unknown_attribute_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="unknown sample attribute"):
        validate_attribute_name(name)
    with pytest.raises(ValueError, match="unknown sample attribute"):
        _sample("/d/a/b.png").attribute(name)


# --- check_samples ------------------------------------------------------------------------------


def test_check_samples_accepts_matching_sizes(tmp_path: Path) -> None:
    samples = read_index(_dataset(tmp_path, [f"{RGB} {DEPTH} {LABEL}"]))
    assert check_samples(samples) is None


@pytest.mark.parametrize(("kind", "rel"), [("label", LABEL), ("depth", DEPTH)])
def test_check_samples_reports_size_mismatch(tmp_path: Path, kind: str, rel: str) -> None:
    index = _dataset(tmp_path, ["# c", f"{RGB} {DEPTH} {LABEL}"])
    _touch_png(tmp_path / rel, width=8, height=3)
    with pytest.raises(DatasetError) as info:
        check_samples(read_index(index))
    assert (info.value.file, info.value.line) == (str(index), 2)
    assert info.value.message == (f"size mismatch: {kind} {tmp_path / rel} is 8x3 but rgb {tmp_path / RGB} is 4x2")


def test_check_samples_reports_unreadable_file_with_index_line(tmp_path: Path) -> None:
    index = _dataset(tmp_path, [f"{RGB} {LABEL}"])
    (tmp_path / LABEL).write_text("not an image")
    with pytest.raises(DatasetError, match="not a readable image") as info:
        check_samples(read_index(index))
    assert (info.value.file, info.value.line) == (str(index), 1)
    assert str(tmp_path / LABEL) in info.value.message


@pytest.fixture(scope="module")
def many_triplets(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Sample], Path]:
    """5,000 tiny 4x2 rgb/depth/label triplets (hard links of one PNG: only headers matter) and a 5x2 label."""
    root = tmp_path_factory.mktemp("many")
    proto = write_png(root / "proto.png", np.zeros((2, 4), dtype=np.uint8))
    lines = []
    for folder in ("rgb", "depth", "label"):
        (root / folder).mkdir()
    for i in range(5000):
        for folder in ("rgb", "depth", "label"):
            os.link(proto, root / folder / f"{i:05d}.png")
        lines.append(f"rgb/{i:05d}.png depth/{i:05d}.png label/{i:05d}.png")
    (root / "index.txt").write_text("\n".join(lines) + "\n")
    other = write_png(root / "wide.png", np.zeros((2, 5), dtype=np.uint8))
    return read_index(root / "index.txt"), other


def test_check_samples_on_5000_triplets_passes(many_triplets: tuple[list[Sample], Path]) -> None:
    samples, _ = many_triplets
    assert len(samples) == 5000
    assert check_samples(samples) is None


def test_check_samples_on_5000_triplets_finds_the_one_bad_line(many_triplets: tuple[list[Sample], Path]) -> None:
    samples, wide = many_triplets
    broken = list(samples)
    broken[4320] = dataclasses.replace(broken[4320], label=wide)
    with pytest.raises(DatasetError, match=r"label .*wide\.png is 5x2 but rgb .*04320\.png is 4x2") as info:
        check_samples(broken)
    assert info.value.line == 4321


# --- write_index / checksum ---------------------------------------------------------------------


def test_write_index_writes_paths_relative_to_its_folder(tmp_path: Path) -> None:
    rows = [[tmp_path / RGB, tmp_path / DEPTH, tmp_path / LABEL]]
    written = write_index(tmp_path / "index.txt", rows)
    assert written.read_text() == f"{RGB} {DEPTH} {LABEL}\n"


def test_write_index_round_trips_through_read_index(tmp_path: Path) -> None:
    for rel in (RGB, LABEL):
        _touch_png(tmp_path / rel)
    index = write_index(tmp_path / "lists" / "index.txt", [[tmp_path / RGB, tmp_path / LABEL]] * 2)
    assert index.read_text().splitlines()[0] == f"../{RGB} ../{LABEL}"
    samples = read_index(index)
    assert [(s.rgb, s.label, s.line) for s in samples] == [(tmp_path / RGB, tmp_path / LABEL, n) for n in (1, 2)]


def test_write_index_takes_relative_inputs_relative_to_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    index = write_index(tmp_path / "sub" / "index.txt", [[Path("a.png"), Path("b.png")]])
    assert index.read_text() == "../a.png ../b.png\n"


def test_write_index_refuses_paths_with_spaces(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="row 2: path contains whitespace") as info:
        write_index(tmp_path / "index.txt", [["a.png", "b.png"], ["my file.png", "b.png"]])
    assert info.value.file == str(tmp_path / "index.txt")
    assert not (tmp_path / "index.txt").exists()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "no rows to write"),
        ([["a.png"]], "row 1: expected at least 2 paths"),
        ([["a.png", "b.png"], ["a.png", "c.png", "b.png"]], "row 2: expected 2 paths like row 1, got 3"),
        ([["#a.png", "b.png"]], "would read as a comment"),
    ],
)
def test_write_index_refuses_unreadable_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[list[str]], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match=message):
        write_index(tmp_path / "index.txt", rows)


def test_write_index_replaces_atomically(tmp_path: Path) -> None:
    index = tmp_path / "index.txt"
    index.write_text("old\n")
    write_index(index, [[tmp_path / "a.png", tmp_path / "b.png"]])
    assert index.read_text() == "a.png b.png\n"
    assert os.listdir(tmp_path) == ["index.txt"]


def test_index_checksum_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    index = tmp_path / "index.txt"
    index.write_bytes(b"a.png b.png\n")
    assert index_checksum(index) == "95658665a520e6be090a489d5d996d68fde2ac6d63a11022fd74e33ed38e32cb"


def test_index_checksum_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="index file not found"):
        index_checksum(tmp_path / "none.txt")
