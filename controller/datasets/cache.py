"""The managed dataset cache, the marker that makes a dataset folder "present and verified", and locks.

Layout of the cache (default ``${XDG_CACHE_HOME:-~/.cache}/ianvs-lab/datasets``, overridden by
``IANVS_LAB_DATA_CACHE`` or ``--cache``)::

    <cache>/<name>/entry.json             url (redacted), sha256, size, layout, created, last used, copies
    <cache>/<name>/archives/<file>        verified archives, each with <file>.json (sha256, size, source);
                                          <file>.part + .part.json while downloading
    <cache>/<name>/data/                  the extracted dataset when no other path was asked for
    <cache>/.locks/<name>.lock            held while an archive of <name> is downloaded

Every extracted dataset folder (in the cache or at a testenv ``dataset_path``) carries::

    .ianvs-lab-dataset.json    what it was made from (redacted source, sha256 of each archive, layout,
                               index files) - written last, inside the staging folder, so a folder
                               with a marker is complete
    .ianvs-lab-manifest.tsv    "<size>\\t<path>" of every file, for `controller dataset verify`

and is guarded by ``<parent>/.<folder>.lock`` while it is (re)built.

Why a marker instead of re-hashing: "present and verified" must be decided without network and
without reading gigabytes on every run; the archive was verified before extraction, the folder
appeared by an atomic rename, and ``verify`` re-checks sizes (and archives) on demand.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

from controller import fsio
from controller.errors import DatasetError
from controller.userdirs import cache_dir

log = logging.getLogger(__name__)
progress_log = logging.getLogger("controller.progress")

MARKER = ".ianvs-lab-dataset.json"
MANIFEST = ".ianvs-lab-manifest.tsv"
ENTRY = "entry.json"
MARKER_FORMAT = 1
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def default_cache_dir() -> Path:
    """``$IANVS_LAB_DATA_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/ianvs-lab/datasets``."""
    explicit = os.environ.get("IANVS_LAB_DATA_CACHE")
    if explicit:
        return Path(os.path.expanduser(explicit)).absolute()
    return cache_dir("datasets")


def safe_name(text: str) -> str:
    """A cache entry name: letters, digits, '.', '_', '-' only; never empty, never hidden."""
    name = _NAME_RE.sub("-", text).strip("-.") or "dataset"
    return name[:100]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --- locks --------------------------------------------------------------------------------------


@contextlib.contextmanager
def hold_lock(path: Path, what: str, poll: float = 10.0) -> Iterator[None]:
    """Hold an exclusive file lock (flock: released by the kernel even after ``kill -9``).

    While another process holds it, log "waiting for ..." every ``poll`` seconds.
    """
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    waited = 0.0
    while True:
        try:
            lock.acquire(timeout=poll if waited else 0.05)
            break
        except Timeout:
            waited += poll if waited else 0.05
            progress_log.info("waiting for another process that is preparing %s (lock %s)", what, path)
    try:
        yield
    finally:
        lock.release()


def folder_lock(dest: Path) -> Path:
    return dest.parent / f".{dest.name}.lock"


# --- markers ------------------------------------------------------------------------------------


@dataclass
class Part:
    source: str
    """redacted"""
    file: str
    sha256: str
    size: int


@dataclass
class ArchiveRecord:
    """What a dataset folder's marker and a cache entry both record about the archives a dataset came from."""

    name: str
    source: str
    sha256: str
    size: int
    layout: str | None
    parts: list[Part]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        # JSON holds plain dicts; the parts become Part objects again
        return cls(**{**data, "parts": [Part(**p) for p in data.get("parts", [])]})


@dataclass
class Marker(ArchiveRecord):
    train_index: str | None = None
    test_index: str | None = None
    """index file names relative to the dataset folder"""
    created: float = field(default_factory=time.time)
    files: int = 0
    bytes: int = 0
    index: dict[str, Any] = field(default_factory=dict)
    format: int = MARKER_FORMAT


def read_marker(folder: Path) -> Marker | None:
    data = _read_json(folder / MARKER)
    if data is None or data.get("format") != MARKER_FORMAT:
        return None
    try:
        return Marker.from_json(data)
    except TypeError:
        return None


def write_marker(folder: Path, marker: Marker) -> None:
    fsio.write_json(folder / MARKER, marker.to_json(), sort_keys=True)


def combined_sha256(parts: list[Part]) -> str:
    """One archive: its sha256. Several: sha256 of the lines ``<sha256> <file>\\n`` (a digest of digests)."""
    if len(parts) == 1:
        return parts[0].sha256
    import hashlib

    text = "".join(f"{p.sha256} {p.file}\n" for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()


def write_manifest(folder: Path) -> tuple[int, int]:
    """Record every file's size (relative '/'-paths, sorted); returns (files, bytes)."""
    rows: list[tuple[str, int]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        rel = os.path.relpath(dirpath, folder)
        for name in filenames:
            if rel == "." and name in (MARKER, MANIFEST):
                continue
            full = os.path.join(dirpath, name)
            path = name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")
            rows.append((path, os.lstat(full).st_size))
    rows.sort()
    text = "".join(f"{size}\t{path}\n" for path, size in rows)
    fsio.write_text(folder / MANIFEST, text)
    return len(rows), sum(size for _, size in rows)


def verify_manifest(folder: Path, limit: int = 20) -> list[str]:
    """Problems of a dataset folder against its manifest: missing files and size changes (max ``limit``)."""
    problems: list[str] = []
    try:
        lines = (folder / MANIFEST).read_text(encoding="utf-8").splitlines()
    except OSError:
        return [f"{folder}: no {MANIFEST}; not a dataset prepared by ianvs-lab"]
    bad = 0
    for line in lines:
        size_text, _, rel = line.partition("\t")
        try:
            actual = os.lstat(folder / rel).st_size
        except OSError:
            actual = None
        if actual is None or actual != int(size_text):
            bad += 1
            if len(problems) < limit:
                problems.append(
                    f"{folder / rel}: " + ("missing" if actual is None else f"size {actual}, expected {size_text}")
                )
    if bad > limit:
        problems.append(f"... and {bad - limit} more")
    return problems


# --- cached archives ----------------------------------------------------------------------------


def archive_record_path(archive: Path) -> Path:
    """``<archive>.json``: what a cached archive is (sha256, size, redacted source)."""
    return archive.with_name(archive.name + ".json")


def record_archive(archive: Path, sha256: str, source: str) -> None:
    """Write an archive's record; called after the archive got its final name."""
    record = {"sha256": sha256, "size": archive.stat().st_size, "source": source}
    fsio.write_json(archive_record_path(archive), record, indent=None)


def cached_archive_sha256(archive: Path, *, source: str, sha256: str | None, size: int | None) -> str | None:
    """The sha256 of a usable archive already in the cache, else None.

    Usable: the expected ``sha256`` matches when one is given; without one, it came from the same
    (redacted) ``source``. A final name without its record (killed between the two renames) is re-hashed.
    """
    if not archive.is_file():
        return None
    actual_size = archive.stat().st_size
    if size is not None and actual_size != size:
        return None
    try:
        record = json.loads(archive_record_path(archive).read_text())
        digest, recorded_source = str(record["sha256"]), str(record["source"])
        if record.get("size") != actual_size:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        from controller.datasets.download import sha256_of

        digest, recorded_source = sha256_of(archive), source
        record_archive(archive, digest, source)
    if sha256:
        return digest if sha256.lower() == digest else None
    return digest if recorded_source == source else None


def remove_archive(archive: Path) -> None:
    archive.unlink(missing_ok=True)
    archive_record_path(archive).unlink(missing_ok=True)


# --- cache entries ------------------------------------------------------------------------------


@dataclass
class CacheEntry(ArchiveRecord):
    created: float
    last_used: float
    copies: list[str] = field(default_factory=list)
    """dataset folders extracted from this entry"""


class DataCache:
    """The cache folder: entries, archives, default data folders and download locks."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root).absolute() if root else default_cache_dir()

    def entry_dir(self, name: str) -> Path:
        return self.root / name

    def archive_dir(self, name: str) -> Path:
        return self.root / name / "archives"

    def data_dir(self, name: str) -> Path:
        return self.root / name / "data"

    def lock_path(self, name: str) -> Path:
        return self.root / ".locks" / f"{name}.lock"

    def load(self, name: str) -> CacheEntry | None:
        data = _read_json(self.entry_dir(name) / ENTRY)
        if data is None:
            return None
        try:
            return CacheEntry.from_json(data)
        except TypeError:
            return None

    def save(self, entry: CacheEntry) -> None:
        self.entry_dir(entry.name).mkdir(parents=True, exist_ok=True)
        fsio.write_json(self.entry_dir(entry.name) / ENTRY, entry.to_json(), sort_keys=True)

    def entries(self) -> list[CacheEntry]:
        if not self.root.is_dir():
            return []
        found = []
        for child in sorted(self.root.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                entry = self.load(child.name)
                if entry is not None:
                    found.append(entry)
        return found

    def record(self, marker: Marker, folder: Path) -> CacheEntry:
        """Create or update the entry for a dataset folder made from ``marker``'s archives."""
        now = time.time()
        entry = self.load(marker.name)
        if entry is None or entry.sha256 != marker.sha256:
            entry = CacheEntry(
                marker.name, marker.source, marker.sha256, marker.size, marker.layout, marker.parts, now, now
            )
        entry.last_used = now
        entry.layout = marker.layout or entry.layout
        if str(folder) not in entry.copies:
            entry.copies.append(str(folder))
        entry.copies = [c for c in entry.copies if (read_marker(Path(c)) or _NO_MARKER).sha256 == entry.sha256]
        self.save(entry)
        return entry

    def touch(self, name: str) -> None:
        entry = self.load(name)
        if entry is not None:
            entry.last_used = time.time()
            try:
                self.save(entry)
            except OSError:  # a read-only cache must not stop a run
                pass

    def archive_bytes(self, name: str) -> int:
        folder = self.archive_dir(name)
        if not folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())

    def remove(self, name: str) -> list[str]:
        """Delete the entry, its archives and its cache-owned data; return copies left outside the cache."""
        entry = self.load(name)
        folder = self.entry_dir(name)
        if entry is None and not folder.exists():
            raise DatasetError(f"no cache entry named {name!r} in {self.root}")
        with hold_lock(self.lock_path(name), name):
            shutil.rmtree(folder, ignore_errors=True)
        outside = [
            c for c in (entry.copies if entry else []) if not Path(c).is_relative_to(folder) and Path(c).exists()
        ]
        return outside


_NO_MARKER = Marker("", "", "", 0, None, [])
