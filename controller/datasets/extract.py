"""Safe archive extraction: zip, tar, tar.gz, tar.bz2, tar.xz into one folder and nowhere else.

Refused (the whole archive; the caller removes the folder, so nothing is left behind):

- entry names that are absolute (``/x``, ``C:x``), contain a ``..`` component or a NUL byte;
- symlinks whose target is absolute, leaves the folder, or passes through another symlink;
  an entry whose path goes through a symlink entry;
- hardlinks whose target is outside the folder or is not a regular file extracted before;
- device files, FIFOs and other special entries; encrypted zip entries;
- archive bombs: more than ``max_members`` entries, more than ``max_total_bytes`` uncompressed, or
  ``uncompressed > max_ratio * archive_bytes`` once past ``ratio_grace_bytes``. Zip declares sizes up
  front and is checked before a byte is written (and zipfile never reads past a declared size); tar
  is checked entry by entry as the stream goes.

Why symlinks are created last: while regular files are written no symlink exists in the folder, so
no write can be redirected; a symlink is then accepted only if its target, resolved lexically, stays
inside and none of the target's parent components is itself a symlink, which makes the lexical
resolution the real one.

Format is read from magic bytes, not from the name (URLs often lack an extension). File modes,
owners and times in the archive are ignored: data sets need none, and modes such as 000 on a folder
would break the extraction itself.
"""

from __future__ import annotations

import errno
import logging
import lzma
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from controller import fsio
from controller.errors import DatasetError

log = logging.getLogger(__name__)

COPY_CHUNK = 1 << 20
FORMATS = ("zip", "tar", "tar.gz", "tar.bz2", "tar.xz")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_MAX_LINK_TARGET = 4096


@dataclass(frozen=True)
class ExtractLimits:
    """Archive-bomb bounds (configurable per call, and by the ``--max-*`` flags of the CLI)."""

    max_total_bytes: int = 1 << 40
    """1 TiB uncompressed"""
    max_ratio: float = 200.0
    """uncompressed / archive size; deflate tops out near 1032, real image data sets are near 1"""
    ratio_grace_bytes: int = 64 << 20
    """the ratio bound applies once this much is unpacked (small text archives compress well)"""
    max_members: int = 5_000_000

    def budget(self, archive_bytes: int) -> int:
        """Largest allowed uncompressed total: min(max_total, max(grace, ratio * archive size))."""
        return int(min(self.max_total_bytes, max(self.ratio_grace_bytes, self.max_ratio * archive_bytes)))


@dataclass
class ExtractStats:
    files: int = 0
    bytes: int = 0
    links: int = 0
    dirs: int = 0
    written: list[str] = field(default_factory=list, repr=False)


class UnsafeArchive(DatasetError):
    """The archive tried to write outside its folder, or is a bomb, or holds special files."""


def archive_format(path: Path) -> str:
    """'zip', 'tar', 'tar.gz', 'tar.bz2' or 'tar.xz' from the first bytes of the file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(262 + 8)
    except OSError as exc:
        raise DatasetError(f"cannot read archive: {exc.strerror or exc}", file=path) from None
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[:3] == b"BZh":
        return "tar.bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "tar.xz"
    if head[257:262] == b"ustar" or (head and tarfile.is_tarfile(path)):
        return "tar"
    raise DatasetError(f"not a supported archive (expected one of {', '.join(FORMATS)})", file=path)


def is_archive(path: Path) -> bool:
    try:
        archive_format(path)
    except DatasetError:
        return False
    return True


def declared_size(path: Path) -> int | None:
    """Uncompressed size a zip declares (sum of entries); None for tar formats (unknown up front)."""
    if archive_format(path) != "zip":
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            return sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"corrupt zip archive: {exc}", file=path) from None


# --- names --------------------------------------------------------------------------------------


def safe_relpath(name: str, archive: Path) -> PurePosixPath | None:
    """The entry's path relative to the folder, or UnsafeArchive; None for the root entry itself."""
    if "\x00" in name:
        raise UnsafeArchive(f"entry name contains a NUL byte: {name!r}", file=archive)
    clean = name.replace("\\", "/")
    if clean.startswith("/") or _DRIVE_RE.match(clean):
        raise UnsafeArchive(f"entry has an absolute path: {name!r}", file=archive)
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"entry path contains '..': {name!r}", file=archive)
    return PurePosixPath(*parts) if parts else None


class _Writer:
    """Materialises entries under ``root``: regular files and folders at once, symlinks at the end."""

    def __init__(self, root: Path, archive: Path, limits: ExtractLimits, archive_bytes: int) -> None:
        self.root, self.archive, self.limits = root, archive, limits
        self.budget = limits.budget(archive_bytes)
        self.archive_bytes = archive_bytes
        self.stats = ExtractStats()
        self.members = 0
        self.made_dirs: set[PurePosixPath] = {PurePosixPath()}
        self.files: set[PurePosixPath] = set()
        self.symlinks: dict[PurePosixPath, str] = {}

    # -- checks
    def count_member(self) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise UnsafeArchive(f"more than {self.limits.max_members} entries (archive bomb?)", file=self.archive)

    def charge(self, n: int) -> None:
        self.stats.bytes += n
        if self.stats.bytes > self.budget:
            raise UnsafeArchive(self.bomb_message(self.stats.bytes), file=self.archive)

    def bomb_message(self, total: int) -> str:
        return (
            f"uncompressed size exceeds the allowed {self.budget} bytes ({total}+ bytes from a "
            f"{self.archive_bytes}-byte archive; limits: ratio {self.limits.max_ratio:g}, "
            f"total {self.limits.max_total_bytes} bytes) - archive bomb?"
        )

    def no_symlink_on_path(self, rel: PurePosixPath, name: str) -> None:
        for parent in list(rel.parents)[:-1]:
            if parent in self.symlinks:
                raise UnsafeArchive(
                    f"entry {name!r} would be written through the symlink {str(parent)!r}", file=self.archive
                )

    # -- materialise
    def ensure_dir(self, rel: PurePosixPath) -> None:
        if rel in self.made_dirs:
            return
        if rel in self.symlinks or rel in self.files:
            raise UnsafeArchive(f"folder {str(rel)!r} collides with a file or symlink entry", file=self.archive)
        self.ensure_dir(rel.parent)
        path = self.root / rel
        try:
            os.mkdir(path)
        except FileExistsError:
            if not path.is_dir() or path.is_symlink():
                raise UnsafeArchive(f"folder {str(rel)!r} collides with a file entry", file=self.archive) from None
        self.made_dirs.add(rel)
        self.stats.dirs += 1

    def target(self, rel: PurePosixPath, name: str) -> Path:
        """Prepare writing a non-folder entry at ``rel``: parents exist, no old file stays linked."""
        self.no_symlink_on_path(rel, name)
        if rel in self.made_dirs:
            raise UnsafeArchive(f"file entry {name!r} collides with a folder", file=self.archive)
        self.ensure_dir(rel.parent)
        path = self.root / rel
        self.symlinks.pop(rel, None)
        if rel in self.files:
            path.unlink()  # never write through an earlier entry's inode (it may be hard-linked)
            self.files.discard(rel)
        return path

    def write_file(self, rel: PurePosixPath, name: str, stream: IO[bytes], declared: int) -> None:
        path = self.target(rel, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        written = 0
        try:
            while True:
                chunk = stream.read(COPY_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if written > declared:
                    raise UnsafeArchive(
                        f"entry {name!r} is larger than the {declared} bytes it declares", file=self.archive
                    )
                self.charge(len(chunk))
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        self.files.add(rel)
        self.stats.files += 1
        self.stats.written.append(rel.as_posix())

    def hardlink(self, rel: PurePosixPath, name: str, target_name: str) -> None:
        target = safe_relpath(target_name, self.archive) if target_name else None
        if target is None:
            raise UnsafeArchive(
                f"hardlink {name!r} points outside the archive folder: {target_name!r}", file=self.archive
            )
        if target not in self.files:
            raise UnsafeArchive(
                f"hardlink {name!r} -> {target_name!r}: the target is not a regular file extracted before it",
                file=self.archive,
            )
        path = self.target(rel, name)
        try:
            os.link(self.root / target, path)
        except OSError:  # filesystems without hardlinks: a copy serves data sets equally well
            shutil.copyfile(self.root / target, path)
        self.files.add(rel)
        self.stats.links += 1
        self.stats.written.append(rel.as_posix())

    def symlink(self, rel: PurePosixPath, name: str, link_target: str) -> None:
        self.no_symlink_on_path(rel, name)
        if not link_target or "\x00" in link_target:
            raise UnsafeArchive(f"symlink {name!r} has an empty or invalid target", file=self.archive)
        if link_target.startswith("/") or _DRIVE_RE.match(link_target):
            raise UnsafeArchive(f"symlink {name!r} points to an absolute path: {link_target!r}", file=self.archive)
        resolved: list[str] = list(rel.parent.parts)
        for part in link_target.replace("\\", "/").split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    raise UnsafeArchive(
                        f"symlink {name!r} points outside the archive folder: {link_target!r}", file=self.archive
                    )
                resolved.pop()
            else:
                resolved.append(part)
        if rel in self.made_dirs:
            raise UnsafeArchive(f"symlink {name!r} collides with a folder", file=self.archive)
        if rel in self.files:  # a later symlink entry replaces an earlier file of the same name
            (self.root / rel).unlink()
            self.files.discard(rel)
        self.symlinks[rel] = link_target

    def passes_through_symlink(self, rel: PurePosixPath, link_target: str) -> PurePosixPath | None:
        """The first symlink entry the target path walks through (before its last component), if any.

        Lexical resolution equals the real one only when no intermediate component is a symlink:
        ``up -> .`` makes ``a/b -> ../up/..`` lexically ``.`` but really the folder's parent.
        """
        parts = [p for p in link_target.replace("\\", "/").split("/") if p not in ("", ".")]
        current = list(rel.parent.parts)
        for i, part in enumerate(parts):
            if part == "..":
                current.pop()  # cannot underflow: symlink() checked the lexical walk
            else:
                current.append(part)
            here = PurePosixPath(*current)
            if i < len(parts) - 1 and here in self.symlinks:
                return here
        return None

    def finish(self) -> ExtractStats:
        """Create the deferred symlinks once every entry, and so every symlink, is known."""
        for rel, link_target in self.symlinks.items():
            through = self.passes_through_symlink(rel, link_target)
            if through is not None:
                raise UnsafeArchive(
                    f"symlink {str(rel)!r} -> {link_target!r} passes through the symlink {str(through)!r}",
                    file=self.archive,
                )
            if rel in self.files or rel in self.made_dirs:
                continue  # a later regular entry replaced it
            path = self.root / rel
            self.ensure_dir(rel.parent)
            os.symlink(link_target, path)
            self.stats.links += 1
        return self.stats


def extract_into(archive: Path, folder: Path, limits: ExtractLimits | None = None) -> ExtractStats:
    """Extract ``archive`` into the existing, empty ``folder``; nothing is written outside it.

    On any error the folder may hold part of the archive: callers extract into a temporary folder
    and delete it on failure (see :func:`staged_folder`). Raises UnsafeArchive / DatasetError.
    """
    limits = limits or ExtractLimits()
    fmt = archive_format(archive)
    writer = _Writer(folder, archive, limits, archive.stat().st_size)
    try:
        if fmt == "zip":
            _extract_zip(archive, writer)
        else:
            _extract_tar(archive, writer)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise DatasetError(f"corrupt {fmt} archive: {exc}", file=archive) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DatasetError(f"disk full while extracting into {folder}", file=archive) from None
        if exc.errno is None:  # bz2 and gzip report bad data as a bare OSError
            raise DatasetError(f"corrupt {fmt} archive: {exc}", file=archive) from None
        raise DatasetError(f"cannot extract: {exc.strerror or exc}", file=archive) from None
    return writer.finish()


def _zip_mode(info: zipfile.ZipInfo) -> int:
    return (info.external_attr >> 16) & 0xFFFF if info.create_system == 3 else 0


def _extract_zip(archive: Path, writer: _Writer) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > writer.limits.max_members:
            raise UnsafeArchive(
                f"{len(infos)} entries, more than {writer.limits.max_members} (archive bomb?)", file=archive
            )
        declared = sum(i.file_size for i in infos)
        if declared > writer.budget:
            raise UnsafeArchive(writer.bomb_message(declared), file=archive)
        plan: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        for info in infos:  # every name is checked before anything is written
            rel = safe_relpath(info.filename, archive)
            mode = _zip_mode(info)
            kind = stat.S_IFMT(mode)
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
                raise UnsafeArchive(f"entry {info.filename!r} is a special file (mode {oct(mode)})", file=archive)
            if info.flag_bits & 0x1:
                raise UnsafeArchive(f"entry {info.filename!r} is encrypted", file=archive)
            if rel is not None:
                plan.append((info, rel))
        for info, rel in plan:
            writer.count_member()
            kind = stat.S_IFMT(_zip_mode(info))
            if info.is_dir() or kind == stat.S_IFDIR:
                writer.ensure_dir(rel)
            elif kind == stat.S_IFLNK:
                if info.file_size > _MAX_LINK_TARGET:
                    raise UnsafeArchive(f"symlink {info.filename!r} has a {info.file_size}-byte target", file=archive)
                writer.symlink(rel, info.filename, zf.read(info).decode("utf-8", "surrogateescape"))
            else:
                with zf.open(info) as stream:
                    writer.write_file(rel, info.filename, stream, info.file_size)


def _extract_tar(archive: Path, writer: _Writer) -> None:
    with open(archive, "rb") as raw:
        # stream mode ("r|*"): one sequential pass, any compression, constant memory
        with tarfile.open(fileobj=raw, mode="r|*", bufsize=COPY_CHUNK) as tf:
            for member in _members(tf):
                writer.count_member()
                rel = safe_relpath(member.name, archive)
                if rel is None:
                    continue
                if member.isdir():
                    writer.no_symlink_on_path(rel, member.name)
                    writer.ensure_dir(rel)
                elif member.isreg():
                    if writer.stats.bytes + member.size > writer.budget:
                        raise UnsafeArchive(writer.bomb_message(writer.stats.bytes + member.size), file=archive)
                    stream = tf.extractfile(member)
                    assert stream is not None
                    with stream:
                        writer.write_file(rel, member.name, stream, member.size)
                elif member.issym():
                    writer.symlink(rel, member.name, member.linkname)
                elif member.islnk():
                    writer.hardlink(rel, member.name, member.linkname)
                else:
                    kind = "device" if (member.ischr() or member.isblk()) else "FIFO" if member.isfifo() else "special"
                    raise UnsafeArchive(f"entry {member.name!r} is a {kind} file", file=archive)


def _members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while True:
        member = tf.next()
        if member is None:
            return
        yield member
        # stream mode keeps every TarInfo otherwise: memory would grow with the entry count. The ignore: typeshed
        # does not declare TarFile.members, an attribute tarfile sets in __init__ but does not document
        tf.members = []  # type: ignore[attr-defined]


def extract_archive(archive: Path, dest: Path, limits: ExtractLimits | None = None) -> ExtractStats:
    """Extract into a staging folder next to ``dest`` and rename it into place when complete.

    ``dest`` must not exist or be an empty folder. On failure the staging folder is removed and
    ``dest`` is untouched: an interrupted extraction never leaves a half data set at ``dest``.
    """
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DatasetError(f"{dest} already exists and is not empty")
    with fsio.staged_folder(dest) as stage:
        stats = extract_into(archive, stage.path, limits)
        stage.commit()
    return stats
