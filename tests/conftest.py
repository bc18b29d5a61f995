"""Shared fixtures: a tiny synthetic Cityscapes-format dataset and a job that uses it."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Callable

import pytest
import yaml

# Real-infrastructure fixtures (k8s, docker_engine, base_images, labhosts) for every test folder.
pytest_plugins = ("infra.fixtures",)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "cityscapes-lifelong"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 cities (day/night/fog), 6 train + 3 test images each, 64x32: fast to train on."""
    from controller.datasets.synth import synthesize

    root = tmp_path_factory.mktemp("data") / "synth"
    synthesize(root, train_per_city=6, test_per_city=3, size=(64, 32), seed=1)
    return root


@pytest.fixture
def job_dir(tmp_path: Path, tiny_dataset: Path) -> Path:
    """A copy of the example job pointed at the tiny dataset (the copy's ./data is a symlink)."""
    target = tmp_path / "job"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("data", "workspace"))
    (target / "data").symlink_to(tiny_dataset, target_is_directory=True)
    return target


def edit_yaml(path: Path, change: Callable[[dict], None]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


BASELINES = ("pixel-softmax-kb", "pixel-softmax-finetune", "majority-class")


def keep_algorithms(job_dir: Path, *names: str) -> None:
    """Restrict the copied example job to `names` (RFNet has its own, slower tests in tests/rfnet)."""
    edit_yaml(job_dir / "benchmarkingjob.yaml", lambda d: d["benchmarkingjob"]["test_object"].__setitem__(
        "algorithms", [a for a in d["benchmarkingjob"]["test_object"]["algorithms"] if a["name"] in names]))
