"""RFNet inputs: reading a sample, disparity normalisation and training augmentation (numpy + PIL).

Disparity (Cityscapes 16-bit PNG, value p): ``d = (p - 1) / 256`` for p > 0, p = 0 invalid. The
network sees ``(d - mu) / sigma`` with mu, sigma the mean and standard deviation of the *valid*
disparities of the training images (stored with the model, so inference uses the training
statistics); invalid pixels are set to 0 after normalisation, i.e. to the training mean. (The
released RFNet code divides the raw PNG by 255 and uses fixed constants, which does not fit 16-bit
Cityscapes disparity: see docs/rfnet.md.)

RGB: ``(rgb / 255 - mean) / std`` with the ImageNet statistics the pretrained trunk expects.

Training augmentation, in this order (RFNet's RandomHorizontalFlip + RandomScaleCrop):
  1. horizontal flip with probability 1/2;
  2. random scale: the short side becomes an integer drawn uniformly from
     [scale_min * base_size, scale_max * base_size] (aspect ratio kept); RGB bilinear, disparity,
     its validity mask and the label nearest-neighbour (no blending of valid and invalid disparity);
  3. pad bottom/right up to crop_size (RGB 0, disparity invalid, label ignore);
  4. a uniformly placed crop_size x crop_size crop.
Every random draw comes from the generator passed in, so a (seed, position) pair fixes the result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import overload

import numpy as np
from PIL import Image

from controller.datasets.images import read_disparity_and_mask, read_label, read_rgb
from controller.datasets.index import Sample
from controller.errors import DatasetError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


@dataclass(frozen=True)
class Arrays:
    """One sample in memory: uint8 RGB H x W x 3, float32 disparity + bool mask, uint8 label."""

    rgb: np.ndarray
    disparity: np.ndarray | None = None
    valid: np.ndarray | None = None
    label: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])


@dataclass(frozen=True)
class DepthStats:
    """Mean and standard deviation of valid training disparities (pixels), and how many were seen."""

    mean: float
    std: float
    pixels: int

    def normalize(self, disparity: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """(d - mean) / std on valid pixels, 0 on invalid ones; float32."""
        out = (disparity.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)
        out[~valid] = 0.0
        return out

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "std": self.std, "pixels": self.pixels}

    @classmethod
    def from_dict(cls, data: dict[str, float | int]) -> DepthStats:
        return cls(float(data["mean"]), float(data["std"]), int(data["pixels"]))


def require_depth(samples: Sequence[Sample]) -> None:
    """DatasetError naming the first index line without a depth column."""
    for sample in samples:
        if sample.depth is None:
            raise DatasetError(
                "use_depth is on, so every index line needs 'rgb depth label' (3 columns); this one has no "
                "depth column (set use_depth: false for an RGB-only RFNet)",
                file=sample.index_file,
                line=sample.line,
            )


def depth_statistics(samples: Sequence[Sample], max_images: int = 500) -> DepthStats:
    """Statistics of valid disparities over at most `max_images` evenly spaced training images.

    mean = S1 / n, std = sqrt(S2 / n - mean^2), accumulated in float64 (S1 = sum d, S2 = sum d^2).
    """
    require_depth(samples)
    if not samples:
        raise ValueError("no training samples to compute disparity statistics from")
    picks = sorted(set(np.linspace(0, len(samples) - 1, min(len(samples), max(1, max_images))).round().astype(int)))
    total = total_sq = 0.0
    count = 0
    for position in picks:
        disparity, valid = read_disparity_and_mask(samples[position].depth)
        values = disparity[valid].astype(np.float64)
        total += float(values.sum())
        total_sq += float((values * values).sum())
        count += int(values.size)
    if count == 0:
        first = samples[picks[0]]
        raise DatasetError(f"no valid disparity pixel (p > 0) in {len(picks)} training images", file=first.index_file)
    mean = total / count
    std = math.sqrt(max(total_sq / count - mean * mean, 0.0))
    return DepthStats(mean, std if std > 1e-6 else 1.0, count)


def read_arrays(sample: Sample, *, use_depth: bool, with_label: bool) -> Arrays:
    """Decode one sample's files (label only when training)."""
    rgb = read_rgb(sample.rgb)
    disparity = valid = None
    if use_depth:
        require_depth([sample])
        assert sample.depth is not None  # require_depth raised otherwise
        disparity, valid = read_disparity_and_mask(sample.depth)
        if disparity.shape != rgb.shape[:2]:
            raise DatasetError(
                f"disparity {sample.depth} is {disparity.shape[1]}x{disparity.shape[0]} but rgb is "
                f"{rgb.shape[1]}x{rgb.shape[0]}",
                file=sample.index_file,
                line=sample.line,
            )
    label = read_label(sample.label) if with_label else None
    if label is not None and label.shape != rgb.shape[:2]:
        raise DatasetError(
            f"label {sample.label} is {label.shape[1]}x{label.shape[0]} but rgb is {rgb.shape[1]}x{rgb.shape[0]}",
            file=sample.index_file,
            line=sample.line,
        )
    return Arrays(rgb, disparity, valid, label)


def clean_label(label: np.ndarray, num_classes: int, ignore_index: int) -> np.ndarray:
    """Label values outside [0, num_classes) become `ignore_index` (the metric drops them too)."""
    return np.where(label < num_classes, label, np.uint8(ignore_index)).astype(np.uint8)


# ------------------------------------------------------------------ geometry


def _nearest(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize by pixel centres: src = floor((dst + 0.5) * src_size / dst_size)."""
    src_h, src_w = array.shape[:2]
    rows = np.minimum(((np.arange(height) + 0.5) * src_h / height).astype(np.int64), src_h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * src_w / width).astype(np.int64), src_w - 1)
    resized: np.ndarray = array[rows[:, None], cols[None, :]]  # numpy's stubs type indexing by arrays as Any
    return resized


def resize(arrays: Arrays, height: int, width: int) -> Arrays:
    """RGB bilinear, disparity / validity / label nearest-neighbour."""
    if (height, width) == arrays.size:
        return arrays
    rgb = np.asarray(Image.fromarray(arrays.rgb).resize((width, height), Image.Resampling.BILINEAR))
    return Arrays(
        rgb,
        None if arrays.disparity is None else _nearest(arrays.disparity, height, width),
        None if arrays.valid is None else _nearest(arrays.valid, height, width),
        None if arrays.label is None else _nearest(arrays.label, height, width),
    )


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """(height, width) multiplied by `scale`, at least 1 pixel each."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _flip(arrays: Arrays) -> Arrays:
    @overload
    def flip(a: np.ndarray) -> np.ndarray: ...
    @overload
    def flip(a: np.ndarray | None) -> np.ndarray | None: ...
    def flip(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.ascontiguousarray(a[:, ::-1])

    return Arrays(flip(arrays.rgb), flip(arrays.disparity), flip(arrays.valid), flip(arrays.label))


def _pad(arrays: Arrays, height: int, width: int, ignore_index: int) -> Arrays:
    h, w = arrays.size
    if h >= height and w >= width:
        return arrays
    extra = ((0, max(0, height - h)), (0, max(0, width - w)))

    @overload
    def pad(a: np.ndarray, value: float | int | bool) -> np.ndarray: ...
    @overload
    def pad(a: np.ndarray | None, value: float | int | bool) -> np.ndarray | None: ...
    def pad(a: np.ndarray | None, value: float | int | bool) -> np.ndarray | None:
        if a is None:
            return None
        return np.pad(a, extra + ((0, 0),) * (a.ndim - 2), constant_values=value)

    return Arrays(
        pad(arrays.rgb, 0), pad(arrays.disparity, 0.0), pad(arrays.valid, False), pad(arrays.label, ignore_index)
    )


def _crop(arrays: Arrays, top: int, left: int, size: int) -> Arrays:
    @overload
    def cut(a: np.ndarray) -> np.ndarray: ...
    @overload
    def cut(a: np.ndarray | None) -> np.ndarray | None: ...
    def cut(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.ascontiguousarray(a[top : top + size, left : left + size])

    return Arrays(cut(arrays.rgb), cut(arrays.disparity), cut(arrays.valid), cut(arrays.label))


@dataclass(frozen=True)
class Augmentation:
    """Flip, random scale of the short side in [scale_min, scale_max] * base_size, pad, square crop."""

    crop_size: int
    base_size: int
    scale_min: float = 0.5
    scale_max: float = 2.0
    flip: bool = True

    def __post_init__(self) -> None:
        if self.crop_size < 1 or self.base_size < 1:
            raise ValueError(f"crop_size and base_size must be >= 1, got {self.crop_size}, {self.base_size}")
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError(f"need 0 < scale_min <= scale_max, got {self.scale_min}, {self.scale_max}")

    def short_side_range(self) -> tuple[int, int]:
        low = max(1, int(self.scale_min * self.base_size))
        return low, max(low, int(self.scale_max * self.base_size))

    def __call__(self, arrays: Arrays, rng: np.random.Generator, ignore_index: int) -> Arrays:
        if self.flip and rng.random() < 0.5:
            arrays = _flip(arrays)
        low, high = self.short_side_range()
        short = int(rng.integers(low, high + 1))
        h, w = arrays.size
        factor = short / min(h, w)
        arrays = resize(arrays, *scaled_size((h, w), factor))
        arrays = _pad(arrays, self.crop_size, self.crop_size, ignore_index)
        h, w = arrays.size
        top = int(rng.integers(0, h - self.crop_size + 1))
        left = int(rng.integers(0, w - self.crop_size + 1))
        return _crop(arrays, top, left, self.crop_size)

    def without_flip(self) -> Augmentation:
        return replace(self, flip=False)


def network_input(arrays: Arrays, stats: DepthStats | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Normalised float32 arrays in channel-first layout: RGB 3 x H x W and disparity 1 x H x W (or None)."""
    rgb = (arrays.rgb.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    rgb = np.ascontiguousarray(rgb.transpose(2, 0, 1))
    if stats is None or arrays.disparity is None or arrays.valid is None:
        return rgb, None
    return rgb, stats.normalize(arrays.disparity, arrays.valid)[None]
