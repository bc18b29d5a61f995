"""A small synthetic Cityscapes-format data set on which a lifelong learner can forget.

Why: the real Cityscapes (11 GB, login-gated) cannot live in tests or CI, yet the benchmark needs
data with (a) the exact Cityscapes layout and encodings, so the same loaders serve both, and (b) several
visual domains that *conflict*, so that naive fine-tuning on a later domain measurably hurts earlier ones
(otherwise BWT/forgetting metrics are untestable).

What is drawn (numpy only, per image): sky on top; a band of buildings / vegetation (with walls and
fences) standing on the horizon; a perspective road trapezoid with sidewalks and terrain beside it; cars on
the road, persons on the sidewalks, poles carrying traffic signs / lights; an ego-vehicle hood (labelId 1)
and an unlabeled border (labelId 0), both mapping to trainId 255. 13 of the 19 train classes appear.

Geometry, for a camera at height H_c with stereo baseline B (flat ground, horizon row h)::

    ground row y > h:   Z = f H_c / (y - h)   =>   d = B f / Z = (B / H_c) (y - h) = K (y - h)
    K = 0.209 m / 1.22 m ~= 0.171   (Cityscapes-like rig; d is in pixels at any image size)

so road/sidewalk/terrain disparity grows linearly toward the bottom, an upright object has the constant
disparity of the ground row it stands on, far buildings get a small constant, sky and the ego vehicle are
invalid (p = 0). Disparity is stored as Cityscapes does: ``p = round(256 d) + 1``.

Domains: each city is one domain with its own palette (``DOMAIN_STYLES``). Palettes are chosen so that
classes swap looks between domains (night: dark grey sky like the day road, street-lit road like the day
sidewalk; fog: dark wet sidewalk like the day road, washed-out everything else), while inside one domain
colour + vertical position + disparity separate the classes. Per-image jitter (illumination gain, colour
offset, noise, object placement, horizon) comes from ``numpy.random.default_rng`` seeded by
(seed, crc32(city), split, index): same arguments, byte-identical files.

NOT the official split: every city appears in both ``train/`` and ``val/`` (different sequence numbers),
because a lifelong benchmark needs test data for every task. Official test-split cities are refused
(their public labels are dummies).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from controller import fsio
from controller.datasets.cityscapes import (
    ANNOTATED_FRAME,
    IGNORE_TRAIN_ID,
    LABELS_BY_NAME,
    TEST_SPLIT_CITIES,
    TRAIN_CITIES,
    TRAIN_CLASSES,
    VAL_CITIES,
    cityscapes_name,
    labelids_to_trainids,
)
from controller.datasets.images import encode_disparity, write_png
from controller.datasets.index import TEST_INDEX, TRAIN_INDEX, write_index
from controller.errors import DatasetError

log = logging.getLogger(__name__)

DISPARITY_PER_ROW = 0.209 / 1.22
"""K in d = K (y - h): stereo baseline over camera height (Cityscapes-like rig)."""

DEFAULT_CITIES: dict[str, str] = {"aachen": "day", "bremen": "night", "zurich": "fog"}
SPLIT_FOLDERS: dict[str, str] = {"train": "train", "test": "val"}
"""Synthetic split -> folder name; the test samples live in ``val/`` as in Cityscapes."""
MANIFEST_NAME = "synth.json"
_PNG_COMPRESS_LEVEL = 1
"""zlib level for synthetic PNGs: noisy pixels barely compress, and level 1 is ~4x faster than 6."""

# labelIds used by the drawing code
_ID = {
    name: LABELS_BY_NAME[name].id
    for name in (
        "unlabeled",
        "ego vehicle",
        "road",
        "sidewalk",
        "building",
        "wall",
        "fence",
        "pole",
        "traffic light",
        "traffic sign",
        "vegetation",
        "terrain",
        "sky",
        "person",
        "car",
    )
}

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class DomainStyle:
    """How one visual domain renders: per-class base colours and global effects."""

    palette: dict[str, RGB]
    noise: float = 4.0
    """std-dev of per-pixel Gaussian noise (grey levels)."""
    haze: RGB | None = None
    """fog colour blended in with weight ``haze_strength * exp(-d / haze_scale)`` (far -> hazier)."""
    haze_strength: float = 0.0
    haze_scale: float = 4.0
    window_shift: RGB = (-30, -30, -30)
    """added to building window pixels (day: dark glass; night: lit windows)."""
    window_fraction: float = 1.0
    """fraction of windows that get the shift."""
    sky_gradient: float = 0.12
    """relative brightness increase of the sky from top to horizon."""


_VOID = {"unlabeled": (0, 0, 0), "ego vehicle": (28, 28, 32)}

DOMAIN_STYLES: dict[str, DomainStyle] = {
    "day": DomainStyle(
        palette={
            "sky": (130, 180, 235),
            "building": (120, 112, 105),
            "wall": (160, 150, 130),
            "fence": (150, 115, 80),
            "vegetation": (65, 120, 45),
            "terrain": (150, 170, 85),
            "road": (80, 80, 88),
            "sidewalk": (185, 180, 170),
            "pole": (50, 50, 55),
            "traffic light": (235, 150, 35),
            "traffic sign": (225, 210, 40),
            "person": (185, 45, 65),
            "car": (40, 60, 165),
            **_VOID,
        },
        noise=4.0,
    ),
    "night": DomainStyle(
        palette={
            "sky": (80, 80, 90),
            "building": (40, 38, 60),
            "wall": (62, 56, 78),
            "fence": (80, 62, 45),
            "vegetation": (20, 50, 30),
            "terrain": (52, 64, 36),
            "road": (185, 175, 160),
            "sidewalk": (120, 112, 105),
            "pole": (150, 150, 162),
            "traffic light": (255, 210, 90),
            "traffic sign": (205, 210, 230),
            "person": (115, 40, 52),
            "car": (30, 35, 95),
            **_VOID,
        },
        noise=5.0,
        window_shift=(110, 95, 25),
        window_fraction=0.35,
        sky_gradient=0.25,
    ),
    "fog": DomainStyle(
        palette={
            "sky": (205, 208, 212),
            "building": (128, 132, 148),
            "wall": (192, 172, 145),
            "fence": (160, 128, 98),
            "vegetation": (88, 128, 98),
            "terrain": (168, 178, 130),
            "road": (125, 118, 110),
            "sidewalk": (80, 80, 88),
            "pole": (55, 55, 60),
            "traffic light": (215, 175, 120),
            "traffic sign": (200, 195, 130),
            "person": (160, 105, 110),
            "car": (100, 110, 150),
            **_VOID,
        },
        noise=3.0,
        haze=(210, 212, 215),
        haze_strength=0.4,
        window_shift=(-12, -12, -12),
        sky_gradient=0.04,
    ),
}


@dataclass(frozen=True)
class SynthManifest:
    """What :func:`synthesize` wrote (also stored as ``synth.json`` at the root, minus ``root``)."""

    root: Path
    train_index: Path
    test_index: Path
    manifest: Path
    seed: int
    size: tuple[int, int]
    cities: dict[str, str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    class_histogram: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON-able content of ``synth.json`` (relative paths only, so it is location-independent)."""
        return {
            "format": "ianvs-lab-synthetic-cityscapes",
            "version": 1,
            "note": (
                "Synthetic data in Cityscapes format. NOT the official Cityscapes split: every city appears in "
                "train/ and val/ (distinct sequence numbers) because lifelong tasks need test data of every task; "
                "official test-split cities are never used. One city = one visual domain."
            ),
            "seed": self.seed,
            "size": list(self.size),
            "cities": dict(self.cities),
            "counts": self.counts,
            "class_histogram": self.class_histogram,
            "index_files": {"train": TRAIN_INDEX, "test": TEST_INDEX},
            "disparity_encoding": "p = round(256 * d) + 1 for valid pixels, p = 0 invalid",
        }


# --- scene drawing -------------------------------------------------------------------------------


class _Canvas:
    """labelIds, disparity, validity and shading maps painted object by object (later paints occlude)."""

    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.yy, self.xx = np.mgrid[0:height, 0:width]
        self.label = np.full((height, width), _ID["sky"], dtype=np.uint8)
        self.disp = np.zeros((height, width), dtype=np.float32)
        self.valid = np.zeros((height, width), dtype=bool)
        self.shade = np.ones((height, width), dtype=np.float32)
        self.window = np.zeros((height, width), dtype=bool)

    def paint(self, mask: np.ndarray, name: str, disp: float | np.ndarray | None, shade: float = 1.0) -> None:
        self.label[mask] = _ID[name]
        if disp is None:
            self.valid[mask] = False
            self.disp[mask] = 0.0
        else:
            self.valid[mask] = True
            self.disp[mask] = disp[mask] if isinstance(disp, np.ndarray) else disp
        self.shade[mask] = shade
        self.window[mask] = False

    def box(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Mask of the pixel box [x0, x1) x [y0, y1), rounded, clipped to the image."""
        mask: np.ndarray = (  # xx and yy come from np.mgrid, which numpy's stubs type as Any
            (self.xx >= round(x0))
            & (self.xx < max(round(x1), round(x0) + 1))
            & (self.yy >= round(y0))
            & (self.yy < max(round(y1), round(y0) + 1))
        )
        return mask


@dataclass
class _Road:
    horizon: int
    vx: float
    half_bottom: float
    walk_bottom: float

    def edges(self, y: np.ndarray | float, height: int) -> tuple[Any, Any, Any, Any]:
        """(outer-left sidewalk, road left, road right, outer-right sidewalk) x at row y."""
        t = np.clip((np.asarray(y, dtype=np.float32) - self.horizon) / (height - self.horizon), 0, None)
        half = 1.0 + t * self.half_bottom
        walk = t * self.walk_bottom
        return self.vx - half - walk, self.vx - half, self.vx + half, self.vx + half + walk


def _draw_background(c: _Canvas, rng: np.random.Generator, horizon: int) -> None:
    """Far band of buildings / vegetation with walls and fences, all standing on the horizon."""
    x = 0
    while x < c.w:
        width = int(rng.integers(max(4, c.w // 14), max(6, c.w // 5)))
        kind = "building" if rng.random() < 0.7 else "vegetation"
        top = horizon - rng.uniform(0.12, 0.32) * c.h
        disp = DISPARITY_PER_ROW * rng.uniform(1.0, 3.0)
        mask = c.box(x, x + width, top, horizon)
        if kind == "vegetation":  # bumpy crown
            bumps = top + 0.04 * c.h * np.sin(c.xx / rng.uniform(2.0, 5.0) + rng.uniform(0, 6.3))
            mask &= c.yy >= bumps
        c.paint(mask, kind, disp, shade=float(rng.uniform(0.88, 1.12)))
        if kind == "building":  # window grid; the domain style decides how windows look
            step_x, step_y = int(rng.integers(5, 9)), int(rng.integers(5, 9))
            ox, oy = int(rng.integers(0, step_x)), int(rng.integers(0, step_y))
            pattern = (((c.xx + ox) % step_x) < step_x // 2) & (((c.yy + oy) % step_y) < step_y // 2)
            c.window |= mask & pattern
        x += width
    for name in ("wall", "fence"):
        if rng.random() < 0.65:
            x0 = rng.uniform(0, c.w * 0.8)
            tall = rng.uniform(0.04, 0.09) * c.h
            c.paint(
                c.box(x0, x0 + rng.uniform(0.1, 0.3) * c.w, horizon - tall, horizon),
                name,
                DISPARITY_PER_ROW * rng.uniform(3.0, 5.0),
            )


def _draw_ground(c: _Canvas, road: _Road) -> None:
    """Terrain everywhere below the horizon, then sidewalks and the road trapezoid; d = K (y - h)."""
    ground_disp = (DISPARITY_PER_ROW * np.clip(c.yy - road.horizon, 0, None)).astype(np.float32)
    below = c.yy >= road.horizon
    c.paint(below, "terrain", ground_disp)
    outer_l, left, right, outer_r = road.edges(c.yy, c.h)
    c.paint(below & (c.xx >= outer_l) & (c.xx < outer_r), "sidewalk", ground_disp)
    c.paint(below & (c.xx >= left) & (c.xx < right), "road", ground_disp)


def _objects(c: _Canvas, rng: np.random.Generator, road: _Road) -> list[tuple[float, str, tuple[Any, ...]]]:
    """Random cars, persons and poles as (foot row, kind, parameters); drawn far to near."""
    h, span = road.horizon, c.h - road.horizon
    items: list[tuple[float, str, tuple[Any, ...]]] = []
    for _ in range(int(rng.integers(1, 4))):
        items.append((h + rng.uniform(0.3, 0.9) * span, "car", (rng.uniform(0.1, 0.9), rng.uniform(0.5, 0.65))))
    for _ in range(int(rng.integers(1, 4))):
        items.append((h + rng.uniform(0.2, 0.95) * span, "person", (int(rng.integers(0, 2)), rng.uniform(0.2, 0.8))))
    for _ in range(int(rng.integers(1, 3))):
        items.append((h + rng.uniform(0.15, 0.6) * span, "pole", (int(rng.integers(0, 2)), rng.random() < 0.6)))
    return sorted(items, key=lambda item: item[0])


def _draw_object(c: _Canvas, road: _Road, foot: float, kind: str, params: tuple[Any, ...]) -> None:
    t = (foot - road.horizon) / (c.h - road.horizon)
    disp = DISPARITY_PER_ROW * (foot - road.horizon)
    outer_l, left, right, outer_r = (float(v) for v in road.edges(foot, c.h))
    if kind == "car":
        where, aspect = params
        width = max(3.0, t * c.w * 0.3)
        lo, hi = left + width / 2, right - width / 2
        cx = lo + where * (hi - lo) if hi > lo else road.vx
        top = foot - width * aspect
        c.paint(c.box(cx - width / 2, cx + width / 2, top, foot), "car", disp)
        glass = c.box(cx - width * 0.35, cx + width * 0.35, top, top + width * aspect * 0.35)
        c.shade[glass & (c.label == _ID["car"])] = 0.65
    elif kind == "person":
        side, where = params
        height = max(4.0, t * c.h * 0.36)
        width = max(2.0, height * 0.3)
        cx = (outer_l + where * (left - outer_l)) if side == 0 else (right + where * (outer_r - right))
        c.paint(c.box(cx - width / 2, cx + width / 2, foot - height, foot), "person", disp)
    else:  # pole with a traffic sign or a traffic light on top
        side, has_sign = params
        cx = outer_l if side == 0 else outer_r - 1
        width = max(1.0, t * c.w * 0.015)
        top = foot - max(8.0, t * c.h * 1.1)
        c.paint(c.box(cx - width / 2, cx + width / 2, top, foot), "pole", disp)
        head = max(3.0, width * 4)
        if has_sign:
            c.paint(c.box(cx - head / 2, cx + head / 2, top, top + head), "traffic sign", disp)
        else:
            c.paint(c.box(cx - head / 4, cx + head / 4, top, top + head * 1.2), "traffic light", disp)


def _draw_void(c: _Canvas, rng: np.random.Generator) -> None:
    """Ego-vehicle hood at the bottom (labelId 1) and an unlabeled left/right border (labelId 0); both invalid."""
    half = c.w * rng.uniform(0.38, 0.46)
    rise = c.h * rng.uniform(0.05, 0.08)
    u = np.clip(1.0 - ((c.xx - c.w / 2) / half) ** 2, 0, None)
    c.paint((np.abs(c.xx - c.w / 2) < half) & (c.yy >= c.h - 1 - rise * np.sqrt(u)), "ego vehicle", None)
    border = max(1, c.w // 128)
    c.paint((c.xx < border) | (c.xx >= c.w - border), "unlabeled", None)


@dataclass(frozen=True)
class Scene:
    """One drawn scene, before colouring."""

    label_ids: np.ndarray
    """uint8 HxW Cityscapes labelIds."""
    disparity: np.ndarray
    """float32 HxW disparity as a stereo matcher would measure it: noise N(0, 0.05), 0 where invalid."""
    valid: np.ndarray
    """bool HxW: False on sky, ego vehicle, unlabeled border and ~0.5 % random stereo holes."""
    true_disparity: np.ndarray
    """float32 HxW noise-free geometric disparity (0 on sky and void), used for the fog blend."""
    shade: np.ndarray
    """float32 HxW per-object brightness factor (building blocks, car glass)."""
    window: np.ndarray
    """bool HxW building window pixels (coloured by the domain style)."""


def draw_scene(rng: np.random.Generator, width: int, height: int) -> Scene:
    """Draw one scene's labels and geometry (see the module docstring for the layout and d = K (y - h))."""
    c = _Canvas(width, height)
    horizon = round(height * rng.uniform(0.40, 0.46))
    road = _Road(horizon, width * rng.uniform(0.4, 0.6), width * rng.uniform(0.38, 0.5), width * rng.uniform(0.12, 0.2))
    _draw_background(c, rng, horizon)
    _draw_ground(c, road)
    for foot, kind, params in _objects(c, rng, road):
        _draw_object(c, road, foot, kind, params)
    _draw_void(c, rng)
    true_disp = np.where(c.valid, c.disp, 0.0).astype(np.float32)
    holes = rng.random((height, width)) < 0.005  # stereo matching failures
    valid = c.valid & ~holes
    noise = rng.normal(0.0, 0.05, (height, width)).astype(np.float32)
    disp = np.where(valid, np.clip(c.disp + noise, 0.0, None), 0.0).astype(np.float32)
    window = c.window & (c.label == _ID["building"])
    return Scene(c.label, disp, valid, true_disp, c.shade, window)


def render(rng: np.random.Generator, style: DomainStyle, scene: Scene) -> np.ndarray:
    """Colour a drawn scene in a domain's style; returns uint8 HxWx3.

    colour = palette[label] * shade (+ window shift on windows), times a vertical sky gradient; fog blend
    ``c' = (1 - a) c + a haze`` with ``a = s exp(-d / scale)`` on the true disparity d (d = 0, so
    a = s, on sky and void); then per-image gain g ~ U(0.9, 1.1), per-channel offset ~ N(0, 4) and per-pixel noise
    ~ N(0, style.noise).
    """
    label = scene.label_ids
    height, width = label.shape
    lut = np.zeros((256, 3), dtype=np.float32)
    for name, colour in style.palette.items():
        lut[_ID[name]] = colour
    img: np.ndarray = lut[label] * scene.shade[..., None]  # numpy's stubs type indexing by an array as Any
    window_on = scene.window.copy()
    if style.window_fraction < 1.0:
        # light whole windows, not single pixels: one draw per 4x4 cell
        cells = rng.random(((height + 3) // 4, (width + 3) // 4)) < style.window_fraction
        window_on &= np.kron(cells, np.ones((4, 4), dtype=bool))[:height, :width]
    img[window_on] += np.asarray(style.window_shift, dtype=np.float32)
    rows = np.arange(height, dtype=np.float32)[:, None]
    sky_factor = 1.0 - style.sky_gradient / 2 + style.sky_gradient * rows / height  # brighter toward the horizon
    img *= np.where(label == _ID["sky"], sky_factor, 1.0)[..., None]
    disp = scene.true_disparity
    if style.haze is not None and style.haze_strength > 0:
        a = (style.haze_strength * np.exp(-disp / style.haze_scale)).astype(np.float32)[..., None]
        img = (1.0 - a) * img + a * np.asarray(style.haze, dtype=np.float32)
    gain = rng.uniform(0.9, 1.1)
    offset = rng.normal(0.0, 4.0, 3).astype(np.float32)
    img = img * gain + offset + rng.normal(0.0, style.noise, img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --- data set assembly ---------------------------------------------------------------------------


def _sample_rng(seed: int, city: str, split: str, index: int) -> np.random.Generator:
    """Generator for one image, independent of generation order and of the other cities."""
    return np.random.default_rng(
        np.random.SeedSequence([seed, zlib.crc32(city.encode()), zlib.crc32(split.encode()), index])
    )


def _validate(
    cities: dict[str, str], size: tuple[int, int], train_per_city: int, test_per_city: int, seed: int
) -> None:
    if not cities:
        raise ValueError("cities must name at least one city")
    allowed = set(TRAIN_CITIES) | set(VAL_CITIES)
    for city, domain in cities.items():
        if city in TEST_SPLIT_CITIES:
            raise ValueError(
                f"city {city!r} belongs to the official Cityscapes test split (dummy labels); "
                f"use one of {sorted(allowed)}"
            )
        if city not in allowed:
            raise ValueError(f"city {city!r} is not a Cityscapes train/val city; use one of {sorted(allowed)}")
        if domain not in DOMAIN_STYLES:
            raise ValueError(f"city {city!r}: unknown domain {domain!r}; expected one of {sorted(DOMAIN_STYLES)}")
    width, height = size
    if width < 64 or height < 32:
        raise ValueError(f"size must be (width, height) with width >= 64 and height >= 32, got {size}")
    if train_per_city < 1 or test_per_city < 1 or train_per_city + test_per_city > 999_999:
        raise ValueError(f"train_per_city and test_per_city must be >= 1, got {train_per_city}, {test_per_city}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


def _prepare_root(root: Path, overwrite: bool) -> None:
    if root.exists():
        if not root.is_dir():
            raise DatasetError("synthetic data set root exists and is not a folder", file=root)
        if any(root.iterdir()) and not overwrite:
            raise DatasetError(
                "refusing to write into a non-empty folder (pass overwrite=True to replace it)", file=root
            )
    root.parent.mkdir(parents=True, exist_ok=True)


def _write_sample(
    build: Path,
    folder: str,
    city: str,
    seq: int,
    style: DomainStyle,
    rng: np.random.Generator,
    size: tuple[int, int],
    histogram: np.ndarray,
) -> list[Path]:
    """Draw, render and write one sample's four files; returns [rgb, disparity, labelTrainIds]."""
    width, height = size
    scene = draw_scene(rng, width, height)
    rgb = render(rng, style, scene)
    label_ids = scene.label_ids
    train_ids = labelids_to_trainids(label_ids)
    histogram += np.bincount(train_ids.ravel(), minlength=256)

    def name(kind: str) -> str:
        return cityscapes_name(city, seq, ANNOTATED_FRAME, kind)

    rgb_path = build / "leftImg8bit" / folder / city / name("leftImg8bit")
    gt_dir = build / "gtFine" / folder / city
    disp_path = build / "disparity" / folder / city / name("disparity")
    train_path = gt_dir / name("gtFine_labelTrainIds")
    level = _PNG_COMPRESS_LEVEL
    write_png(rgb_path, rgb, compress_level=level)
    write_png(gt_dir / name("gtFine_labelIds"), label_ids, compress_level=level)
    write_png(train_path, train_ids, compress_level=level)
    write_png(disp_path, encode_disparity(scene.disparity, scene.valid), compress_level=level)
    return [rgb_path, disp_path, train_path]


def _histogram_dict(histogram: np.ndarray) -> dict[str, int]:
    out = {name: int(histogram[train_id]) for train_id, name in enumerate(TRAIN_CLASSES)}
    out["ignore"] = int(histogram[IGNORE_TRAIN_ID])
    return out


def synthesize(
    root: str | Path,
    *,
    train_per_city: int = 16,
    test_per_city: int = 6,
    size: tuple[int, int] = (256, 128),
    seed: int = 0,
    cities: dict[str, str] | None = None,
    overwrite: bool = False,
) -> SynthManifest:
    """Write a synthetic Cityscapes-format data set under ``root`` and return its manifest.

    ``size`` is (width, height); ``cities`` maps a Cityscapes train/val city name to a domain in
    ``DOMAIN_STYLES`` (default :data:`DEFAULT_CITIES`); index lines are ordered city by city (= task by
    task), in the mapping's order. Built in a temporary sibling folder and renamed into place, so an
    interrupted run never leaves a partial data set. Refuses a non-empty ``root`` unless ``overwrite``.
    """
    root = Path(root).absolute()
    cities = dict(DEFAULT_CITIES if cities is None else cities)
    size = (int(size[0]), int(size[1]))
    _validate(cities, size, train_per_city, test_per_city, seed)
    _prepare_root(root, overwrite)
    with fsio.staged_folder(root) as stage:
        build = stage.path
        counts: dict[str, dict[str, int]] = {}
        histograms: dict[str, dict[str, int]] = {}
        rows: dict[str, list[list[Path]]] = {}
        for split, folder in SPLIT_FOLDERS.items():
            histogram = np.zeros(256, dtype=np.int64)
            rows[split], counts[folder] = [], {}
            first, n = (0, train_per_city) if split == "train" else (train_per_city, test_per_city)
            for city, domain in cities.items():
                for seq in range(first, first + n):
                    rng = _sample_rng(seed, city, split, seq)
                    rows[split].append(
                        _write_sample(build, folder, city, seq, DOMAIN_STYLES[domain], rng, size, histogram)
                    )
                counts[folder][city] = n
            histograms[folder] = _histogram_dict(histogram)
        write_index(build / TRAIN_INDEX, rows["train"])
        write_index(build / TEST_INDEX, rows["test"])
        manifest = SynthManifest(
            root=root,
            train_index=root / TRAIN_INDEX,
            test_index=root / TEST_INDEX,
            manifest=root / MANIFEST_NAME,
            seed=seed,
            size=size,
            cities=cities,
            counts=counts,
            class_histogram=histograms,
        )
        fsio.write_json(build / MANIFEST_NAME, manifest.to_json())
        stage.commit()
    log.info("synthesized %d train / %d test samples in %s", len(rows["train"]), len(rows["test"]), root)
    return manifest
