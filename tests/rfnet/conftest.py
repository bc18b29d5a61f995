"""Fixtures for the RFNet tests: small synthetic data sets and a context factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.plugins.context import Context

TINY_TRAINING: dict[str, Any] = {
    "iterations": 2,
    "batch_size": 2,
    "crop_size": 32,
    "base_size": 32,
    "scale_min": 0.75,
    "scale_max": 1.25,
    "log_every": 0,
}
"""Hyper-parameters that make an RFNetSegmenter train in about a second (for plumbing tests)."""


@pytest.fixture(scope="session")
def two_domains(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """aachen (day) then bremen (night): 8 train + 4 test images each, 128x64, rgb depth label lines."""
    from controller.datasets.synth import synthesize

    root = tmp_path_factory.mktemp("rfnet") / "two-domains"
    synthesize(
        root, train_per_city=8, test_per_city=4, size=(128, 64), seed=3, cities={"aachen": "day", "bremen": "night"}
    )
    return root


@pytest.fixture
def make_context(tmp_path: Path) -> Callable[..., Context]:
    """Context(workspace=<tmp>/case, seed=0, round=1, ...) with overrides."""

    def make(**changes: Any) -> Context:
        base = Context(workspace=tmp_path / "case", seed=0, round=1, task="aachen")
        return base.evolve(**changes)

    return make
