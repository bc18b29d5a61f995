"""Per-pixel features for the light-weight segmentation baselines (numpy only)."""

from __future__ import annotations

import numpy as np

from controller.datasets.images import read_disparity, read_rgb
from controller.datasets.index import Sample

FEATURES = ("r", "g", "b", "r2", "g2", "b2", "ctx_r", "ctx_g", "ctx_b", "disparity", "disparity_valid", "y", "y2")


def pixel_features(sample: Sample, *, use_depth: bool = True) -> np.ndarray:
    """H x W x F float32: colour, squared colour, blurred colour context, disparity, row position."""
    rgb = read_rgb(sample.rgb).astype(np.float32) / 255.0
    height, width, _ = rgb.shape
    context = _box_blur(rgb, max(1, height // 16))
    if use_depth and sample.depth is not None:
        disparity = read_disparity(sample.depth)
        if isinstance(disparity, tuple):
            disparity = disparity[0]
        valid = (disparity > 0).astype(np.float32)
        disparity = np.log1p(np.maximum(disparity, 0)).astype(np.float32)
    else:
        disparity = np.zeros((height, width), np.float32)
        valid = np.zeros((height, width), np.float32)
    rows = np.broadcast_to(np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None], (height, width))
    return np.concatenate(
        [rgb, rgb * rgb, context, disparity[..., None], valid[..., None], rows[..., None], (rows * rows)[..., None]],
        axis=2,
    )


def _box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window via integral images; edges use the pixels that exist."""
    padded = np.pad(image, ((radius + 1, radius), (radius + 1, radius), (0, 0)), mode="edge")
    integral = padded.cumsum(0).cumsum(1)
    size = 2 * radius + 1
    total: np.ndarray = (  # numpy's stubs type this arithmetic on dtype[Any] arrays as Any
        integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    )
    return (total / (size * size)).astype(np.float32)
