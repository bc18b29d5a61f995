"""Training RFNet: device/precision choice, optimiser groups, cosine schedule, class weights, the loop.

Optimiser (RFNet / SwiftNet): Adam with two parameter groups,
    encoder (both trunks + attention):  lr,              weight decay wd
    decoder (SPP + upsampling + head):  lr * f,          weight decay wd * f      (f = decoder_lr_factor, 4)
Schedule, per iteration t of T (no warm-up, decays to 0):
    lr_t = lr * 0.5 * (1 + cos(pi * t / T))
Loss: cross-entropy with ignore index, optionally class-weighted (ENet weights, as RFNet):
    w_c = 1 / ln(1.02 + f_c),   f_c = pixels of class c / valid pixels of the training labels
    loss = sum_i w_{y_i} * (-log p_i[y_i]) / sum_i w_{y_i}      over non-ignored pixels i
(RFNet further divides by the batch size, which only rescales the learning rate; not done here.)

Determinism: the batch order and every augmentation draw are functions of (seed, round, position in
the sample stream), independent of data-loader workers, so a run is repeatable; on the CPU it is
bit-identical. On CUDA cuDNN is put in deterministic mode (bilinear upsampling's backward still
uses atomics, so GPU runs agree to rounding).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from controller import fsio
from controller.algorithms.rfnet.data import Augmentation, DepthStats, clean_label, network_input, read_arrays
from controller.algorithms.rfnet.model import RFNet
from controller.datasets.images import read_label
from controller.datasets.index import Sample

log = logging.getLogger(__name__)

AMP_CHOICES = ("auto", "off", "bf16", "fp16")


@dataclass(frozen=True)
class Runtime:
    """Where and how the network runs: device, autocast dtype (None = fp32), memory format."""

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool

    def autocast(self) -> torch.autocast:
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        )

    def describe(self) -> str:
        precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]
        layout = "channels_last" if self.channels_last else "contiguous"
        return f"{self.device} {precision} {layout}"


def select_runtime(device: str, amp: str = "auto", channels_last: str | bool = "auto") -> Runtime:
    """Mixed precision and channels_last where the device supports them.

    amp "auto": CUDA -> bf16 if the GPU supports it, else fp16 (with loss scaling); CPU -> fp32.
    Why not bf16 on a CPU with native bf16 (AVX512-BF16/AMX): it is faster there (measured 1.8-2.3x,
    docs/rfnet.md), but the numbers would then depend on the CPU model and short CPU runs lose
    accuracy; ask for it with amp "bf16". channels_last "auto": on (cuDNN and oneDNN both prefer it;
    measured 1.1-1.7x on the CPU).
    """
    target = torch.device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {', '.join(AMP_CHOICES)}, got {amp!r}")
    dtype: torch.dtype | None
    if amp == "auto":
        dtype = None
        if target.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    elif amp == "off":
        dtype = None
    elif amp == "bf16":
        dtype = torch.bfloat16
    else:
        if target.type != "cuda":
            raise ValueError("amp 'fp16' needs a CUDA device; use 'bf16' or 'off' on the CPU")
        dtype = torch.float16
    if channels_last == "auto":
        layout = True
    elif isinstance(channels_last, bool):
        layout = channels_last
    else:
        raise ValueError(f"channels_last must be true, false or 'auto', got {channels_last!r}")
    return Runtime(target, dtype, layout)


def class_weights(samples: Sequence[Sample], num_classes: int, ignore_index: int) -> np.ndarray:
    """ENet weights w_c = 1 / ln(1.02 + f_c) from the pixel frequencies of the training labels."""
    counts = np.zeros(num_classes, np.int64)
    for sample in samples:
        label = read_label(sample.label)
        label = label[(label < num_classes) & (label != ignore_index)]
        counts += np.bincount(label, minlength=num_classes)[:num_classes]
    total = counts.sum()
    frequency = counts / total if total else np.zeros(num_classes)
    return (1.0 / np.log(1.02 + frequency)).astype(np.float32)


def make_optimizer(
    model: RFNet, learning_rate: float, decoder_lr_factor: float, weight_decay: float
) -> torch.optim.Adam:
    encoder = [p for m in model.encoder_modules() for p in m.parameters()]
    decoder = [p for m in model.decoder_modules() for p in m.parameters()]
    return torch.optim.Adam(
        [
            {"params": encoder, "lr": learning_rate, "weight_decay": weight_decay, "name": "encoder"},
            {
                "params": decoder,
                "lr": learning_rate * decoder_lr_factor,
                "weight_decay": weight_decay * decoder_lr_factor,
                "name": "decoder",
            },
        ]
    )


def cosine_factor(step: int, total: int) -> float:
    """0.5 * (1 + cos(pi * step / total)): 1 at the start, 0 after the last step."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


def batch_plan(count: int, batch_size: int, iterations: int, seed: int, round_: int) -> list[list[tuple[int, int]]]:
    """Batches of (sample index, stream position): consecutive epochs of seeded permutations.

    The stream position seeds the sample's augmentation, so a batch is the same with any number of
    loader workers. A dataset smaller than the batch simply contributes several views per batch.
    """
    rng = np.random.default_rng([seed, round_, 0x5EED])
    needed = batch_size * iterations
    order: list[int] = []
    while len(order) < needed:
        order.extend(int(i) for i in rng.permutation(count))
    stream = list(enumerate(order[:needed]))
    return [[(index, position) for position, index in stream[i : i + batch_size]] for i in range(0, needed, batch_size)]


Item = tuple[np.ndarray, np.ndarray | None, np.ndarray]
"""One training crop: normalised RGB, normalised disparity (None without depth), label."""


class TrainingSet(Dataset[Item]):
    """Augmented, normalised crops; item key = (sample index, stream position)."""

    def __init__(
        self,
        samples: Sequence[Sample],
        augmentation: Augmentation,
        stats: DepthStats | None,
        num_classes: int,
        ignore_index: int,
        seed: int,
        round_: int,
    ) -> None:
        self.samples = list(samples)
        self.augmentation = augmentation
        self.stats = stats
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.seed = seed
        self.round = round_

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> Item:
        index, position = key
        rng = np.random.default_rng([self.seed, self.round, position])
        arrays = read_arrays(self.samples[index], use_depth=self.stats is not None, with_label=True)
        arrays = self.augmentation(arrays, rng, self.ignore_index)
        rgb, depth = network_input(arrays, self.stats)
        assert arrays.label is not None
        return rgb, depth, clean_label(arrays.label, self.num_classes, self.ignore_index)


Batch = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]


def _collate(items: list[Item]) -> Batch:
    rgb = torch.from_numpy(np.stack([i[0] for i in items]))
    # a TrainingSet gives all its items a disparity or none: the filter narrows the type and drops nothing
    depth = None if items[0][1] is None else torch.from_numpy(np.stack([i[1] for i in items if i[1] is not None]))
    label = torch.from_numpy(np.stack([i[2] for i in items]).astype(np.int64))
    return rgb, depth, label


@dataclass(frozen=True)
class TrainConfig:
    iterations: int
    batch_size: int
    learning_rate: float
    decoder_lr_factor: float
    weight_decay: float
    augmentation: Augmentation
    use_class_weights: bool = True
    workers: int = 0
    log_every: int = 50
    checkpoint_every: int = 0


@dataclass(frozen=True)
class TrainSummary:
    iterations: int
    seconds: float
    images_per_second: float
    final_loss: float


def train(
    model: RFNet,
    samples: Sequence[Sample],
    stats: DepthStats | None,
    config: TrainConfig,
    runtime: Runtime,
    *,
    seed: int,
    round_: int,
    num_classes: int,
    ignore_index: int,
    checkpoint: Callable[[dict[str, Any]], Path] | None = None,
) -> TrainSummary:
    """Run `config.iterations` optimiser steps on `samples`; the model is left in eval mode."""
    if runtime.device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    weights = None
    if config.use_class_weights:
        weights = torch.from_numpy(class_weights(samples, num_classes, ignore_index)).to(runtime.device)
    optimizer = make_optimizer(model, config.learning_rate, config.decoder_lr_factor, config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: cosine_factor(step, config.iterations))
    scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.amp_dtype == torch.float16)
    dataset = TrainingSet(samples, config.augmentation, stats, num_classes, ignore_index, seed, round_)
    loader = DataLoader(
        dataset,
        batch_sampler=batch_plan(len(dataset), config.batch_size, config.iterations, seed, round_),
        num_workers=config.workers,
        collate_fn=_collate,
        pin_memory=runtime.device.type == "cuda",
        multiprocessing_context="spawn" if config.workers > 0 else None,
    )
    layout = torch.channels_last if runtime.channels_last else torch.contiguous_format
    # the ignore: torch's overloads of Module.to omit memory_format next to a device, which Module.to accepts
    model.to(runtime.device, memory_format=layout)  # type: ignore[call-overload]
    model.train()
    started = time.perf_counter()
    recent: list[float] = []
    step = 0
    for step, (rgb, depth, label) in enumerate(loader, start=1):
        rgb, depth, label = _to_device(rgb, depth, label, runtime)
        if not bool((label != ignore_index).any()):
            log.debug("iteration %d: every pixel of the batch is ignored; skipped", step)
            schedule.step()
            continue
        with runtime.autocast():
            logits = model(rgb, depth)
        loss = F.cross_entropy(logits.float(), label, weight=weights, ignore_index=ignore_index)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward is unannotated
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        recent = (recent + [float(loss.detach())])[-10:]
        if config.log_every and (step % config.log_every == 0 or step == config.iterations):
            elapsed = time.perf_counter() - started
            log.info(
                "round %d iteration %d/%d: loss %.4f, encoder lr %.2e, %.2f images/s",
                round_,
                step,
                config.iterations,
                float(np.mean(recent)),
                optimizer.param_groups[0]["lr"],
                step * config.batch_size / elapsed,
            )
        if checkpoint is not None and config.checkpoint_every and step % config.checkpoint_every == 0:
            checkpoint({"iteration": step, "optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict()})
    model.eval()
    seconds = time.perf_counter() - started
    return TrainSummary(
        step, seconds, step * config.batch_size / max(seconds, 1e-9), float(np.mean(recent)) if recent else float("nan")
    )


def _to_device(
    rgb: torch.Tensor, depth: torch.Tensor | None, label: torch.Tensor, runtime: Runtime
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    layout = torch.channels_last if runtime.channels_last else torch.contiguous_format
    blocking = runtime.device.type != "cuda"
    rgb = rgb.to(runtime.device, non_blocking=not blocking).contiguous(memory_format=layout)
    if depth is not None:
        depth = depth.to(runtime.device, non_blocking=not blocking).contiguous(memory_format=layout)
    return rgb, depth, label.to(runtime.device, non_blocking=not blocking)


def atomic_save(payload: dict[str, Any], path: Path) -> Path:
    """torch.save through a temporary sibling + rename: a reader never sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with fsio.atomic_file(path) as handle:
        torch.save(payload, handle)
    return path
