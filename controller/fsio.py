"""Files and folders that appear whole or not at all: atomic file writes and staged folders.

A reader (a resumed run, the leaderboard, a second process, the next `controller dataset pull`) must
never see half a result file or half a dataset, even when the writer is killed or interrupted.
Both helpers build next to the target (a hidden sibling on the same file system, so the final
``rename(2)`` is atomic) and clean up after themselves on every failure, KeyboardInterrupt included::

    write_bytes / write_text / write_json(path, ...)    path holds the old content or the new, never a mix
    with atomic_file(path) as handle: ...               the same for writers that want a file object
    with staged_folder(dest) as stage:                  build a folder in stage.path,
        ...; stage.commit()                             then rename it to dest (no commit: removed)

Only the standard library is imported here: the dataset cache and ``controller validate`` use it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

STAGING_TAG = ".staging-"
OLD_TAG = ".old-"


def temp_sibling(path: Path) -> Path:
    """A hidden, unique name next to ``path``: ``.<name>.<pid>.<random>.tmp``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextmanager
def atomic_file(path: str | Path, *, fsync: bool = True) -> Iterator[BinaryIO]:
    """A binary file object whose content replaces ``path`` when the ``with`` block ends normally.

    On any exception the temporary file is removed and ``path`` keeps its old content (or stays
    absent). ``fsync=True`` flushes the data to disk before the rename, so after a power loss the
    name never points at an empty file (ext4/xfs may otherwise commit the rename first).
    """
    path = Path(path)
    tmp = temp_sibling(path)
    # O_EXCL: never write through a file or symlink someone else put there; 0o666 leaves the
    # permissions to the umask, like a plain open() (mkstemp would make every result 0600)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes, *, fsync: bool = True) -> Path:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_file`); the folder must exist."""
    with atomic_file(path, fsync=fsync) as handle:
        handle.write(data)
    return Path(path)


def write_text(path: str | Path, text: str, *, fsync: bool = True) -> Path:
    """UTF-8 text, written byte for byte (no newline translation: CSV keeps its CRLF)."""
    return write_bytes(path, text.encode("utf-8"), fsync=fsync)


def write_json(
    path: str | Path, data: Any, *, indent: int | None = 2, sort_keys: bool = False, fsync: bool = True
) -> Path:
    """Strict JSON (NaN and infinity are refused, as other languages' parsers do) plus a final newline."""
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, allow_nan=False)
    return write_text(path, text + "\n", fsync=fsync)


# --- staged folders -----------------------------------------------------------------------------


def staging_prefix(dest: Path) -> str:
    return f".{dest.name}{STAGING_TAG}"


@dataclass
class StagedFolder:
    """A folder being built at ``path`` (a hidden sibling of ``dest``) until :meth:`commit` renames it."""

    dest: Path
    path: Path
    committed: bool = False

    @classmethod
    def create(cls, dest: Path) -> StagedFolder:
        dest.parent.mkdir(parents=True, exist_ok=True)
        path = dest.parent / f"{staging_prefix(dest)}{os.getpid()}-{secrets.token_hex(4)}"
        os.mkdir(path, 0o777)  # the umask decides, unlike tempfile.mkdtemp (0700)
        return cls(dest, path)

    def commit(self) -> Path:
        """Rename the staged folder to ``dest``; an existing ``dest`` folder is replaced (renames only).

        Raises FileExistsError when ``dest`` is a file or a symlink: that is never ours to replace.
        """
        dest = self.dest
        if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
            raise FileExistsError(f"{dest} exists and is not a folder")
        old: Path | None = None
        if dest.exists():
            if any(dest.iterdir()):
                old = dest.parent / f".{dest.name}{OLD_TAG}{os.getpid()}-{secrets.token_hex(4)}"
                os.rename(dest, old)
            else:
                dest.rmdir()
        os.rename(self.path, dest)
        self.committed = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return dest

    def abort(self) -> None:
        """Remove the staged folder and everything in it; ``dest`` is untouched."""
        shutil.rmtree(self.path, ignore_errors=True)


@contextmanager
def staged_folder(dest: Path) -> Iterator[StagedFolder]:
    """A :class:`StagedFolder` for ``dest`` that is removed unless committed inside the block."""
    stage = StagedFolder.create(dest)
    try:
        yield stage
    finally:
        if not stage.committed:
            stage.abort()


def remove_stale_staging(dest: Path) -> list[Path]:
    """Delete staged and replaced folders an interrupted run left next to ``dest``.

    Call it while holding ``dest``'s lock: another live process's staging folder looks the same.
    """
    if not dest.parent.is_dir():
        return []
    prefixes = (staging_prefix(dest), f".{dest.name}{OLD_TAG}")
    removed = []
    for entry in sorted(dest.parent.iterdir()):
        if entry.name.startswith(prefixes):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
