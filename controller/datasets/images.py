"""Image I/O for segmentation data: header-only sizes, typed readers and an atomic PNG writer.

Why a header reader: validating a 12k-line index must not decode 36k images; a PNG stores its size
in the first chunk (IHDR), 24 bytes into the file::

    bytes 0..7   signature 89 50 4E 47 0D 0A 1A 0A
    bytes 8..11  chunk length (13)      bytes 12..15  b"IHDR"
    bytes 16..19 width (big-endian)     bytes 20..23  height (big-endian)
    byte  24     bit depth              byte  25      colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA)

Cityscapes disparity encoding (16-bit PNG, value p)::

    d = (p - 1) / 256   for p > 0        p = 0 -> invalid (no stereo match, sky, ego vehicle)

Every read error is a :class:`~controller.errors.DatasetError` naming the file.
"""

from __future__ import annotations

import struct
from io import BytesIO
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from controller import fsio
from controller.errors import DatasetError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DISPARITY_MAX = (65535 - 1) / 256
"""Largest disparity a 16-bit Cityscapes disparity PNG can hold (255.992 px)."""

_RGB_CONVERTIBLE = frozenset({"RGB", "RGBA", "L", "LA", "P", "PA", "CMYK", "YCbCr"})
_LABEL_MODES = frozenset({"L", "P"})  # P: palette PNG, the palette index is the label
_UINT16_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})


class PngHeader(NamedTuple):
    """The IHDR fields that matter for validation."""

    width: int
    height: int
    bit_depth: int
    color_type: int


def _read_head(path: Path, n: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except FileNotFoundError:
        raise DatasetError("file not found", file=path) from None
    except IsADirectoryError:
        raise DatasetError("expected an image file, found a directory", file=path) from None
    except OSError as exc:
        raise DatasetError(f"cannot read file: {exc.strerror or exc}", file=path) from None


def png_header(path: str | Path) -> PngHeader:
    """Parse a PNG's IHDR chunk without decoding pixels; DatasetError if the file is not a PNG."""
    path = Path(path)
    head = _read_head(path, 26)
    if len(head) < 26 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise DatasetError("not a PNG file (missing signature or IHDR chunk)", file=path)
    width, height = struct.unpack(">II", head[16:24])
    return PngHeader(width, height, head[24], head[25])


def png_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image, from the PNG header; non-PNG files use PIL's lazy open (header only)."""
    path = Path(path)
    head = _read_head(path, 24)
    if len(head) == 24 and head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"not a readable image: {exc}", file=path) from None


def _open_loaded(path: Path) -> Image.Image:
    """Open and fully decode an image; errors name the file."""
    try:
        im = Image.open(path)
        im.load()
        return im
    except FileNotFoundError:
        raise DatasetError("file not found", file=path) from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DatasetError(f"cannot decode image: {exc}", file=path) from None


def read_rgb(path: str | Path) -> np.ndarray:
    """Read a colour image as uint8 HxWx3 (gray, palette and RGBA images are converted; alpha dropped)."""
    path = Path(path)
    with _open_loaded(path) as im:
        if im.mode not in _RGB_CONVERTIBLE:
            raise DatasetError(f"expected an 8-bit colour or gray image, got PIL mode {im.mode!r}", file=path)
        if im.mode != "RGB":
            im = im.convert("RGB")
        return np.asarray(im, dtype=np.uint8).copy()


def read_label(path: str | Path) -> np.ndarray:
    """Read a label image (labelIds or trainIds) as uint8 HxW.

    Only single-channel 8-bit images are accepted ('L', or 'P' whose palette indices are the labels):
    silently converting an RGB colour-coded label would produce meaningless ids.
    """
    path = Path(path)
    with _open_loaded(path) as im:
        if im.mode not in _LABEL_MODES:
            bands = len(im.getbands())
            raise DatasetError(
                f"expected a single-channel 8-bit label image, got PIL mode {im.mode!r} ({bands} channel(s))",
                file=path,
            )
        return np.asarray(im, dtype=np.uint8).copy()


def read_disparity_raw(path: str | Path) -> np.ndarray:
    """Read a 16-bit single-channel PNG as uint16 HxW (the encoded value p)."""
    path = Path(path)
    with _open_loaded(path) as im:
        if im.mode in _UINT16_MODES:
            return np.asarray(im).astype(np.uint16)
        if im.mode == "I":  # some PIL versions decode 16-bit gray into 32-bit ints
            raw = np.asarray(im)
            if raw.size and (raw.min() < 0 or raw.max() > 65535):
                raise DatasetError("expected 16-bit disparity values in 0..65535", file=path)
            return raw.astype(np.uint16)
        raise DatasetError(f"expected a 16-bit single-channel disparity PNG, got PIL mode {im.mode!r}", file=path)


def decode_disparity(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cityscapes decoding: ``d = (p - 1) / 256`` where p > 0; returns (float32 disparity, bool valid).

    Invalid pixels (p == 0) get d = 0; use the mask, since p == 1 also decodes to a valid d = 0.
    """
    raw = np.asarray(raw)
    valid = raw > 0
    disp = np.where(valid, (raw.astype(np.float32) - 1.0) / 256.0, np.float32(0.0)).astype(np.float32)
    return disp, valid


def encode_disparity(disp: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`decode_disparity`: ``p = round(256 d) + 1`` on valid pixels, 0 elsewhere.

    ``valid`` defaults to ``isfinite(d)``. Valid disparities must lie in [0, DISPARITY_MAX].
    """
    disp = np.asarray(disp, dtype=np.float64)
    mask = np.isfinite(disp) if valid is None else np.asarray(valid, dtype=bool) & np.isfinite(disp)
    vals = disp[mask]
    if vals.size and (vals.min() < 0 or vals.max() > DISPARITY_MAX):
        raise ValueError(
            f"disparity out of the encodable range [0, {DISPARITY_MAX:.3f}]: min {vals.min():.3f}, max {vals.max():.3f}"
        )
    raw = np.zeros(disp.shape, dtype=np.uint16)
    raw[mask] = (np.rint(vals * 256.0) + 1).astype(np.uint16)
    return raw


def read_disparity_and_mask(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a Cityscapes disparity PNG: (float32 HxW disparity in pixels, bool HxW validity mask)."""
    return decode_disparity(read_disparity_raw(path))


def read_disparity(path: str | Path) -> np.ndarray:
    """Read a Cityscapes disparity PNG as float32 HxW pixels; invalid pixels are 0 (see
    :func:`read_disparity_and_mask` for the mask)."""
    return read_disparity_and_mask(path)[0]


# --- writing ------------------------------------------------------------------------------------


def _to_pil(path: Path, array: np.ndarray) -> Image.Image:
    arr = np.ascontiguousarray(array)
    if arr.dtype == np.uint8 and arr.ndim == 2:
        return Image.fromarray(arr)  # mode L
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
        return Image.fromarray(arr)  # mode RGB
    if arr.dtype == np.uint16 and arr.ndim == 2:
        return Image.fromarray(arr)  # mode I;16
    raise ValueError(
        f"{path}: write_png accepts uint8 HxW, uint8 HxWx3 or uint16 HxW arrays, got {arr.dtype} with shape {arr.shape}"
    )


def write_png(path: str | Path, array: np.ndarray, *, compress_level: int = 6) -> Path:
    """Write a uint8 gray / uint8 RGB / uint16 gray array as PNG, atomically; parent folders are created.

    The output depends only on the pixels (no timestamps), so equal arrays give byte-identical files.
    """
    path = Path(path)
    image = _to_pil(path, array)
    buf = BytesIO()
    image.save(buf, format="PNG", compress_level=compress_level)
    path.parent.mkdir(parents=True, exist_ok=True)
    # no fsync: PNGs come by the thousand (synth, generated labels) and can be made again; syncing
    # each one would dominate the time
    return fsio.write_bytes(path, buf.getvalue(), fsync=False)
