"""What a result must carry to be reproduced: config hash, data checksums, seed, versions, hardware."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from pathlib import Path
from typing import Any

from controller.plan import CaseSpec, config_hash, file_digest

_PACKAGES = ("ianvs-lab", "numpy", "pillow", "pydantic", "PyYAML", "matplotlib", "torch", "torchvision")


def file_sha256(path: str | Path) -> str:
    return file_digest(path).removeprefix("sha256:")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "processor": _cpu_model(),
    }
    try:
        info["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    torch = sys.modules.get("torch")  # only reported when a plugin already imported it
    if torch is not None and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def provenance(spec: CaseSpec) -> dict[str, Any]:
    env = spec.testenv
    return {
        "config_hash": config_hash(spec),
        "seed": spec.seed,
        "dataset": {
            "train_index": env.train_index,
            "train_index_sha256": file_sha256(env.train_index),
            "test_index": env.test_index,
            "test_index_sha256": file_sha256(env.test_index),
        },
        "versions": package_versions(),
        "hardware": hardware(),
        "command": " ".join(sys.argv),
    }
