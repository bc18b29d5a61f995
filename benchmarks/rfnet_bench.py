"""RFNet speed and memory: inference and training throughput on this machine's CPU or a GPU.

Usage:
    .venv/bin/python benchmarks/rfnet_bench.py [--device cpu|cuda] [--repeats N] [--warmup N]
        [--sizes 1024x512,2048x1024] [--batches 1,8] [--precisions fp32,bf16]
        [--train-crop 768] [--train-batch 8] [--train-iterations N] [--rgb-only] [--contiguous]

Prints one table row per configuration: images/s (median over repeats after warm-up) and the peak
memory per image. Every configuration runs in a fresh subprocess so that its peak memory is its own:
    CUDA: torch.cuda.max_memory_allocated() / batch
    CPU:  (peak resident set size - resident size after building the model) / batch  (getrusage)
Inference = forward pass only (``torch.inference_mode``, autocast for bf16), synchronised on CUDA,
with random inputs, as RFNet's eval.py measures (argmax and data loading excluded). Training =
forward + cross-entropy + backward + Adam step on random crops. Timings on a shared machine are
noisy: the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        width, height = item.lower().split("x")
        sizes.append((int(width), int(height)))
    return sizes


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_one(config: dict) -> dict:
    """Measure one configuration in this process (called in a fresh subprocess)."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as controller.algorithms.rfnet does, before torch loads
    import torch
    import torch.nn.functional as F

    from controller.algorithms.rfnet.model import RFNet
    from controller.algorithms.rfnet.training import make_optimizer

    device = torch.device(config["device"])
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    if cuda:
        torch.backends.cudnn.benchmark = True
    layout = torch.channels_last if config["channels_last"] else torch.contiguous_format
    net = RFNet(19, with_depth=not config["rgb_only"]).to(device, memory_format=layout)
    batch, (width, height) = config["batch"], config["size"]
    dtype = torch.bfloat16 if config["precision"] == "bf16" else None

    def make_inputs() -> tuple:
        rgb = torch.randn(batch, 3, height, width, device=device).contiguous(memory_format=layout)
        if config["rgb_only"]:
            return rgb, None
        return rgb, torch.randn(batch, 1, height, width, device=device).contiguous(memory_format=layout)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    if config["mode"] == "train":
        net.train()
        optimizer = make_optimizer(net, 1e-4, 4.0, 2.5e-5)
        label = torch.randint(0, 19, (batch, height, width), device=device)

        def step() -> None:
            rgb, depth = make_inputs()
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                logits = net(rgb, depth)
            loss = F.cross_entropy(logits.float(), label, ignore_index=255)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    else:
        net.eval()

        def step() -> None:
            rgb, depth = make_inputs()
            with (
                torch.inference_mode(),
                torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
            ):
                net(rgb, depth)

    sync()
    baseline_rss = _rss_bytes()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for _ in range(config["warmup"]):
        step()
    sync()
    seconds = []
    for _ in range(config["repeats"]):
        started = time.perf_counter()
        step()
        sync()
        seconds.append(time.perf_counter() - started)
    if cuda:
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = max(_peak_rss_bytes() - baseline_rss, 0)
    median = statistics.median(seconds)
    return {
        **config,
        "images_per_s": batch / median,
        "seconds_per_batch": median,
        "peak_mib_per_image": peak / batch / 2**20,
    }


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    model = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores"


def _configs(args: argparse.Namespace) -> list[dict]:
    common = {
        "device": args.device,
        "rgb_only": args.rgb_only,
        "channels_last": not args.contiguous,
        "warmup": args.warmup,
        "repeats": args.repeats,
    }
    configs = []
    for precision in args.precisions.split(","):
        for size in _parse_sizes(args.sizes):
            for batch in (int(b) for b in args.batches.split(",")):
                configs.append({**common, "mode": "inference", "precision": precision, "size": size, "batch": batch})
    crop = args.train_crop
    for precision in args.train_precisions.split(","):
        configs.append(
            {
                **common,
                "mode": "train",
                "precision": precision,
                "size": (crop, crop),
                "batch": args.train_batch,
                "repeats": args.train_iterations,
            }
        )
    return configs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="1024x512,2048x1024", help="inference sizes WxH, comma-separated")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--train-crop", type=int, default=768)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-iterations", type=int, default=3)
    parser.add_argument("--train-precisions", default="fp32", help="e.g. fp32,bf16")
    parser.add_argument("--rgb-only", action="store_true")
    parser.add_argument("--contiguous", action="store_true", help="NCHW layout instead of channels_last")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one JSON config
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return 0
    rows = []
    print(f"RFNet {'RGB-only' if args.rgb_only else 'RGB-D'}, 19 classes, device: {_device_name(args.device)}")
    layout = "contiguous (NCHW)" if args.contiguous else "channels_last"
    print(f"load average before: {os.getloadavg()[0]:.2f}; torch threads: default; OMP_WAIT_POLICY=PASSIVE; {layout}")
    header = f"{'mode':<10} {'precision':<9} {'input WxH':>10} {'batch':>5} {'images/s':>9} {'s/batch':>8} {'peak MiB/img':>12}"
    print(header)
    print("-" * len(header))
    for config in _configs(args):
        run = subprocess.run([sys.executable, __file__, "--one", json.dumps(config)], capture_output=True, text=True)
        width, height = config["size"]
        label = f"{config['mode']:<10} {config['precision']:<9} {width:>5}x{height:<4} {config['batch']:>5}"
        if run.returncode != 0:
            reason = (run.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{label} failed: {reason[:80]}")
            continue
        row = json.loads(run.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{label} {row['images_per_s']:>9.3f} {row['seconds_per_batch']:>8.2f} {row['peak_mib_per_image']:>12.0f}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"device": _device_name(args.device), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
