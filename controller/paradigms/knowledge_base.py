"""The lifelong-learning knowledge base: one model snapshot per task, plus a task index.

Design: after each round the model trained on that round's task is saved under
``<case>/kb/tasks/<task>/``, and ``kb/index.json`` maps task -> snapshot, round and sample count.
Training always continues from the latest model (forward transfer); at inference the task
allocation module decides which snapshot serves a sample. Allocating every sample to the latest
model is naive fine-tuning; allocating by task keeps earlier tasks' knowledge intact. The KB lives
in the case workspace (never /tmp) and is never overwritten across rounds: each task keeps its own
folder, and a task seen again gets a new round folder.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.results import write_json_atomic


@dataclass(frozen=True)
class Entry:
    task: str
    round: int
    model: str
    samples: int


class KnowledgeBase:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._entries: dict[str, Entry] = {}
        self._order: list[str] = []

    @property
    def tasks(self) -> list[str]:
        return list(self._order)

    @property
    def latest(self) -> Entry | None:
        return self._entries[self._order[-1]] if self._order else None

    def add(self, task: str, round_: int, samples: int, save: Callable[[Path], Any]) -> Entry:
        folder = self.root / "tasks" / _safe(task) / f"round-{round_}"
        folder.mkdir(parents=True, exist_ok=True)
        saved = save(folder / "model")
        entry = Entry(task, round_, str(saved or folder / "model"), samples)
        self._entries[task] = entry
        if task in self._order:
            self._order.remove(task)
        self._order.append(task)
        self._write_index()
        return entry

    def entry(self, task: str) -> Entry:
        return self._entries[task]

    def _write_index(self) -> None:
        write_json_atomic(
            self.root / "index.json",
            {
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "order": self._order,
                "tasks": {t: vars(e) for t, e in self._entries.items()},
            },
        )

    @classmethod
    def read_index(cls, root: Path) -> dict[str, Any]:
        index: dict[str, Any] = json.loads((root / "index.json").read_text())
        return index


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"
