"""RFNet inputs and training arithmetic: disparity normalisation, augmentation, weights, schedule."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from controller.algorithms.rfnet.data import (
    Arrays,
    Augmentation,
    DepthStats,
    depth_statistics,
    network_input,
    require_depth,
    resize,
)
from controller.algorithms.rfnet.training import (
    batch_plan,
    class_weights,
    cosine_factor,
    make_optimizer,
    select_runtime,
)
from controller.datasets.images import decode_disparity, write_png
from controller.datasets.index import Sample
from controller.errors import DatasetError


def _sample(tmp: Path, name: str, disparity_png: np.ndarray | None = None, label: np.ndarray | None = None) -> Sample:
    height, width = (label if label is not None else disparity_png).shape  # type: ignore[union-attr]
    rgb = write_png(tmp / f"{name}_rgb.png", np.zeros((height, width, 3), np.uint8))
    inputs = [rgb]
    if disparity_png is not None:
        inputs.append(write_png(tmp / f"{name}_disp.png", disparity_png.astype(np.uint16)))
    lab = write_png(
        tmp / f"{name}_label.png", (label if label is not None else np.zeros((height, width))).astype(np.uint8)
    )
    return Sample(tuple(inputs), lab, tmp / "index.txt", 1)


# p -> d = (p - 1) / 256 for p > 0, p = 0 invalid:  [0, 1, 257, 513] -> [invalid, 0, 1, 2]
RAW = np.array([[0, 1, 257, 513]], np.uint16)


def test_disparity_statistics_use_valid_pixels_only(tmp_path: Path) -> None:
    stats = depth_statistics([_sample(tmp_path, "a", RAW)])
    # valid d = {0, 1, 2}: mean 1, variance (1 + 0 + 1) / 3
    assert (stats.mean, stats.pixels) == (1.0, 3)
    assert stats.std == pytest.approx(math.sqrt(2 / 3))


def test_disparity_normalisation_sets_invalid_pixels_to_the_mean(tmp_path: Path) -> None:
    disparity, valid = decode_disparity(RAW)
    normalised = DepthStats(1.0, 0.5, 3).normalize(disparity, valid)
    assert normalised.tolist() == [[0.0, -2.0, 0.0, 2.0]]


def test_statistics_accumulate_over_images(tmp_path: Path) -> None:
    first = _sample(tmp_path, "a", np.array([[257, 257]], np.uint16))  # d = 1, 1
    second = _sample(tmp_path, "b", np.array([[0, 769]], np.uint16))  # invalid, d = 3
    stats = depth_statistics([first, second])
    assert (stats.mean, stats.pixels) == (pytest.approx(5 / 3), 3)  # (1 + 1 + 3) / 3


def test_an_index_without_depth_column_is_refused_naming_the_line(tmp_path: Path) -> None:
    sample = _sample(tmp_path, "a", label=np.zeros((2, 2)))
    with pytest.raises(DatasetError, match=r"index.txt:1: .*no depth column"):
        require_depth([sample])


def test_network_input_is_imagenet_normalised_channels_first() -> None:
    rgb = np.full((2, 3, 3), 255, np.uint8)
    out, depth = network_input(Arrays(rgb), None)
    assert out.shape == (3, 2, 3) and depth is None
    expected = (1.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    assert out[:, 0, 0] == pytest.approx(expected, rel=1e-6)


def _arrays(height: int, width: int) -> Arrays:
    rgb = np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)
    disparity = np.arange(height * width, dtype=np.float32).reshape(height, width)
    label = (np.arange(height * width) % 7).astype(np.uint8).reshape(height, width)
    return Arrays(rgb, disparity, disparity > 2, label)


def test_nearest_resize_keeps_label_values_exact() -> None:
    label = np.array([[1, 2], [3, 4]], np.uint8)
    out = resize(Arrays(np.zeros((2, 2, 3), np.uint8), label=label), 4, 4).label
    assert out.tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_augmentation_returns_a_square_crop_of_every_array(seed: int) -> None:
    out = Augmentation(crop_size=8, base_size=6)(_arrays(6, 12), np.random.default_rng(seed), 255)
    assert out.rgb.shape == (8, 8, 3)
    assert out.disparity.shape == out.valid.shape == out.label.shape == (8, 8)


def test_padding_uses_ignore_label_black_image_and_invalid_depth() -> None:
    # short side 4 -> scale exactly 1 (range [1*4, 1*4]); crop 6 > 4x8 forces bottom padding of 2 rows
    augmentation = Augmentation(crop_size=6, base_size=4, scale_min=1.0, scale_max=1.0, flip=False)
    out = augmentation(_arrays(4, 8), np.random.default_rng(0), 255)
    assert (out.label[4:] == 255).all() and (out.rgb[4:] == 0).all() and not out.valid[4:].any()
    assert (out.label[:4] != 255).all()


def test_random_scale_sets_the_short_side_within_the_range() -> None:
    augmentation = Augmentation(crop_size=1, base_size=10, scale_min=0.5, scale_max=2.0, flip=False)
    assert augmentation.short_side_range() == (5, 20)


def test_augmentation_is_a_function_of_the_generator_seed() -> None:
    augmentation = Augmentation(crop_size=5, base_size=6)
    first = augmentation(_arrays(6, 12), np.random.default_rng(7), 255)
    second = augmentation(_arrays(6, 12), np.random.default_rng(7), 255)
    assert np.array_equal(first.rgb, second.rgb) and np.array_equal(first.label, second.label)


def test_class_weights_follow_enet_formula(tmp_path: Path) -> None:
    # 3 pixels of class 0, 1 of class 1, 2 ignored: f = [3/4, 1/4, 0]
    label = np.array([[0, 0, 0, 1, 255, 255]], np.uint8)
    weights = class_weights([_sample(tmp_path, "a", label=label)], 3, 255)
    expected = [1 / math.log(1.02 + 0.75), 1 / math.log(1.02 + 0.25), 1 / math.log(1.02)]
    assert weights.tolist() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("step", "total", "factor"), [(0, 10, 1.0), (5, 10, 0.5), (10, 10, 0.0), (2, 8, 0.5 + 0.5 * math.cos(math.pi / 4))]
)
def test_cosine_schedule(step: int, total: int, factor: float) -> None:
    assert cosine_factor(step, total) == pytest.approx(factor)


def test_batch_plan_visits_every_sample_once_per_epoch_and_is_seeded() -> None:
    plan = batch_plan(count=5, batch_size=2, iterations=5, seed=3, round_=1)
    indices = [index for batch in plan for index, _ in batch]
    assert [len(b) for b in plan] == [2] * 5
    assert sorted(indices[:5]) == list(range(5)) and sorted(indices[5:10]) == list(range(5))
    assert [position for batch in plan for _, position in batch] == list(range(10))
    assert plan == batch_plan(count=5, batch_size=2, iterations=5, seed=3, round_=1)
    assert plan != batch_plan(count=5, batch_size=2, iterations=5, seed=3, round_=2)


def test_optimizer_has_an_encoder_and_a_faster_decoder_group() -> None:
    from controller.algorithms.rfnet.model import RFNet

    net = RFNet(3)
    optimizer = make_optimizer(net, learning_rate=1e-4, decoder_lr_factor=4.0, weight_decay=2.5e-5)
    encoder, decoder = optimizer.param_groups
    assert (encoder["lr"], encoder["weight_decay"]) == (1e-4, 2.5e-5)
    assert (decoder["lr"], decoder["weight_decay"]) == (pytest.approx(4e-4), pytest.approx(1e-4))
    grouped = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in net.parameters())  # every parameter exactly once
    assert {id(p) for p in net.depth.parameters()} <= {id(p) for p in encoder["params"]}
    assert {id(p) for p in net.head.parameters()} <= {id(p) for p in decoder["params"]}


@pytest.mark.parametrize(
    ("amp", "channels_last", "described"),
    [
        ("auto", "auto", "cpu fp32 channels_last"),
        ("bf16", True, "cpu bf16 channels_last"),
        ("off", False, "cpu fp32 contiguous"),
    ],
)
def test_cpu_runtime_uses_fp32_unless_asked(amp: str, channels_last: str | bool, described: str) -> None:
    assert select_runtime("cpu", amp, channels_last).describe() == described


def test_fp16_is_refused_on_the_cpu() -> None:
    with pytest.raises(ValueError, match="fp16"):
        select_runtime("cpu", "fp16")
