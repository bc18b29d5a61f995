"""The RFNet example jobs are valid: the demo algorithms and the full real-Cityscapes job."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from controller.cli import main as cli

REPO = Path(__file__).resolve().parents[2]
FULL = REPO / "examples" / "cityscapes-lifelong-full"


def _make_index():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("rfnet_full_make_index", FULL / "make_index.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_make_index_holds_out_the_tail_of_each_city_and_appends_unseen_cities(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    # 6 train images per city: round(6 * 0.8) = 5 train, 1 test; all 6 images of zurich (an official
    # train city, so its train/ folder is used) are test-only
    counts = _make_index().build(tiny_dataset, tmp_path / "lifelong", ["aachen", "bremen"], ["zurich"], 0.2)
    assert counts == (10, 2 + 6)
    test_lines = (tmp_path / "lifelong" / "test-index.txt").read_text().split("\n")
    assert [Path(line.split()[0]).parent.name for line in test_lines if line] == ["aachen", "bremen"] + ["zurich"] * 6


def test_make_index_refuses_an_official_test_city(tiny_dataset: Path, tmp_path: Path) -> None:
    from controller.errors import DatasetError

    with pytest.raises(DatasetError, match="official test city"):
        _make_index().build(tiny_dataset, tmp_path, ["aachen"], ["berlin"], 0.2)


def test_full_job_validates_against_generated_indexes(
    tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _make_index().build(tiny_dataset, tmp_path / "lifelong", ["aachen", "bremen"], ["zurich"], 0.2)
    monkeypatch.setenv("CITYSCAPES", str(tmp_path))
    assert cli(["validate", str(FULL / "benchmarkingjob.yaml")]) == 0


@pytest.mark.parametrize("variant", ["kb", "finetune"])
def test_full_job_uses_rfnet_s_cityscapes_training_settings(variant: str) -> None:
    modules = yaml.safe_load((FULL / f"algorithm-rfnet-{variant}.yaml").read_text())["algorithm"]["modules"]
    settings = {k: v["values"][0] for item in modules[0]["hyperparameters"] for k, v in item.items()}
    assert {
        k: settings[k]
        for k in (
            "batch_size",
            "crop_size",
            "base_size",
            "scale_min",
            "scale_max",
            "learning_rate",
            "decoder_lr_factor",
            "weight_decay",
            "class_weights",
            "use_depth",
        )
    } == {
        "batch_size": 8,
        "crop_size": 768,
        "base_size": 1024,
        "scale_min": 0.5,
        "scale_max": 2.0,
        "learning_rate": 1e-4,
        "decoder_lr_factor": 4.0,
        "weight_decay": 2.5e-5,
        "class_weights": True,
        "use_depth": True,
    }


@pytest.mark.parametrize("variant", ["kb", "finetune"])
def test_demo_rfnet_algorithms_differ_only_in_inference_routing(variant: str) -> None:
    demo = REPO / "examples" / "cityscapes-lifelong"
    kb, other = (yaml.safe_load((demo / f"algorithm-rfnet-{v}.yaml").read_text())["algorithm"] for v in ("kb", variant))
    assert kb["modules"][:2] == other["modules"][:2]  # same basemodel settings and task definition
