"""RFNetSegmenter as a basemodel plugin: train, predict, confidence, save/load, weights, determinism."""

from __future__ import annotations

import functools
import http.server
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from controller.algorithms.rfnet.model import ResNet18Trunk
from controller.algorithms.rfnet.segmenter import RFNetSegmenter
from controller.datasets.images import read_label
from controller.datasets.index import read_index, write_index
from controller.errors import DatasetError
from controller.plugins.context import Context
from tests.rfnet.conftest import TINY_TRAINING

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def day_samples(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from controller.datasets.synth import synthesize

    root = tmp_path_factory.mktemp("seg") / "data"
    synthesize(root, train_per_city=3, test_per_city=2, size=(64, 32), seed=5, cities={"aachen": "day"})
    return read_index(root / "train-index.txt"), read_index(root / "test-index.txt")


@pytest.fixture(scope="module")
def trained(day_samples, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    context = Context(workspace=tmp_path_factory.mktemp("case"), seed=0, round=1)
    model = RFNetSegmenter(**TINY_TRAINING)
    model.train(day_samples[0], context=context)
    return model, context


def test_predictions_are_uint8_maps_of_each_label_size(trained, day_samples) -> None:  # type: ignore[no-untyped-def]
    model, context = trained
    maps = model.predict(day_samples[1], context=context)
    assert [(m.shape, m.dtype) for m in maps] == [(read_label(s.label).shape, np.uint8) for s in day_samples[1]]
    assert max(int(m.max()) for m in maps) < 19


def test_inference_scale_still_returns_full_size_maps(trained, day_samples) -> None:  # type: ignore[no-untyped-def]
    model, context = trained
    model.inference_scale = 0.5
    try:
        maps = model.predict(day_samples[1], context=context)
    finally:
        model.inference_scale = 1.0
    assert [m.shape for m in maps] == [(32, 64)] * len(day_samples[1])


def test_confidence_is_mean_max_probability_with_the_same_maps(trained, day_samples) -> None:  # type: ignore[no-untyped-def]
    model, context = trained
    maps, confidences = model.predict_confidence(day_samples[1], context=context)
    assert all(np.array_equal(a, b) for a, b in zip(maps, model.predict(day_samples[1], context=context)))
    assert all(1 / 19 <= c <= 1.0 for c in confidences)


def test_save_and_load_reproduce_predictions_and_depth_statistics(trained, day_samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, context = trained
    path = model.save(tmp_path / "snapshot" / "model")
    assert path == tmp_path / "snapshot" / "model.pt"
    restored = RFNetSegmenter()
    restored.load(tmp_path / "snapshot" / "model")
    assert restored.depth_stats == model.depth_stats is not None
    for a, b in zip(model.predict(day_samples[1], context=context), restored.predict(day_samples[1], context=context)):
        assert np.array_equal(a, b)


def test_loading_a_model_trained_with_other_inputs_is_refused(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = trained[0].save(tmp_path / "model")
    with pytest.raises(ValueError, match="use_depth=True"):
        RFNetSegmenter(use_depth=False).load(path)


def test_training_is_deterministic_under_the_seed(day_samples, make_context: Callable[..., Context]) -> None:  # type: ignore[no-untyped-def]
    states = []
    for seed in (4, 4, 5):
        model = RFNetSegmenter(**TINY_TRAINING)
        model.train(day_samples[0], context=make_context(seed=seed))
        states.append(model.net.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])


def test_loader_workers_do_not_change_the_result(day_samples, make_context: Callable[..., Context]) -> None:  # type: ignore[no-untyped-def]
    states = []
    for workers in (0, 1):
        model = RFNetSegmenter(workers=workers, **TINY_TRAINING)
        model.train(day_samples[0], context=make_context())
        states.append(model.net.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_rgb_only_mode_trains_on_two_column_index(day_samples, tmp_path: Path, make_context) -> None:  # type: ignore[no-untyped-def]
    index = write_index(tmp_path / "rgb-only.txt", [(s.rgb, s.label) for s in day_samples[0]])
    samples = read_index(index)
    model = RFNetSegmenter(use_depth=False, **TINY_TRAINING)
    model.train(samples, context=make_context())
    assert model.depth_stats is None and model.net.depth is None
    assert model.predict(samples[:1], context=make_context())[0].shape == (32, 64)


def test_depth_model_on_two_column_index_names_the_line(day_samples, tmp_path: Path, make_context) -> None:  # type: ignore[no-untyped-def]
    index = write_index(tmp_path / "rgb-only.txt", [(s.rgb, s.label) for s in day_samples[0]])
    with pytest.raises(DatasetError, match=r"rgb-only.txt:1: .*depth"):
        RFNetSegmenter(**TINY_TRAINING).train(read_index(index), context=make_context())


def test_checkpoints_are_written_inside_the_case_workspace(day_samples, make_context) -> None:  # type: ignore[no-untyped-def]
    context = make_context(round=2)
    RFNetSegmenter(checkpoint_every=1, **TINY_TRAINING).train(day_samples[0], context=context)
    payload = torch.load(context.workspace / "checkpoints" / "rfnet-round-2.pt", weights_only=True)
    assert payload["iteration"] == TINY_TRAINING["iterations"]
    assert payload["format"] == "ianvs-lab/rfnet"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iterations": 5, "epochs": 1}, "either iterations or epochs"),
        ({"scale_min": 2.0, "scale_max": 1.0}, "scale_min <= scale_max"),
        ({"batch_size": 0}, "batch_size must be > 0"),
        ({"amp": "fp8"}, "amp must be one of"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RFNetSegmenter(**kwargs)


def test_epochs_translate_into_iterations() -> None:
    assert RFNetSegmenter(epochs=2, batch_size=4)._iterations_for(10) == 5  # ceil(2 * 10 / 4)
    assert RFNetSegmenter()._iterations_for(10) == 1000


# ------------------------------------------------------------ pretrained weights


@pytest.fixture(scope="module")
def imagenet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dict in torchvision's resnet18 layout (random values, fc included)."""
    torch.manual_seed(11)
    trunk = ResNet18Trunk(3)
    state = dict(trunk.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    path = tmp_path_factory.mktemp("weights") / "resnet18-test.pth"
    torch.save(state, path)
    return path


def _check_loaded(model: RFNetSegmenter, path: Path) -> None:
    expected = torch.load(path, weights_only=True)
    assert torch.equal(model.net.rgb.layer3[1].conv2.weight, expected["layer3.1.conv2.weight"])
    assert torch.equal(model.net.depth.layer4[0].bn1.running_var, expected["layer4.0.bn1.running_var"])
    assert torch.allclose(model.net.depth.conv1.weight, expected["conv1.weight"].mean(dim=1, keepdim=True))


@pytest.mark.parametrize("form", ["path", "file-url", "env-var"])
def test_imagenet_weights_load_from_a_local_file(
    imagenet_file: Path,
    form: str,
    make_context,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RFNET_TEST_WEIGHTS", str(imagenet_file))
    url = {"path": str(imagenet_file), "file-url": imagenet_file.as_uri(), "env-var": "$RFNET_TEST_WEIGHTS"}[form]
    model = RFNetSegmenter(pretrained_url=url)
    model._ensure_network(make_context(num_classes=5))
    _check_loaded(model, imagenet_file)


def test_imagenet_weights_download_into_the_workspace(imagenet_file: Path, make_context) -> None:  # type: ignore[no-untyped-def]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(imagenet_file.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        context = make_context(num_classes=5)
        model = RFNetSegmenter(pretrained_url=f"http://127.0.0.1:{server.server_address[1]}/{imagenet_file.name}")
        model._ensure_network(context)
    finally:
        server.shutdown()
        server.server_close()
    _check_loaded(model, imagenet_file)
    assert (context.workspace / "pretrained" / imagenet_file.name).is_file()


def test_an_unset_variable_in_the_weights_url_is_named(make_context, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("RFNET_UNSET_WEIGHTS", raising=False)
    with pytest.raises(ValueError, match=r"RFNET_UNSET_WEIGHTS.*not set"):
        RFNetSegmenter(pretrained_url="$RFNET_UNSET_WEIGHTS")._ensure_network(make_context())


def test_weights_of_another_network_are_refused(tmp_path: Path, make_context) -> None:  # type: ignore[no-untyped-def]
    state = dict(ResNet18Trunk(3).state_dict())
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(state, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match=r"conv1.weight has shape \(64, 3, 3, 3\)"):
        RFNetSegmenter(pretrained_url=str(tmp_path / "wrong.pth"))._ensure_network(make_context())


def test_without_weights_a_notice_is_logged(make_context, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO):  # a warning the first time in a process, info afterwards
        RFNetSegmenter()._ensure_network(make_context())
    assert "no pretrained_url" in caplog.text


# ------------------------------------------------------------ import cost


def test_validate_and_help_never_import_torch(job_dir: Path) -> None:
    code = (
        "import contextlib, io, sys\n"
        "from controller.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        f"assert main(['validate', {str(job_dir / 'benchmarkingjob.yaml')!r}]) == 0\n"
        "from controller.paradigms.base import Paradigm\n"
        "from controller.plugins.loader import load_plugin\n"
        "for name in ('RFNetSegmenter', 'TaskAllocationByDomainClassifier', 'UnseenTaskByConfidence'):\n"
        "    load_plugin(None, name)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "ok (5 algorithms" in run.stdout + run.stderr


def test_the_parameter_count_is_the_network_s(trained) -> None:  # type: ignore[no-untyped-def]
    """What result.json's model_parameters reports for RFNet (docs/efficiency.md)."""
    model, _ = trained
    assert model.num_parameters() == 23_684_988  # RGB-D RFNet, 19 classes: tests/rfnet/test_rfnet_model.py
    assert RFNetSegmenter(**TINY_TRAINING).num_parameters() == 0  # no network before training
