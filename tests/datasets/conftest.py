"""Fixtures for the dataset tests: a real HTTP server on 127.0.0.1, archive builders, an isolated cache.

Every test runs with the cache, the user catalog and the credential variables pointed at temporary
places (``isolated_env``), so nothing reads or writes ``~/.cache`` or ``~/.config``.
"""

from __future__ import annotations

import io
import os
import socket
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.datasets.download import RetryPolicy
from tests.datasets.dataset_server import FileServer

REPO = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.05, connect_timeout=2.0, read_timeout=1.0)
"""Retries without real waiting, so failure paths stay fast."""


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Cache and config under tmp_path; no credentials or endpoints from the developer's shell."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("IANVS_LAB_DATA_CACHE", str(cache))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for name in (
        "IANVS_LAB_CATALOG",
        "IANVS_LAB_CREDENTIALS_FILE",
        "IANVS_LAB_DOWNLOAD_RETRIES",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "OBS_ACCESS_KEY_ID",
        "OBS_SECRET_ACCESS_KEY",
        "OBS_SECURITY_TOKEN",
        "OBS_ENDPOINT",
        "KAGGLE_USERNAME",
        "KAGGLE_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    return cache


@pytest.fixture
def server() -> Iterator[FileServer]:
    srv = FileServer().start()
    yield srv
    srv.stop()


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking bytes (a counter hashed in 32-byte blocks)."""
    import hashlib

    blocks = (hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range((size + 31) // 32))
    return b"".join(blocks)[:size]


def sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# --- archives -----------------------------------------------------------------------------------

Entry = tuple[str, bytes]


def make_zip(
    path: Path, files: dict[str, bytes], *, symlinks: dict[str, str] | None = None, stored: bool = False
) -> Path:
    """A zip with regular files and (unix-mode) symlink entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            info.compress_type = method
            zf.writestr(info, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], compression: str = "") -> Path:
    """A tar (compression '', 'gz', 'bz2' or 'xz') of (name, data) files and ready-made TarInfo entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, f"w:{compression}" if compression else "w") as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = 1_700_000_000
                tf.addfile(info, io.BytesIO(data))
    return path


def tar_link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def zip_folder(folder: Path, out: Path, prefix: str = "", stored: bool = False) -> Path:
    """Zip every file under ``folder`` (sorted, deterministic), names optionally under ``prefix/``."""
    files = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            files[prefix + p.relative_to(folder).as_posix()] = p.read_bytes()
    return make_zip(out, files, stored=stored)


def tree(root: Path) -> set[str]:
    """Every path under ``root`` (files, folders, links), relative — to prove nothing else appeared."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# --- small Cityscapes-format data ---------------------------------------------------------------


def cityscapes_tree(
    root: Path, cities: dict[str, list[str]], *, disparity: bool = True, label: str = "gtFine_labelTrainIds"
) -> Path:
    """Empty-file Cityscapes layout: ``{split: [city, ...]}``, one image per city (index tests read no pixels)."""
    for split, names in cities.items():
        for city in names:
            stem = f"{city}_000000_000019"
            for folder, suffix in (("leftImg8bit", "leftImg8bit"), ("gtFine", label)) + (
                (("disparity", "disparity"),) if disparity else ()
            ):
                p = root / folder / split / city / f"{stem}_{suffix}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(b"")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.002) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def controller_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "controller", *args]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env
