"""Image I/O: header-only sizes, typed readers, Cityscapes disparity encoding, atomic PNG writing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from controller.datasets.images import (
    decode_disparity,
    encode_disparity,
    png_header,
    png_size,
    read_disparity,
    read_disparity_and_mask,
    read_label,
    read_rgb,
    write_png,
)
from controller.errors import DatasetError


def _gray(h: int, w: int) -> np.ndarray:
    return (np.arange(h * w) % 251).astype(np.uint8).reshape(h, w)


def _rgb(h: int, w: int) -> np.ndarray:
    return (np.arange(h * w * 3) % 253).astype(np.uint8).reshape(h, w, 3)


@pytest.mark.parametrize(
    ("array", "size", "bit_depth", "color_type"),
    [
        (_gray(5, 7), (7, 5), 8, 0),
        (_rgb(3, 9), (9, 3), 8, 2),
        (np.full((4, 6), 40000, dtype=np.uint16), (6, 4), 16, 0),
    ],
)
def test_png_header_reports_size_depth_and_colour_type(
    tmp_path: Path, array: np.ndarray, size: tuple[int, int], bit_depth: int, color_type: int
) -> None:
    path = write_png(tmp_path / "a.png", array)
    assert png_size(path) == size
    assert png_header(path) == (size[0], size[1], bit_depth, color_type)


def test_png_size_reads_only_the_header(tmp_path: Path) -> None:
    full = write_png(tmp_path / "full.png", _rgb(20, 30)).read_bytes()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(full[:33])  # signature + IHDR only: no pixel data at all
    assert png_size(truncated) == (30, 20)


def test_png_size_falls_back_to_pil_for_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "a.bmp"
    Image.fromarray(_rgb(4, 11)).save(path)
    assert png_size(path) == (11, 4)


def test_png_size_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="file not found") as info:
        png_size(tmp_path / "nope.png")
    assert info.value.file == str(tmp_path / "nope.png")


def test_png_size_non_image_names_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(DatasetError, match="not a readable image") as info:
        png_size(path)
    assert info.value.file == str(path)


def test_png_header_rejects_non_png(tmp_path: Path) -> None:
    path = tmp_path / "a.bmp"
    Image.fromarray(_gray(2, 2)).save(path)
    with pytest.raises(DatasetError, match="not a PNG"):
        png_header(path)


def test_read_rgb_round_trip(tmp_path: Path) -> None:
    array = _rgb(6, 4)
    out = read_rgb(write_png(tmp_path / "c.png", array))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, array)


def test_read_rgb_converts_gray_to_three_channels(tmp_path: Path) -> None:
    out = read_rgb(write_png(tmp_path / "g.png", np.array([[0, 200]], dtype=np.uint8)))
    np.testing.assert_array_equal(out, [[[0, 0, 0], [200, 200, 200]]])


def test_read_rgb_rejects_16_bit(tmp_path: Path) -> None:
    path = write_png(tmp_path / "d.png", np.zeros((2, 2), dtype=np.uint16))
    with pytest.raises(DatasetError, match="8-bit colour or gray") as info:
        read_rgb(path)
    assert info.value.file == str(path)


def test_read_label_round_trip(tmp_path: Path) -> None:
    array = np.array([[0, 7, 255], [26, 23, 1]], dtype=np.uint8)
    out = read_label(write_png(tmp_path / "l.png", array))
    assert out.dtype == np.uint8 and out.shape == (2, 3)
    np.testing.assert_array_equal(out, array)


def test_read_label_accepts_palette_indices(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    image = Image.new("P", (2, 2))
    image.putpalette([value for i in range(256) for value in (i, 255 - i, 0)])  # distinct colours
    image.putdata([0, 3, 5, 2])
    image.save(path)
    np.testing.assert_array_equal(read_label(path), [[0, 3], [5, 2]])


@pytest.mark.parametrize(("array", "mode"), [(_rgb(2, 2), "RGB"), (np.zeros((2, 2), dtype=np.uint16), "I;16")])
def test_read_label_rejects_non_single_channel_8_bit(tmp_path: Path, array: np.ndarray, mode: str) -> None:
    path = write_png(tmp_path / "bad.png", array)
    with pytest.raises(DatasetError, match=f"single-channel 8-bit.*{mode}") as info:
        read_label(path)
    assert str(path) in str(info.value)


def test_read_label_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="file not found") as info:
        read_label(tmp_path / "x.png")
    assert info.value.file == str(tmp_path / "x.png")


def test_read_disparity_decodes_cityscapes_encoding(tmp_path: Path) -> None:
    raw = np.array([[0, 1, 257], [513, 129, 65535]], dtype=np.uint16)
    path = write_png(tmp_path / "disp.png", raw)
    disp, valid = read_disparity_and_mask(path)
    assert disp.dtype == np.float32
    # d = (p - 1) / 256 for p > 0; p = 0 -> 0 and invalid
    np.testing.assert_array_equal(disp, [[0.0, 0.0, 1.0], [2.0, 0.5, 255.9921875]])
    np.testing.assert_array_equal(valid, [[False, True, True], [True, True, True]])
    np.testing.assert_array_equal(read_disparity(path), disp)


def test_read_disparity_rejects_8_bit(tmp_path: Path) -> None:
    path = write_png(tmp_path / "d8.png", _gray(2, 2))
    with pytest.raises(DatasetError, match="16-bit single-channel disparity") as info:
        read_disparity(path)
    assert info.value.file == str(path)


def test_encode_disparity_inverts_decoding() -> None:
    disp = np.array([[1.0, 0.5, 0.0], [7.0, 2.0, 3.0]], dtype=np.float32)
    valid = np.array([[True, True, True], [False, True, True]])
    raw = encode_disparity(disp, valid)
    np.testing.assert_array_equal(raw, [[257, 129, 1], [0, 513, 769]])
    decoded, mask = decode_disparity(raw)
    np.testing.assert_array_equal(mask, valid)
    np.testing.assert_array_equal(decoded[valid], disp[valid])


@pytest.mark.parametrize("bad", [-0.5, 256.0])
def test_encode_disparity_rejects_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError, match="out of the encodable range"):
        encode_disparity(np.array([bad], dtype=np.float32))


@pytest.mark.parametrize(
    "array",
    [np.zeros((2, 2), dtype=np.float32), np.zeros((2, 2, 4), dtype=np.uint8), np.zeros((2, 2, 3), dtype=np.uint16)],
)
def test_write_png_rejects_unsupported_arrays(tmp_path: Path, array: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"bad\.png.*uint8 HxW"):
        write_png(tmp_path / "bad.png", array)
    assert not (tmp_path / "bad.png").exists()


def test_write_png_creates_parent_folders(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a" / "b" / "c.png", _gray(2, 2))
    assert path.is_file()


def test_write_png_is_deterministic(tmp_path: Path) -> None:
    a = write_png(tmp_path / "a.png", _rgb(8, 8)).read_bytes()
    b = write_png(tmp_path / "b.png", _rgb(8, 8)).read_bytes()
    assert a == b


def test_write_png_replaces_existing_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", _gray(2, 2))
    write_png(path, _gray(3, 5))
    assert png_size(path) == (5, 3)
    assert os.listdir(tmp_path) == ["a.png"]


def test_interrupted_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_png(tmp_path / "a.png", _gray(2, 2))
    before = path.read_bytes()

    def fail(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        write_png(path, _gray(4, 4))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.png"]
