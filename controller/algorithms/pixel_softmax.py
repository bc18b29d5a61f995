"""PixelSoftmaxSegmenter: multinomial logistic regression on per-pixel features.

The simplest honest learned segmentation baseline: it learns colour/position/disparity statistics
per class, trains in seconds on a CPU, and — because it has one shared linear model — forgets an
earlier visual domain when fine-tuned on a later one, which is what a lifelong benchmark must
be able to show. Deterministic under the case seed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from controller import fsio
from controller.algorithms.features import FEATURES, pixel_features
from controller.datasets.images import read_label
from controller.datasets.index import Sample
from controller.plugins.context import Context
from controller.plugins.registry import register

log = logging.getLogger(__name__)


@register("PixelSoftmaxSegmenter", kind="basemodel")
class PixelSoftmaxSegmenter:
    def __init__(
        self,
        learning_rate: float = 0.05,
        epochs: int = 4,
        pixels_per_image: int = 4096,
        batch_size: int = 2048,
        weight_decay: float = 1e-4,
        use_depth: bool = True,
    ) -> None:
        if learning_rate <= 0 or epochs < 1 or pixels_per_image < 1 or batch_size < 1:
            raise ValueError("learning_rate must be > 0 and epochs, pixels_per_image, batch_size >= 1")
        self.learning_rate = float(learning_rate)
        self.epochs = int(epochs)
        self.pixels_per_image = int(pixels_per_image)
        self.batch_size = int(batch_size)
        self.weight_decay = float(weight_decay)
        self.use_depth = bool(use_depth)
        self.weights: np.ndarray | None = None  # F x C
        self.bias: np.ndarray | None = None  # C
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self._step = 0
        self._moments: tuple[np.ndarray, ...] | None = None

    # ------------------------------------------------------------ training

    def train(
        self, train_data: Sequence[Sample], valid_data: Sequence[Sample] | None = None, *, context: Context, **_: object
    ) -> None:
        rng = np.random.default_rng([context.seed, context.round or 0])
        features, labels = self._sample_pixels(train_data, context, rng)
        if features.shape[0] == 0:
            raise ValueError("no labelled pixels in the training data (every label is the ignore index)")
        self._init(features, context.num_classes)
        x = (features - self.mean) / self.std
        for epoch in range(self.epochs):
            order = rng.permutation(x.shape[0])
            loss = 0.0
            for start in range(0, x.shape[0], self.batch_size):
                batch = order[start : start + self.batch_size]
                loss += self._adam_step(x[batch], labels[batch]) * batch.size
            log.info(
                "epoch %d/%d: cross-entropy %.4f on %d pixels", epoch + 1, self.epochs, loss / x.shape[0], x.shape[0]
            )

    def _sample_pixels(
        self, samples: Sequence[Sample], context: Context, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for sample in samples:
            feats = pixel_features(sample, use_depth=self.use_depth)
            label = read_label(sample.label)
            valid = np.flatnonzero(
                (label.reshape(-1) != context.ignore_index) & (label.reshape(-1) < context.num_classes)
            )
            if valid.size == 0:
                continue
            chosen = rng.choice(valid, size=min(self.pixels_per_image, valid.size), replace=False)
            xs.append(feats.reshape(-1, feats.shape[-1])[chosen])
            ys.append(label.reshape(-1)[chosen].astype(np.int64))
        if not xs:
            return np.zeros((0, len(FEATURES)), np.float32), np.zeros(0, np.int64)
        return np.concatenate(xs).astype(np.float64), np.concatenate(ys)

    def _init(self, features: np.ndarray, num_classes: int) -> None:
        if self.weights is not None:
            return  # continue training: keep the normalisation the weights were learnt with
        self.mean = features.mean(axis=0)
        self.std = features.std(axis=0) + 1e-6
        self.weights = np.zeros((features.shape[1], num_classes))
        self.bias = np.zeros(num_classes)

    def _adam_step(self, x: np.ndarray, y: np.ndarray, beta1: float = 0.9, beta2: float = 0.999) -> float:
        assert self.weights is not None and self.bias is not None
        logits = x @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        loss = float(-np.log(prob[np.arange(y.size), y] + 1e-12).mean())
        prob[np.arange(y.size), y] -= 1.0
        grad_w = x.T @ prob / y.size + self.weight_decay * self.weights
        grad_b = prob.mean(axis=0)
        if self._moments is None:
            self._moments = tuple(np.zeros_like(a) for a in (grad_w, grad_b, grad_w, grad_b))
        m_w, m_b, v_w, v_b = self._moments
        self._step += 1
        for m, v, g in ((m_w, v_w, grad_w), (m_b, v_b, grad_b)):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
        correction1 = 1 - beta1**self._step
        correction2 = 1 - beta2**self._step
        self.weights -= self.learning_rate * (m_w / correction1) / (np.sqrt(v_w / correction2) + 1e-8)
        self.bias -= self.learning_rate * (m_b / correction1) / (np.sqrt(v_b / correction2) + 1e-8)
        return loss

    # ------------------------------------------------------------ inference

    def predict(self, data: Sequence[Sample], *, context: Context, **_: object) -> list[np.ndarray]:
        return [self._predict_one(sample, context) for sample in data]

    def _predict_one(self, sample: Sample, context: Context) -> np.ndarray:
        feats = pixel_features(sample, use_depth=self.use_depth)
        height, width, count = feats.shape
        if self.weights is None:
            # untrained: every pixel is class 0, the lifelong baseline b of GEM's FWT
            return np.zeros((height, width), np.uint8)
        x = (feats.reshape(-1, count) - self.mean) / self.std
        logits = x @ self.weights + self.bias
        labels: np.ndarray = logits.argmax(axis=1)  # numpy's stubs type argmax(axis=...) as Any
        return labels.astype(np.uint8).reshape(height, width)

    def num_parameters(self) -> int:
        """Learned weights and biases (the feature normalisation statistics are not learned); 0 untrained."""
        return 0 if self.weights is None or self.bias is None else int(self.weights.size + self.bias.size)

    # ------------------------------------------------------------ persistence

    def save(self, model_path: str | Path) -> Path:
        path = Path(model_path).with_suffix(".npz")
        if self.weights is None:
            raise ValueError("cannot save an untrained PixelSoftmaxSegmenter")
        assert self.bias is not None and self.mean is not None and self.std is not None  # set with the weights
        path.parent.mkdir(parents=True, exist_ok=True)
        with fsio.atomic_file(path) as handle:
            np.savez(
                handle,
                weights=self.weights,
                bias=self.bias,
                mean=self.mean,
                std=self.std,
                step=np.array(self._step),
                use_depth=np.array(self.use_depth),
            )
        return path

    def load(self, model_url: str | Path) -> None:
        path = Path(model_url)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        with np.load(path) as data:
            self.weights, self.bias = data["weights"], data["bias"]
            self.mean, self.std = data["mean"], data["std"]
            self._step = int(data["step"])
            self.use_depth = bool(data["use_depth"])
        self._moments = None
