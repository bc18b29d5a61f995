"""The edge runtimes of a trained RFNet: same answers as the eager network, built once, chosen by name.

Tolerances (fp32 engines): max |logit - eager logit| <= 1e-3 and identical argmax on >= 99.9 % of pixels.
Reduced precision is held to bounds on agreement here; its accuracy cost is measured by
benchmarks/rfnet_bench.py (docs/rfnet.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from controller.algorithms.rfnet import inference  # noqa: E402
from controller.algorithms.rfnet.model import RFNet, adaptive_avg_pool_by_matmul  # noqa: E402
from controller.algorithms.rfnet.segmenter import RFNetSegmenter  # noqa: E402
from controller.algorithms.rfnet.training import select_runtime  # noqa: E402
from controller.datasets.index import read_index  # noqa: E402
from controller.plugins.context import Context  # noqa: E402
from tests.rfnet.conftest import TINY_TRAINING  # noqa: E402

FP32_MAX_ABS = 1e-3
FP32_ARGMAX_AGREEMENT = 0.999
# odd sizes on purpose: the SPP grid (8x16 cells) is larger than the 3x5 feature map
HEIGHT, WIDTH = 66, 130


@pytest.fixture(scope="module")
def network() -> RFNet:
    """An RFNet whose batch norms hold non-trivial statistics (folding identity BNs would prove nothing)."""
    torch.manual_seed(0)
    net = RFNet(19).eval()
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    return net


@pytest.fixture(scope="module")
def inputs() -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, HEIGHT, WIDTH, generator=generator), torch.randn(2, 1, HEIGHT, WIDTH, generator=generator)


@pytest.fixture(scope="module")
def eager_logits(network: RFNet, inputs: tuple[Any, Any]) -> Any:
    with torch.no_grad():
        return network(*inputs)


def _random_calibration(size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray | None]]:
    generator = torch.Generator().manual_seed(2)
    return [
        (torch.randn(1, 3, *size, generator=generator).numpy(), torch.randn(1, 1, *size, generator=generator).numpy())
        for _ in range(2)
    ]


def _agreement(a: Any, b: Any) -> float:
    return float((a.argmax(1) == b.argmax(1)).float().mean())


def test_matrix_pooling_equals_adaptive_average_pooling() -> None:
    x = torch.randn(2, 5, 3, 7)
    for cells in [(8, 16), (2, 4), (3, 7), (1, 1), (2, 3)]:
        expected = torch.nn.functional.adaptive_avg_pool2d(x, cells)
        assert torch.allclose(adaptive_avg_pool_by_matmul(x, cells), expected, atol=1e-6), cells


def test_folding_removes_every_trunk_batch_norm_and_keeps_the_logits(
    network: RFNet, inputs: tuple[Any, Any], eager_logits: Any
) -> None:
    folded = inference.fold_batch_norm(network)
    trunk_norms = [
        m for trunk in (folded.rgb, folded.depth) for m in trunk.modules() if isinstance(m, torch.nn.BatchNorm2d)
    ]
    assert trunk_norms == []
    with torch.no_grad():
        logits = folded(*inputs)
    assert float((logits - eager_logits).abs().max()) <= FP32_MAX_ABS
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in network.rgb.modules())  # the original is untouched


@pytest.mark.parametrize("name", ["frozen", "onnx"])
def test_fp32_engine_equals_the_eager_network(
    name: str, network: RFNet, inputs: tuple[Any, Any], eager_logits: Any
) -> None:
    engine = inference.build(name, network, select_runtime("cpu", "off", False))
    logits = engine(*inputs)
    assert logits.dtype == torch.float32 and tuple(logits.shape) == (2, 19, HEIGHT, WIDTH)
    assert float((logits - eager_logits).abs().max()) <= FP32_MAX_ABS
    assert _agreement(logits, eager_logits) >= FP32_ARGMAX_AGREEMENT


@pytest.mark.slow
def test_compiled_engine_equals_the_eager_network(network: RFNet, inputs: tuple[Any, Any], eager_logits: Any) -> None:
    engine = inference.build("compiled", network, select_runtime("cpu", "off", True))
    logits = engine(*inputs)
    assert float((logits - eager_logits).abs().max()) <= FP32_MAX_ABS
    assert _agreement(logits, eager_logits) >= FP32_ARGMAX_AGREEMENT


def test_onnx_engine_serves_any_batch_size_from_one_session(
    network: RFNet, inputs: tuple[Any, Any], eager_logits: Any
) -> None:
    engine = inference.build("onnx", network, select_runtime("cpu", "off", False))
    single = engine(inputs[0][:1], inputs[1][:1])
    both = engine(*inputs)
    assert len(engine.sessions) == 1  # type: ignore[attr-defined]
    assert float((single - eager_logits[:1]).abs().max()) <= FP32_MAX_ABS
    assert float((both - eager_logits).abs().max()) <= FP32_MAX_ABS


def test_rgb_only_network_runs_on_onnx() -> None:
    torch.manual_seed(0)
    net = RFNet(5, with_depth=False).eval()
    rgb = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = net(rgb, None)
    logits = inference.build("onnx", net, select_runtime("cpu", "off", False))(rgb, None)
    assert float((logits - expected).abs().max()) <= FP32_MAX_ABS


def test_bf16_engine_stays_close_to_fp32(network: RFNet, inputs: tuple[Any, Any], eager_logits: Any) -> None:
    logits = inference.build("bf16", network, select_runtime("cpu", "off", False))(*inputs)
    assert logits.dtype == torch.float32
    assert _agreement(logits, eager_logits) >= 0.99


def test_int8_engine_is_calibrated_and_stays_close_to_fp32(
    network: RFNet, inputs: tuple[Any, Any], eager_logits: Any
) -> None:
    sizes: list[tuple[int, int]] = []

    def calibration(size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        sizes.append(size)
        return _random_calibration(size)

    logits = inference.build("int8", network, select_runtime("cpu", "off", False), calibration)(*inputs)
    assert sizes == [(HEIGHT, WIDTH)]
    assert bool(torch.isfinite(logits).all())
    assert _agreement(logits, eager_logits) >= 0.9


def test_int8_without_calibration_images_is_refused(network: RFNet) -> None:
    with pytest.raises(ValueError, match="int8.*calibration"):
        inference.build("int8", network, select_runtime("cpu", "off", False), None)


def test_auto_is_bf16_on_a_cpu_with_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference, "native_bf16", lambda: True)
    assert inference.resolve("auto", torch.device("cpu")) == "bf16"


def test_auto_is_onnx_on_a_cpu_without_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference, "native_bf16", lambda: False)
    assert inference.resolve("auto", torch.device("cpu")) == "onnx"


def test_auto_falls_back_to_the_frozen_graph_without_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference, "native_bf16", lambda: False)
    monkeypatch.setattr(inference, "onnxruntime_available", lambda: False)
    assert inference.resolve("auto", torch.device("cpu")) == "frozen"
    with pytest.raises(ValueError, match="needs onnxruntime"):
        inference.resolve("onnx", torch.device("cpu"))


def test_auto_is_eager_on_a_gpu_and_cpu_engines_are_refused_there() -> None:
    assert inference.resolve("auto", torch.device("cuda")) == "eager"
    with pytest.raises(ValueError, match="CPU only"):
        inference.resolve("onnx", torch.device("cuda"))


def test_an_unknown_engine_is_named_with_the_choices() -> None:
    with pytest.raises(ValueError, match="inference must be one of auto, eager, frozen"):
        RFNetSegmenter(inference="tensorrt")


# ------------------------------------------------------------------ the segmenter's use of its engine


def _trained(two_domains: Path, make_context: Callable[..., Context], **settings: Any) -> tuple[RFNetSegmenter, Any]:
    samples = read_index(two_domains / "train-index.txt")
    model = RFNetSegmenter(**TINY_TRAINING, **settings)
    context = make_context(num_classes=19)
    model.train(samples, context=context)
    return model, context


def test_predict_builds_the_engine_once_and_rebuilds_it_after_training(
    two_domains: Path, make_context: Callable[..., Context]
) -> None:
    model, context = _trained(two_domains, make_context, inference="frozen")
    test = read_index(two_domains / "test-index.txt")
    first = model.predict(test, context=context)
    engine = model._engine
    assert model.predict(test, context=context) is not None and model._engine is engine
    model.train(read_index(two_domains / "train-index.txt"), context=context)
    model.predict(test, context=context)
    assert model._engine is not engine
    assert len(first) == len(test)


def test_every_engine_predicts_the_eager_class_maps(two_domains: Path, make_context: Callable[..., Context]) -> None:
    model, context = _trained(two_domains, make_context, inference="eager", channels_last=False)
    test = read_index(two_domains / "test-index.txt")
    reference = np.stack(model.predict(test, context=context))
    for name in ("frozen", "onnx"):
        model.inference = name
        maps = np.stack(model.predict(test, context=context))
        assert (maps == reference).mean() >= FP32_ARGMAX_AGREEMENT, name


def test_int8_calibration_images_travel_with_the_snapshot(
    two_domains: Path, make_context: Callable[..., Context], tmp_path: Path
) -> None:
    model, context = _trained(two_domains, make_context, inference="int8")
    train = read_index(two_domains / "train-index.txt")
    assert len(model.calibration_inputs) == inference.CALIBRATION_IMAGES
    assert model.calibration_inputs[0] == tuple(str(p) for p in train[0].inputs)
    assert model.calibration_inputs[-1] == tuple(str(p) for p in train[-1].inputs)
    saved = model.save(tmp_path / "snapshot")
    loaded = RFNetSegmenter(**TINY_TRAINING, inference="int8")
    loaded.load(saved)
    assert loaded.calibration_inputs == model.calibration_inputs
    test = read_index(two_domains / "test-index.txt")
    maps = loaded.predict(test, context=context)
    assert [m.shape for m in maps] == [(64, 128)] * len(test)


def test_auto_runs_eager_until_the_build_would_pay_off(
    two_domains: Path, make_context: Callable[..., Context], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inference, "native_bf16", lambda: False)
    monkeypatch.setattr(inference, "AUTO_BUILD_AFTER_PIXELS", 3 * 128 * 64)
    model, context = _trained(two_domains, make_context)  # inference: auto
    test = read_index(two_domains / "test-index.txt")[:2]
    model.predict(test, context=context)
    assert model._engine is not None and model._engine.name == "eager"  # 2 images: below the threshold
    model.predict(test, context=context)
    assert model._engine.name == "eager"  # 4 images seen: now at or above it
    model.predict(test, context=context)
    assert model._engine.name == "onnx"
    model.train(read_index(two_domains / "train-index.txt"), context=context)
    model.predict(test, context=context)
    assert model._engine.name == "eager"  # new weights: the count starts again


def test_an_untrained_int8_model_runs_eager(two_domains: Path, make_context: Callable[..., Context]) -> None:
    model = RFNetSegmenter(**TINY_TRAINING, inference="int8")
    test = read_index(two_domains / "test-index.txt")[:1]
    model.predict(test, context=make_context(num_classes=19))
    assert model._engine is not None and model._engine.name == "eager"
