"""RFNet inference engines side by side: speed, peak memory and mIoU cost, on this machine's CPU or a GPU.

Usage:
    .venv/bin/python benchmarks/rfnet_bench.py [--device cpu|cuda] [--variants eager-nchw,eager,frozen,...]
        [--sizes 1024x512,2048x1024] [--batches 1,8] [--rounds 3] [--warmup 1] [--threads N]
        [--accuracy-data DIR | --no-accuracy] [--accuracy-iterations 80] [--accuracy-size 512x256]
        [--accuracy-test-per-city 8]
        [--json PATH]

Speed: for every input size and batch, one worker process per variant builds its engine (the build time is
printed), warms up, and then the variants take turns, one timed forward pass each per round, so that a
machine's load drifts over all of them alike. Reported: images/s (median over rounds), the ratio to
``eager-nchw`` (the network as trained, fp32, NCHW: the speed of the original RFNet code), and the process's
peak resident memory during the timed passes (CUDA: peak allocated memory). Inputs are random; weights are
random with non-trivial batch-norm statistics (speed does not depend on them).

Accuracy: a model trained for a few iterations on a fixed synthetic data set (or the data set given with
``--accuracy-data``: a folder with train-index.txt and test-index.txt, e.g. the demo's) predicts the test
split through ``RFNetSegmenter`` with each variant; mIoU and its difference to eager-nchw in points. The
trained model is cached under $XDG_CACHE_HOME/ianvs-lab/bench/.

Variants: eager-nchw, eager (channels_last), bf16-autocast (eager under autocast, as the released code
runs bf16), and the engines of controller/algorithms/rfnet/inference.py: frozen, compiled, onnx, bf16,
int8; pt2e-int8 (speed only: PyTorch's PT2E quantisation with the x86 Inductor quantiser, needs torchao).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CPU_VARIANTS = "eager-nchw,eager,frozen,compiled,onnx,bf16,int8"
GPU_VARIANTS = "eager-nchw,eager,bf16-autocast,compiled"
# (segmenter hyper-parameters) of each variant the accuracy run can express through RFNetSegmenter
SEGMENTER_SETTINGS: dict[str, dict[str, Any]] = {
    "eager-nchw": {"inference": "eager", "channels_last": False, "amp": "off"},
    "eager": {"inference": "eager", "channels_last": True, "amp": "off"},
    "bf16-autocast": {"inference": "eager", "channels_last": True, "amp": "bf16"},
    "frozen": {"inference": "frozen", "amp": "off"},
    "compiled": {"inference": "compiled", "amp": "off"},
    "onnx": {"inference": "onnx", "amp": "off"},
    "bf16": {"inference": "bf16", "amp": "off"},
    "int8": {"inference": "int8", "amp": "off"},
}
# interleaving keeps every variant's worker alive at once; above this many input pixels per batch the
# workers run one after the other instead (memory: about 0.4 KiB per pixel each in fp32)
INTERLEAVE_MAX_PIXELS = 8 * 1024 * 512


def _parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        width, height = item.lower().split("x")
        sizes.append((int(width), int(height)))
    return sizes


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> bool:
    """Reset the peak resident set size (VmHWM) to the current one (Linux); False where the kernel cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# ---------------------------------------------------------------------------- worker side (one variant)


def _engine(variant: str, device: str, batch: int, size: tuple[int, int], threads: int | None) -> tuple[Any, tuple]:
    """(callable running one forward pass, inputs) for `variant`, built and ready."""
    import torch

    from controller.algorithms.rfnet import inference
    from controller.algorithms.rfnet.model import RFNet
    from controller.algorithms.rfnet.training import select_runtime

    torch.manual_seed(0)
    net = RFNet(19).eval()
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    net.to(device)
    width, height = size
    rgb = torch.randn(batch, 3, height, width, device=device)
    depth = torch.randn(batch, 1, height, width, device=device)

    def calibration(hw: tuple[int, int]) -> list:
        return [(torch.randn(1, 3, *hw).numpy(), torch.randn(1, 1, *hw).numpy()) for _ in range(4)]

    if variant == "pt2e-int8":
        return _pt2e(net, rgb, depth), (rgb, depth)
    settings = SEGMENTER_SETTINGS[variant]
    runtime = select_runtime(device, settings["amp"], settings.get("channels_last", True))
    if runtime.channels_last:
        rgb, depth = (t.contiguous(memory_format=torch.channels_last) for t in (rgb, depth))
        net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    engine = inference.build(settings["inference"], net, runtime, calibration, threads=threads)
    return engine, (rgb, depth)


def _pt2e(net: Any, rgb: Any, depth: Any) -> Any:
    import torch
    import torch._inductor.config as inductor
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as x86
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from controller.algorithms.rfnet.inference import fold_batch_norm

    inductor.freezing = True
    exported = torch.export.export(fold_batch_norm(net), (rgb, depth)).module()
    quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for _ in range(4):
            prepared(torch.randn_like(rgb), torch.randn_like(depth))
    compiled = torch.compile(convert_pt2e(prepared))

    def run(a: Any, b: Any) -> Any:
        with torch.no_grad():
            return compiled(a, b)

    return run


def worker(config: dict) -> int:
    """Build one variant, then answer 'step' (one timed pass: seconds) and 'done' (peak memory) on stdin/stdout."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as controller.algorithms.rfnet does, before torch loads
    import torch

    if config["threads"]:
        torch.set_num_threads(config["threads"])
    cuda = config["device"].startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    started = time.perf_counter()
    engine, inputs = _engine(
        config["variant"], config["device"], config["batch"], tuple(config["size"]), config["threads"]
    )
    with torch.inference_mode():
        for _ in range(max(1, config["warmup"])):  # the first pass builds the graph for this shape
            engine(*inputs)
    sync()
    build_s = time.perf_counter() - started
    peak_from = "timed passes" if _reset_peak_rss() else "start"
    _reply({"ready": True, "build_s": build_s})
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for line in sys.stdin:
        if line.strip() == "step":
            began = time.perf_counter()
            with torch.inference_mode():
                engine(*inputs)
            sync()
            _reply({"seconds": time.perf_counter() - began})
        else:
            peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else _peak_rss_mib()
            _reply({"peak_mib": peak, "peak_from": peak_from})
            return 0
    return 0


def _progress(line: str) -> None:
    """Long runs (2048x1024 batch 8: ~18 minutes on 2 cores) say what they are doing; stderr keeps stdout the table."""
    print(line, file=sys.stderr, flush=True)


def _reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------- parent side


class Worker:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.build_s = float("nan")
        self.error = ""

    def ask(self, command: str | None = None) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError((stderr.strip().splitlines() or ["worker ended without an answer"])[-1][:160])
        answer: dict = json.loads(line)
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def measure_speed(variants: list[str], size: tuple[int, int], batch: int, args: argparse.Namespace) -> list[dict]:
    """Every variant's median time per pass at one input size and batch (workers interleaved or in turn)."""
    base = {"device": args.device, "size": size, "batch": batch, "warmup": args.warmup, "threads": args.threads}
    interleave = batch * size[0] * size[1] <= INTERLEAVE_MAX_PIXELS
    groups = [variants] if interleave else [[v] for v in variants]
    label = f"{size[0]}x{size[1]} b{batch}"
    rows: dict[str, dict] = {}
    for group in groups:
        workers: dict[str, Worker] = {}
        try:
            for variant in group:  # built one at a time: a build's time is its own, not shared with the others'
                item = Worker({**base, "variant": variant})
                try:
                    item.build_s = item.ask()["build_s"]
                    _progress(f"{label}: {variant} built in {item.build_s:.1f} s")
                except RuntimeError as error:
                    rows[variant] = {"variant": variant, "error": str(error)}
                    item.close()
                    continue
                workers[variant] = item
            times: dict[str, list[float]] = {v: [] for v in workers}
            for number in range(1, args.rounds + 1):
                for variant, item in workers.items():
                    times[variant].append(item.ask("step")["seconds"])
                    _progress(f"{label}: round {number}/{args.rounds} {variant} {times[variant][-1]:.2f} s per batch")
            for variant, item in workers.items():
                done = item.ask("done")
                median = statistics.median(times[variant])
                rows[variant] = {
                    "variant": variant,
                    "images_per_s": batch / median,
                    "seconds_per_batch": median,
                    "peak_mib": done["peak_mib"],
                    "peak_from": done["peak_from"],
                    "build_s": item.build_s,
                    "interleaved": interleave,
                }
        finally:
            for item in workers.values():
                item.close()
    return [rows[v] for v in variants if v in rows]


def _cache_root() -> Path:
    from controller.userdirs import cache_dir

    return cache_dir("bench")


def accuracy_worker(config: dict) -> int:
    """Train (or reuse) the accuracy model, then print each variant's mIoU on the test split as JSON."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import hashlib
    import logging

    import numpy as np
    import torch

    from controller.algorithms.rfnet.segmenter import RFNetSegmenter
    from controller.datasets.images import read_label
    from controller.datasets.index import index_checksum, read_index
    from controller.datasets.synth import synthesize
    from controller.metrics.segmentation import mean_iou
    from controller.plugins.context import Context

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    cache = _cache_root()
    width, height = config["size"]
    per_city = config["test_per_city"]
    data = Path(config["data"]) if config["data"] else cache / f"rfnet-accuracy-data-{width}x{height}-{per_city}"
    if not config["data"] and not (data / "test-index.txt").is_file():
        synthesize(data, train_per_city=16, test_per_city=per_city, size=(width, height), seed=11, overwrite=True)
    train, test = read_index(data / "train-index.txt"), read_index(data / "test-index.txt")
    training = {
        "iterations": config["iterations"],
        "batch_size": 4,
        "crop_size": 128,
        "base_size": 160 * height // 256 if not config["data"] else 160,
        "scale_min": 0.75,
        "scale_max": 1.25,
        "learning_rate": 1e-3,
        "log_every": 0,
    }
    key = json.dumps([index_checksum(data / "train-index.txt"), training, torch.__version__], sort_keys=True)
    snapshot = cache / f"rfnet-accuracy-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    context = Context(
        workspace=cache / "workspace", seed=0, round=1, task="bench", num_classes=19, device=config["device"]
    )
    if not snapshot.is_file():
        started = time.perf_counter()
        model = RFNetSegmenter(**training, amp="off")
        model.train(train, context=context)
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        model.save(snapshot)
        print(f"trained the accuracy model in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    labels = [read_label(s.label) for s in test]
    results = {"data": str(data), "test_images": len(test), "size": list(labels[0].shape[::-1]), "variants": {}}
    for variant in config["variants"]:
        if variant not in SEGMENTER_SETTINGS:
            continue
        model = RFNetSegmenter(**training, **SEGMENTER_SETTINGS[variant])
        model.load(snapshot)
        try:
            maps = model.predict(test, context=context)
        except Exception as error:  # noqa: BLE001 - one variant failing is a row of the table, not the end
            results["variants"][variant] = {"error": str(error)[:160]}
            continue
        matrix = np.zeros((19, 19), np.int64)
        for label, prediction in zip(labels, maps):
            keep = label < 19
            matrix += np.bincount(19 * label[keep].astype(np.int64) + prediction[keep], minlength=361).reshape(19, 19)
        results["variants"][variant] = {"miou": mean_iou(matrix)}
    print(json.dumps(results))
    return 0


def measure_accuracy(variants: list[str], args: argparse.Namespace) -> dict:
    config = {
        "device": args.device,
        "variants": variants,
        "data": str(args.accuracy_data.resolve()) if args.accuracy_data else "",
        "iterations": args.accuracy_iterations,
        "size": _parse_sizes(args.accuracy_size)[0],
        "test_per_city": args.accuracy_test_per_city,
    }
    run = subprocess.run(
        [sys.executable, __file__, "--accuracy-worker", json.dumps(config)], capture_output=True, text=True
    )
    if run.returncode != 0:
        return {"error": (run.stderr.strip().splitlines() or ["?"])[-1][:160]}
    for line in run.stderr.splitlines():
        if line.startswith("trained"):
            print(line)
    answer: dict = json.loads(run.stdout.strip().splitlines()[-1])
    return answer


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    model = platform.processor() or "cpu"
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and model in ("", "cpu", platform.processor()):
            model = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}, {os.cpu_count()} logical cores, {' '.join(isa) or 'no AVX2'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", help=f"comma-separated (CPU default {CPU_VARIANTS}; CUDA {GPU_VARIANTS})")
    parser.add_argument("--sizes", default="1024x512,2048x1024", help="inference sizes WxH, comma-separated")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch/onnxruntime threads (0: torch's default)")
    parser.add_argument("--accuracy-data", type=Path, help="folder with train-index.txt and test-index.txt")
    parser.add_argument("--accuracy-iterations", type=int, default=80)
    parser.add_argument("--accuracy-size", default="512x256", help="image size WxH of the synthetic accuracy set")
    parser.add_argument("--accuracy-test-per-city", type=int, default=8, help="test images per city (3 cities)")
    parser.add_argument("--no-accuracy", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--accuracy-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))
    if args.accuracy_worker:
        return accuracy_worker(json.loads(args.accuracy_worker))
    variants = (args.variants or (GPU_VARIANTS if args.device.startswith("cuda") else CPU_VARIANTS)).split(",")
    if variants[0] != "eager-nchw":
        variants = ["eager-nchw", *[v for v in variants if v != "eager-nchw"]]
    unknown = [v for v in variants if v not in SEGMENTER_SETTINGS and v != "pt2e-int8"]
    if unknown:
        parser.error(f"unknown variants {', '.join(unknown)}; known: {', '.join([*SEGMENTER_SETTINGS, 'pt2e-int8'])}")
    print(f"RFNet RGB-D, 19 classes, device: {_device_name(args.device)}")
    print(f"torch threads: {args.threads or 'default'}; OMP_WAIT_POLICY=PASSIVE; load average {os.getloadavg()[0]:.2f}")
    results: dict[str, Any] = {"device": _device_name(args.device), "speed": [], "accuracy": None}
    if not args.no_accuracy:
        accuracy = results["accuracy"] = measure_accuracy(variants, args)
        _print_accuracy(accuracy)
    if not args.no_speed:
        for size in _parse_sizes(args.sizes):
            for batch in (int(b) for b in args.batches.split(",")):
                rows = measure_speed(variants, size, batch, args)
                results["speed"].append({"size": size, "batch": batch, "rows": rows})
                _print_speed(size, batch, rows, results.get("accuracy"))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def _print_accuracy(accuracy: dict) -> None:
    if "error" in accuracy:
        print(f"accuracy run failed: {accuracy['error']}")
        return
    width, height = accuracy["size"]
    print(f"accuracy: {accuracy['test_images']} test images {width}x{height} of {accuracy['data']}")
    reference = accuracy["variants"].get("eager-nchw", {}).get("miou")
    for variant, row in accuracy["variants"].items():
        if "error" in row:
            print(f"- {variant:<14} failed: {row['error']}")
            continue
        delta = "" if reference is None else f"  {100 * (row['miou'] - reference):+.2f} points"
        print(f"- {variant:<14} mIoU {row['miou']:.4f}{delta}")


def _print_speed(size: tuple[int, int], batch: int, rows: list[dict], accuracy: dict | None) -> None:
    reference = next((r["images_per_s"] for r in rows if r["variant"] == "eager-nchw" and "error" not in r), None)
    mious = (accuracy or {}).get("variants", {})
    base_miou = mious.get("eager-nchw", {}).get("miou")
    mode = "interleaved" if any(r.get("interleaved") for r in rows) else "one after the other"
    print(f"\n{size[0]}x{size[1]}, batch {batch} ({mode}, load average {os.getloadavg()[0]:.2f})")
    header = (
        f"{'variant':<14} {'images/s':>9} {'ratio':>6} {'s/batch':>8} {'peak MiB':>9} {'build s':>8} {'mIoU delta':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if "error" in row:
            print(f"{row['variant']:<14} failed: {row['error']}")
            continue
        ratio = f"{row['images_per_s'] / reference:.2f}x" if reference else "?"
        miou = mious.get(row["variant"], {}).get("miou")
        delta = f"{100 * (miou - base_miou):+.2f}" if miou is not None and base_miou is not None else "n/a"
        print(
            f"{row['variant']:<14} {row['images_per_s']:>9.3f} {ratio:>6} {row['seconds_per_batch']:>8.2f}"
            f" {row['peak_mib']:>9.0f} {row['build_s']:>8.1f} {delta:>10}",
            flush=True,
        )


if __name__ == "__main__":
    raise SystemExit(main())
