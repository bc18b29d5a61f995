"""The object paradigms hand to plugins instead of process-global environment variables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Context:
    """Where a plugin may write and what stage of the test case it is called in.

    Attributes:
        workspace: the test case's own folder; plugins write nothing outside it.
        round: lifelong round (0 = baseline/untrained, 1..T), or None for single-task runs.
        task: the task the call concerns (training or evaluating one task), if any.
        device: "cpu", "cuda", "cuda:0", ... as chosen from testenv `use_gpu`.
        seed: the test case's seed; plugins derive their RNGs from it.
        num_classes / ignore_index / class_names: the label space of the test environment.
        extra: testenv keys the framework does not know, forwarded as-is.
    """

    workspace: Path
    seed: int = 0
    device: str = "cpu"
    round: int | None = None
    task: str | None = None
    num_classes: int = 19
    ignore_index: int = 255
    class_names: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("controller.plugin"))

    def path(self, *parts: str) -> Path:
        """A path inside the case workspace, its parent folder created."""
        target = self.workspace.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def evolve(self, **changes: Any) -> Context:
        return replace(self, **changes)
