"""RFNetSegmenter: the RFNet basemodel plugin (train / predict / predict_confidence / save / load).

Importing this module never imports torch (``controller validate`` loads it to check
hyper-parameter names); torch is imported when a segmenter is created, in the test case's process.

Lifecycle in a lifelong run: the network is built on the first ``train`` or ``predict`` (the
label space comes from the context; the initial weights from the case seed, optionally ImageNet
ResNet-18 weights from ``pretrained_url``). Every ``train`` call continues from the current weights
with a fresh optimiser and cosine schedule over ``iterations`` steps (one round = one schedule).
The disparity statistics are computed by the first ``train`` call and kept, like the weights they
belong to, in every saved snapshot.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from controller.algorithms.rfnet import INFERENCE_ENGINES
from controller.datasets.index import Sample
from controller.plugins.context import Context
from controller.plugins.registry import register

if TYPE_CHECKING:
    from controller.algorithms.rfnet.data import DepthStats
    from controller.algorithms.rfnet.inference import Engine
    from controller.algorithms.rfnet.model import RFNet
    from controller.algorithms.rfnet.training import Runtime

log = logging.getLogger(__name__)

FORMAT = "ianvs-lab/rfnet"
FORMAT_VERSION = 1
DEFAULT_ITERATIONS = 1000
_NOTICES: set[str] = set()


@register("RFNetSegmenter", kind="basemodel")
class RFNetSegmenter:
    """RFNet (RGB-D, or RGB-only with ``use_depth: false``) as an ianvs-lab basemodel.

    Hyper-parameters (defaults are RFNet's Cityscapes settings except where noted):
        use_depth: feed the disparity column of the index (rgb depth label lines).
        iterations / epochs: optimiser steps per ``train`` call; give at most one (epochs ->
            ceil(epochs * samples / batch_size)); neither -> 1000 iterations.
        batch_size 8, crop_size 768, base_size 1024, scale_min 0.5, scale_max 2.0: augmentation.
        learning_rate 1e-4 (encoder), decoder_lr_factor 4, weight_decay 2.5e-5: Adam groups.
        class_weights: ENet class weights 1/ln(1.02 + f_c) (RFNet always uses them).
        pretrained_url: ImageNet ResNet-18 state dict (path, file:// or http(s)://); None -> random
            init and a logged notice. pretrained_depth: also initialise the depth trunk from it.
        inference_scale: the input is resized by this factor for inference and the logits are
            resized back to the label size (1.0 = full resolution).
        amp ("auto", "off", "bf16", "fp16"), channels_last ("auto", true, false): see training.py.
        inference: the edge runtime of predict (auto, eager, frozen, compiled, onnx, bf16, int8): see
            inference.py; int8 is calibrated on training images of the model's last round.
        eval_batch_size, workers (data-loader processes), checkpoint_every (iterations; 0 = none),
        depth_stats_images (images sampled for the disparity statistics), log_every.
    """

    def __init__(
        self,
        use_depth: bool = True,
        iterations: int | None = None,
        epochs: float | None = None,
        batch_size: int = 8,
        crop_size: int = 768,
        base_size: int = 1024,
        scale_min: float = 0.5,
        scale_max: float = 2.0,
        learning_rate: float = 1e-4,
        decoder_lr_factor: float = 4.0,
        weight_decay: float = 2.5e-5,
        class_weights: bool = True,
        pretrained_url: str | None = None,
        pretrained_depth: bool = True,
        inference_scale: float = 1.0,
        amp: str = "auto",
        channels_last: bool | str = "auto",
        inference: str = "auto",
        eval_batch_size: int = 4,
        workers: int = 0,
        checkpoint_every: int = 0,
        depth_stats_images: int = 500,
        log_every: int = 50,
    ) -> None:
        if iterations is not None and epochs is not None:
            raise ValueError("give either iterations or epochs, not both")
        _positive("iterations", iterations, allow_none=True)
        _positive("epochs", epochs, allow_none=True)
        value: float  # int or float: the loops below check both
        for name, value in (
            ("batch_size", batch_size),
            ("crop_size", crop_size),
            ("base_size", base_size),
            ("eval_batch_size", eval_batch_size),
            ("depth_stats_images", depth_stats_images),
        ):
            _positive(name, value)
        for name, value in (
            ("learning_rate", learning_rate),
            ("decoder_lr_factor", decoder_lr_factor),
            ("inference_scale", inference_scale),
        ):
            _positive(name, value)
        if not 0 < scale_min <= scale_max:
            raise ValueError(f"need 0 < scale_min <= scale_max, got {scale_min} and {scale_max}")
        for name, value in (
            ("weight_decay", weight_decay),
            ("workers", workers),
            ("checkpoint_every", checkpoint_every),
            ("log_every", log_every),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if amp not in ("auto", "off", "bf16", "fp16"):
            raise ValueError(f"amp must be one of auto, off, bf16, fp16; got {amp!r}")
        if channels_last not in ("auto", True, False):
            raise ValueError(f"channels_last must be true, false or 'auto'; got {channels_last!r}")
        if inference not in INFERENCE_ENGINES:
            raise ValueError(f"inference must be one of {', '.join(INFERENCE_ENGINES)}; got {inference!r}")
        self.use_depth = bool(use_depth)
        self.iterations = None if iterations is None else int(iterations)
        self.epochs = None if epochs is None else float(epochs)
        self.batch_size = int(batch_size)
        self.crop_size = int(crop_size)
        self.base_size = int(base_size)
        self.scale_min = float(scale_min)
        self.scale_max = float(scale_max)
        self.learning_rate = float(learning_rate)
        self.decoder_lr_factor = float(decoder_lr_factor)
        self.weight_decay = float(weight_decay)
        self.class_weights = bool(class_weights)
        self.pretrained_url = pretrained_url
        self.pretrained_depth = bool(pretrained_depth)
        self.inference_scale = float(inference_scale)
        self.amp = amp
        self.channels_last = channels_last
        self.inference = inference
        self.eval_batch_size = int(eval_batch_size)
        self.workers = int(workers)
        self.checkpoint_every = int(checkpoint_every)
        self.depth_stats_images = int(depth_stats_images)
        self.log_every = int(log_every)
        self.net: RFNet | None = None
        self.num_classes: int | None = None
        self.depth_stats: DepthStats | None = None
        self.trained_iterations = 0
        self.history: list[dict[str, Any]] = []
        # input paths of up to CALIBRATION_IMAGES images of the last training round (int8 calibration)
        self.calibration_inputs: list[tuple[str, ...]] = []
        self._runtime: Runtime | None = None
        self._engine: Engine | None = None  # built on the first prediction, dropped when the weights change
        self._eager_pixels = 0  # inferred by the eager engine since the weights last changed (``auto``'s rule)
        # PyTorch starts here, with the model (~3 s on these machines), not inside whichever timed phase uses it
        # first: a lifelong case's first phase is the untrained baseline's evaluation, whose time it inflated
        importlib.import_module("torch")

    # ------------------------------------------------------------ building

    def _runtime_for(self, context: Context) -> Runtime:
        from controller.algorithms.rfnet.training import select_runtime

        if self._runtime is None or str(self._runtime.device) != str(context.device):
            self._runtime = select_runtime(context.device, self.amp, self.channels_last)
        return self._runtime

    def _ensure_network(self, context: Context) -> RFNet:
        if self.net is not None:
            if self.num_classes != context.num_classes:
                raise ValueError(
                    f"the model has {self.num_classes} classes but the test environment has {context.num_classes}"
                )
            return self.net
        if not 1 <= context.num_classes <= 255:
            raise ValueError(
                f"RFNetSegmenter predicts uint8 class maps: num_classes must be 1..255, got {context.num_classes}"
            )
        import torch

        from controller.algorithms.rfnet.model import RFNet

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)
            net = RFNet(context.num_classes, with_depth=self.use_depth)
        if self.pretrained_url:
            from controller.algorithms.rfnet import pretrained

            path = pretrained.resolve(str(self.pretrained_url), context.workspace / "pretrained")
            pretrained.load_imagenet_resnet18(net, path, into_depth=self.pretrained_depth)
        else:
            # a warning once per process (a lifelong case builds several models), then info
            level = logging.INFO if _NOTICES else logging.WARNING
            _NOTICES.add("random-init")
            log.log(
                level,
                "RFNet: no pretrained_url given; the ResNet-18 trunks start from random weights "
                "(expect much lower accuracy than with ImageNet initialisation)",
            )
        self.net, self.num_classes = net, context.num_classes
        return net

    def _iterations_for(self, count: int) -> int:
        if self.iterations is not None:
            return self.iterations
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * count / self.batch_size))
        return DEFAULT_ITERATIONS

    # ------------------------------------------------------------ training

    def train(
        self, train_data: Sequence[Sample], valid_data: Sequence[Sample] | None = None, *, context: Context, **_: object
    ) -> dict[str, Any]:
        from controller.algorithms.rfnet import data, training

        if not train_data:
            raise ValueError("RFNetSegmenter.train got no training samples")
        net = self._ensure_network(context)
        runtime = self._runtime_for(context)
        if self.use_depth and self.depth_stats is None:
            self.depth_stats = data.depth_statistics(train_data, self.depth_stats_images)
            log.info(
                "disparity statistics from %d valid pixels: mean %.4f, std %.4f",
                self.depth_stats.pixels,
                self.depth_stats.mean,
                self.depth_stats.std,
            )
        elif self.use_depth:
            data.require_depth(train_data)
        config = training.TrainConfig(
            iterations=self._iterations_for(len(train_data)),
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            decoder_lr_factor=self.decoder_lr_factor,
            weight_decay=self.weight_decay,
            augmentation=data.Augmentation(self.crop_size, self.base_size, self.scale_min, self.scale_max),
            use_class_weights=self.class_weights,
            workers=self.workers,
            log_every=self.log_every,
            checkpoint_every=self.checkpoint_every,
        )
        round_ = context.round or 0
        checkpoint_path = context.path("checkpoints", f"rfnet-round-{round_}.pt")

        def checkpoint(extra: dict[str, Any]) -> Path:
            return training.atomic_save({**self._payload(), **extra}, checkpoint_path)

        log.info(
            "RFNet training on %s: %d samples, %d iterations of %d crops %dx%d (round %d)",
            runtime.describe(),
            len(train_data),
            config.iterations,
            self.batch_size,
            self.crop_size,
            self.crop_size,
            round_,
        )
        summary = training.train(
            net,
            train_data,
            self.depth_stats if self.use_depth else None,
            config,
            runtime,
            seed=context.seed,
            round_=round_,
            num_classes=context.num_classes,
            ignore_index=context.ignore_index,
            checkpoint=checkpoint,
        )
        self.trained_iterations += summary.iterations
        self._engine, self._eager_pixels = None, 0
        self.calibration_inputs = _calibration_choice(train_data)
        record = {
            "round": round_,
            "task": context.task,
            "samples": len(train_data),
            "iterations": summary.iterations,
            "seconds": round(summary.seconds, 3),
            "images_per_second": round(summary.images_per_second, 3),
            "final_loss": summary.final_loss,
        }
        self.history.append(record)
        log.info(
            "RFNet round %d done: %d iterations in %.1f s (%.2f images/s), final loss %.4f",
            round_,
            summary.iterations,
            summary.seconds,
            summary.images_per_second,
            summary.final_loss,
        )
        return record

    # ------------------------------------------------------------ inference

    def predict(self, data: Sequence[Sample], *, context: Context, **_: object) -> list[np.ndarray]:
        """One H x W uint8 class map per sample, at the sample's own resolution."""
        return self._infer(data, context, confidence=False)[0]

    def predict_confidence(
        self, data: Sequence[Sample], *, context: Context, **_: object
    ) -> tuple[list[np.ndarray], list[float]]:
        """The class maps of :meth:`predict` and, per sample, the mean over pixels of max_c p(c | pixel).

        p = softmax of the logits at the label resolution; 1/C <= confidence <= 1. The lifelong
        paradigm hands these to a confidence-based unseen-task recogniser without a second forward pass.
        """
        maps, confidences = self._infer(data, context, confidence=True)
        return maps, confidences

    @overload
    def _infer(
        self, samples: Sequence[Sample], context: Context, *, confidence: Literal[True]
    ) -> tuple[list[np.ndarray], list[float]]: ...
    @overload
    def _infer(
        self, samples: Sequence[Sample], context: Context, *, confidence: Literal[False]
    ) -> tuple[list[np.ndarray], None]: ...

    def _infer(
        self, samples: Sequence[Sample], context: Context, *, confidence: bool
    ) -> tuple[list[np.ndarray], list[float] | None]:
        from controller.algorithms.rfnet import data as rfdata

        engine = self._engine_for(context)
        runtime = self._runtime_for(context)
        stats = self._inference_stats()
        maps: list[np.ndarray | None] = [None] * len(samples)
        scores: list[float] = [0.0] * len(samples)
        loaded = [(i, rfdata.read_arrays(s, use_depth=self.use_depth, with_label=False)) for i, s in enumerate(samples)]
        by_size: dict[tuple[int, int], list[tuple[int, Any]]] = {}
        for position, arrays in loaded:
            by_size.setdefault(arrays.size, []).append((position, arrays))
        for size, group in by_size.items():
            for start in range(0, len(group), self.eval_batch_size):
                chunk = group[start : start + self.eval_batch_size]
                labels, conf = self._forward(engine, [a for _, a in chunk], size, stats, runtime, confidence)
                for k, (position, _) in enumerate(chunk):
                    maps[position] = labels[k]
                    if conf is not None:
                        scores[position] = float(conf[k])
        if engine.name == "eager":
            self._eager_pixels += sum(math.prod(rfdata.scaled_size(a.size, self.inference_scale)) for _, a in loaded)
        # every position is in exactly one chunk, so every map is set: the filter narrows the type and drops nothing
        return [m for m in maps if m is not None], (scores if confidence else None)

    def _engine_for(self, context: Context) -> Engine:
        import torch

        from controller.algorithms.rfnet import inference

        net = self._ensure_network(context)
        runtime = self._runtime_for(context)
        name = inference.resolve(self.inference, runtime.device)
        if self.inference == "auto" and self._eager_pixels < inference.AUTO_BUILD_AFTER_PIXELS:
            name = "eager"  # the ski-rental rule: build only once eager inference has cost about what a build costs
        if name == "int8" and not self.calibration_inputs:
            # an untrained model (the lifelong paradigm's round-0 baseline) has no calibration images, and
            # quantising random weights would measure nothing: it runs as trained
            name = "eager"
        if self._engine is None or self._engine.name != name:
            layout = torch.channels_last if runtime.channels_last else torch.contiguous_format
            # the ignore: torch's overloads of Module.to omit memory_format next to a device, which Module.to accepts
            net.to(runtime.device, memory_format=layout)  # type: ignore[call-overload]
            net.eval()
            calibration = self._calibration if self.calibration_inputs else None
            self._engine = inference.build(name, net, runtime, calibration)
            log.info("RFNet inference engine: %s (%s requested, %s)", name, self.inference, runtime.device)
        return self._engine

    def _calibration(self, size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """The calibration images as network inputs of `size` (height, width), batch 1 each."""
        from controller.algorithms.rfnet import data as rfdata

        stats = self._inference_stats()
        inputs = []
        for paths in self.calibration_inputs:
            # only the inputs are read (no label): the label and index fields just need a value
            sample = Sample(tuple(Path(p) for p in paths), Path(paths[0]), Path(paths[0]), 0)
            arrays = rfdata.resize(rfdata.read_arrays(sample, use_depth=self.use_depth, with_label=False), *size)
            rgb, depth = rfdata.network_input(arrays, stats)
            inputs.append((rgb[None], None if depth is None else depth[None]))
        return inputs

    def _forward(
        self,
        engine: Engine,
        chunk: list[Any],
        size: tuple[int, int],
        stats: DepthStats | None,
        runtime: Runtime,
        confidence: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        import torch
        import torch.nn.functional as F

        from controller.algorithms.rfnet import data as rfdata

        scaled = rfdata.scaled_size(size, self.inference_scale)
        inputs = [rfdata.network_input(rfdata.resize(a, *scaled), stats) for a in chunk]
        layout = torch.channels_last if runtime.channels_last else torch.contiguous_format
        rgb = torch.from_numpy(np.stack([i[0] for i in inputs])).to(runtime.device).contiguous(memory_format=layout)
        depth = None
        if self.use_depth:
            # with use_depth every input has a disparity: the filter narrows the type and drops nothing
            depths = [i[1] for i in inputs if i[1] is not None]
            depth = torch.from_numpy(np.stack(depths)).to(runtime.device).contiguous(memory_format=layout)
        logits = engine(rgb, depth)
        if tuple(logits.shape[-2:]) != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        labels = logits.argmax(dim=1).to(torch.uint8).cpu().numpy()
        conf = None
        if confidence:
            # max softmax probability = 1 / sum_c exp(l_c - max_c l_c)
            top = logits.max(dim=1, keepdim=True).values
            conf = (1.0 / torch.exp(logits - top).sum(dim=1)).mean(dim=(1, 2)).cpu().numpy()
        return labels, conf

    def _inference_stats(self) -> DepthStats | None:
        if not self.use_depth:
            return None
        if self.depth_stats is None:
            from controller.algorithms.rfnet.data import DepthStats

            # untrained model (the lifelong baseline b): no training data seen yet, identity scaling
            return DepthStats(0.0, 1.0, 0)
        return self.depth_stats

    # ------------------------------------------------------------ persistence

    def _payload(self) -> dict[str, Any]:
        assert self.net is not None
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "num_classes": self.num_classes,
            "use_depth": self.use_depth,
            "depth_stats": None if self.depth_stats is None else self.depth_stats.to_dict(),
            "trained_iterations": self.trained_iterations,
            "history": list(self.history),
            "calibration_inputs": [list(paths) for paths in self.calibration_inputs],
            "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
        }

    def num_parameters(self) -> int:
        """Learnable parameters of the network (23.7 M for RFNet with ResNet-18 encoders); 0 before training."""
        if self.net is None:
            return 0
        from controller.algorithms.rfnet.model import count_parameters

        return count_parameters(self.net)

    def save(self, model_path: str | Path) -> Path:
        """Write ``<model_path>.pt`` (weights, label space, disparity statistics) atomically."""
        from controller.algorithms.rfnet.training import atomic_save

        if self.net is None:
            raise ValueError("cannot save an RFNetSegmenter that was never trained or loaded")
        path = Path(model_path)
        if path.suffix != ".pt":
            path = path.with_suffix(".pt")
        return atomic_save(self._payload(), path)

    def load(self, model_url: str | Path) -> None:
        import torch

        from controller.algorithms.rfnet.data import DepthStats
        from controller.algorithms.rfnet.model import RFNet

        path = Path(model_url)
        if not path.is_file() and path.suffix != ".pt":
            path = path.with_suffix(".pt")
        if not path.is_file():
            raise FileNotFoundError(f"RFNet model file not found: {path}")
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{path}: not an RFNetSegmenter model file (expected format {FORMAT!r})")
        if payload.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: model file version {payload.get('version')} is not the supported {FORMAT_VERSION}"
            )
        if bool(payload["use_depth"]) != self.use_depth:
            raise ValueError(
                f"{path}: the model was trained with use_depth={payload['use_depth']} "
                f"but this RFNetSegmenter has use_depth={self.use_depth}"
            )
        # built on the meta device, uninitialised, then given the file's tensors: the random initialisation the
        # file overwrites took ~0.4 s per load, most of a knowledge-base model's load time
        with torch.device("meta"):
            net = RFNet(int(payload["num_classes"]), with_depth=self.use_depth, init_weights=False)
        net.load_state_dict(payload["state_dict"], strict=True, assign=True)
        net.eval()
        self.net, self.num_classes = net, int(payload["num_classes"])
        stats = payload.get("depth_stats")
        self.depth_stats = None if stats is None else DepthStats.from_dict(stats)
        self.trained_iterations = int(payload.get("trained_iterations", 0))
        self.history = list(payload.get("history", []))
        self.calibration_inputs = [tuple(paths) for paths in payload.get("calibration_inputs", [])]
        self._engine, self._eager_pixels = None, 0


def _calibration_choice(samples: Sequence[Sample]) -> list[tuple[str, ...]]:
    """Input paths of up to CALIBRATION_IMAGES samples spread evenly over `samples` (the same ones every run)."""
    from controller.algorithms.rfnet.inference import CALIBRATION_IMAGES
    from controller.paradigms.qualitative import spread

    return [tuple(str(p) for p in samples[i].inputs) for i in spread(len(samples), CALIBRATION_IMAGES)]


def _positive(name: str, value: float | int | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
