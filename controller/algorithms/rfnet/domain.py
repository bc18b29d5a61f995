"""TaskAllocationByDomainClassifier: route a test image to a task model by what the image looks like.

Why: at the edge a sample does not come with its city or domain name; task allocation by attribute
(``TaskAllocationByAttribute``) reads it from the path, which only works in a benchmark. This
allocator learns each task's appearance from that task's training images and picks, for a test
image, the known task it most resembles.

Features (numpy only, cheap, resolution-independent), all in [0, 1]:
    layout      mean RGB of every cell of a ``grid_rows x grid_cols`` grid (where sky, road, ... are
                and what colour they have): 3 * rows * cols values
    histogram   per-channel intensity histogram with ``histogram_bins`` bins, normalised to sum 1
    depth       (``use_depth``) fraction of valid disparity pixels and the mean valid disparity / 256

Classifier: Gaussian class-conditional densities with one shared diagonal covariance (a diagonal
linear discriminant), uniform prior over tasks::

    mu_t = mean of task t's features,    s2_f = pooled within-task variance of feature f + eps
    log p(t | x) = -1/2 sum_f (x_f - mu_t,f)^2 / s2_f  - log Z
It is closed-form and incremental (per-task counts, sums and sums of squares), so a new task is a new
row and nothing is retrained. ``min_posterior`` > 0 returns None (no model: the latest model serves,
and ``UnseenTaskByAllocation`` treats it as unseen) when the best posterior is below it.

The lifelong paradigm calls ``learn(task, samples, context=...)`` after each round; the state is
written to ``<case>/task_allocation/domain_classifier.json`` for inspection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from PIL import Image

from controller.datasets.images import read_disparity_and_mask, read_rgb
from controller.datasets.index import Sample
from controller.plugins.context import Context
from controller.plugins.registry import register

VARIANCE_EPS = 1e-4


def image_features(sample: Sample, grid_rows: int, grid_cols: int, bins: int, use_depth: bool) -> np.ndarray:
    """The feature vector described in the module docstring (float64)."""
    rgb = read_rgb(sample.rgb)
    layout = np.asarray(Image.fromarray(rgb).resize((grid_cols, grid_rows), Image.Resampling.BOX), np.float64) / 255.0
    edges = np.linspace(0, 256, bins + 1)
    histograms = [np.histogram(rgb[..., c], bins=edges)[0] / rgb[..., c].size for c in range(3)]
    parts = [layout.ravel(), np.concatenate(histograms)]
    if use_depth:
        if sample.depth is None:
            raise ValueError(f"{sample.index_file}:{sample.line}: use_depth needs a depth column")
        disparity, valid = read_disparity_and_mask(sample.depth)
        mean = float(disparity[valid].mean()) / 256.0 if valid.any() else 0.0
        parts.append(np.array([valid.mean(), mean]))
    return np.concatenate(parts)


@register("TaskAllocationByDomainClassifier", kind="task_allocation")
class TaskAllocationByDomainClassifier:
    def __init__(
        self,
        grid_rows: int = 4,
        grid_cols: int = 8,
        histogram_bins: int = 8,
        use_depth: bool = False,
        min_posterior: float = 0.0,
    ) -> None:
        for name, value in (("grid_rows", grid_rows), ("grid_cols", grid_cols), ("histogram_bins", histogram_bins)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= float(min_posterior) <= 1.0:
            raise ValueError(f"min_posterior must be in [0, 1], got {min_posterior!r}")
        self.grid_rows, self.grid_cols, self.histogram_bins = grid_rows, grid_cols, histogram_bins
        self.use_depth = bool(use_depth)
        self.min_posterior = float(min_posterior)
        self.tasks: list[str] = []
        self._count: dict[str, int] = {}
        self._sum: dict[str, np.ndarray] = {}
        self._sum_sq: dict[str, np.ndarray] = {}

    def features(self, samples: Sequence[Sample]) -> np.ndarray:
        return np.stack(
            [image_features(s, self.grid_rows, self.grid_cols, self.histogram_bins, self.use_depth) for s in samples]
        )

    # ------------------------------------------------------------ learning

    def learn(self, task: str, samples: Sequence[Sample], *, context: Context | None = None) -> None:
        """Add `samples` as examples of `task` (a task seen again accumulates)."""
        if not samples:
            return
        x = self.features(samples)
        if task not in self._count:
            self.tasks.append(task)
            self._count[task] = 0
            self._sum[task] = np.zeros(x.shape[1])
            self._sum_sq[task] = np.zeros(x.shape[1])
        self._count[task] += x.shape[0]
        self._sum[task] += x.sum(axis=0)
        self._sum_sq[task] += (x * x).sum(axis=0)
        if context is not None:
            self._write_state(context)

    def _means(self, tasks: Sequence[str]) -> np.ndarray:
        return np.stack([self._sum[t] / self._count[t] for t in tasks])

    def _variance(self) -> np.ndarray:
        """Pooled within-task variance: sum_t (S2_t - n_t mu_t^2) / (N - T), plus eps."""
        total = sum(self._count.values())
        scatter = sum(self._sum_sq[t] - self._sum[t] ** 2 / self._count[t] for t in self.tasks)
        dof = max(total - len(self.tasks), 1)
        return np.maximum(scatter / dof, 0.0) + VARIANCE_EPS

    # ------------------------------------------------------------ inference

    def posteriors(self, samples: Sequence[Sample], tasks: Sequence[str]) -> np.ndarray:
        """N x T matrix of p(task | image) over `tasks` (each must have been learned)."""
        x = self.features(samples)
        means = self._means(tasks)
        log_lik = -0.5 * (((x[:, None, :] - means[None, :, :]) ** 2) / self._variance()).sum(axis=2)
        log_lik -= log_lik.max(axis=1, keepdims=True)
        prob = np.exp(log_lik)
        posterior: np.ndarray = prob / prob.sum(axis=1, keepdims=True)  # numpy's stubs type sum(axis=...) as Any
        return posterior

    def allocate(self, samples: Sequence[Sample], known_tasks: Sequence[str]) -> list[str | None]:
        candidates = [t for t in known_tasks if t in self._count]
        if not candidates or not samples:
            return [None] * len(samples)
        prob = self.posteriors(samples, candidates)
        best = prob.argmax(axis=1)
        return [candidates[b] if prob[i, b] >= self.min_posterior else None for i, b in enumerate(best)]

    def _write_state(self, context: Context) -> None:
        state = {
            "features": {
                "grid": [self.grid_rows, self.grid_cols],
                "histogram_bins": self.histogram_bins,
                "use_depth": self.use_depth,
            },
            "tasks": {
                t: {"samples": self._count[t], "mean": (self._sum[t] / self._count[t]).round(6).tolist()}
                for t in self.tasks
            },
            "variance": self._variance().round(8).tolist(),
        }
        path = context.path("task_allocation", "domain_classifier.json")
        path.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
