"""Safe extraction: every format works, every malicious archive is refused and leaves nothing behind."""

from __future__ import annotations

import os
import tarfile
import zlib
from pathlib import Path

import pytest

from controller.datasets.extract import (
    ExtractLimits,
    UnsafeArchive,
    archive_format,
    extract_archive,
)
from controller.errors import DatasetError
from controller.fsio import remove_stale_staging
from tests.datasets.conftest import make_tar, make_zip, tar_link, tree

FILES = {"data/a.txt": b"alpha\n", "data/sub/b.bin": bytes(range(256)) * 4, "top.txt": b"top"}


def _archive(tmp_path: Path, fmt: str, members: dict[str, bytes]) -> Path:
    if fmt == "zip":
        return make_zip(tmp_path / "in" / "a.zip", members)
    compression = {"tar": "", "tar.gz": "gz", "tar.bz2": "bz2", "tar.xz": "xz"}[fmt]
    return make_tar(tmp_path / "in" / f"a.{fmt}", list(members.items()), compression)


@pytest.mark.parametrize("fmt", ["zip", "tar", "tar.gz", "tar.bz2", "tar.xz"])
def test_every_format_extracts_its_files(fmt: str, tmp_path: Path) -> None:
    archive = _archive(tmp_path, fmt, FILES)
    assert archive_format(archive) == fmt
    stats = extract_archive(archive, tmp_path / "out")
    assert {k: (tmp_path / "out" / k).read_bytes() for k in FILES} == FILES
    assert (stats.files, stats.bytes) == (3, 6 + 1024 + 3)


def _refused(archive: Path, tmp_path: Path, match: str, limits: ExtractLimits | None = None) -> None:
    """The archive is refused, and afterwards tmp_path holds exactly what it held before."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    before = tree(tmp_path)
    with pytest.raises(UnsafeArchive, match=match):
        extract_archive(archive, work / "out", limits)
    assert tree(tmp_path) == before


def test_zip_slip_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "in" / "a.zip", {"ok.txt": b"1", "../../evil.txt": b"2"})
    _refused(archive, tmp_path, r"contains '\.\.'")


@pytest.mark.parametrize("name", ["/tmp/ianvs-lab-evil-abs.txt", "C:/evil.txt", "\\\\evil.txt"])
def test_absolute_path_is_refused(name: str, tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "in" / "a.tar", [("ok.txt", b"1"), (name, b"2")])
    _refused(archive, tmp_path, "absolute path")
    assert not Path("/tmp/ianvs-lab-evil-abs.txt").exists()


@pytest.mark.parametrize("target", ["../../outside", "/etc/passwd", "a/../../../x"])
def test_tar_symlink_escaping_the_folder_is_refused(target: str, tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "in" / "a.tar", [("sub/ok.txt", b"1"), tar_link("sub/link", target, tarfile.SYMTYPE)])
    _refused(archive, tmp_path, "symlink")


def test_zip_symlink_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "in" / "a.zip", {"ok.txt": b"1"}, symlinks={"link": "../outside"})
    _refused(archive, tmp_path, "points outside")


def test_writing_through_a_symlink_entry_is_refused(tmp_path: Path) -> None:
    # the link itself stays inside, but a later entry would be written through it
    archive = make_tar(
        tmp_path / "in" / "a.tar",
        [("real/x.txt", b"1"), tar_link("alias", "real", tarfile.SYMTYPE), ("alias/y.txt", b"2")],
    )
    _refused(archive, tmp_path, "through the symlink")


def test_symlink_chain_resolving_outside_is_refused(tmp_path: Path) -> None:
    # "up -> ." is harmless alone, "a/b -> ../up/.." is lexically inside but really the parent folder
    archive = make_tar(
        tmp_path / "in" / "a.tar",
        [("a/f.txt", b"1"), tar_link("up", ".", tarfile.SYMTYPE), tar_link("a/b", "../up/..", tarfile.SYMTYPE)],
    )
    _refused(archive, tmp_path, "passes through the symlink")


@pytest.mark.parametrize("target", ["../outside.txt", "/etc/passwd"])
def test_hardlink_escaping_the_folder_is_refused(target: str, tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "in" / "a.tar", [("ok.txt", b"1"), tar_link("hard", target, tarfile.LNKTYPE)])
    _refused(archive, tmp_path, "hardlink")


@pytest.mark.parametrize(
    ("kind", "word"), [(tarfile.CHRTYPE, "device"), (tarfile.BLKTYPE, "device"), (tarfile.FIFOTYPE, "FIFO")]
)
def test_special_files_are_refused(kind: bytes, word: str, tmp_path: Path) -> None:
    special = tarfile.TarInfo("dev/null-ish")
    special.type = kind
    archive = make_tar(tmp_path / "in" / "a.tar", [("ok.txt", b"1"), special])
    _refused(archive, tmp_path, word)


def _zeros_zip(path: Path, size: int) -> Path:
    return make_zip(path, {"zeros.bin": bytes(size)})


def test_zip_bomb_is_refused_before_writing_anything(tmp_path: Path) -> None:
    archive = _zeros_zip(tmp_path / "in" / "bomb.zip", 8 << 20)  # 8 MiB of zeros in ~8 KiB
    limits = ExtractLimits(max_ratio=100, ratio_grace_bytes=1 << 20)
    _refused(archive, tmp_path, "archive bomb", limits)


def test_tar_gz_bomb_is_stopped_while_streaming(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "in" / "bomb.tar.gz", [(f"z{i}.bin", bytes(1 << 20)) for i in range(8)], "gz")
    limits = ExtractLimits(max_ratio=100, ratio_grace_bytes=1 << 20)
    _refused(archive, tmp_path, "archive bomb", limits)


def test_total_size_bound_applies_whatever_the_ratio(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "in" / "a.zip", {"r.bin": os.urandom(300_000)}, stored=True)
    _refused(archive, tmp_path, "exceeds the allowed", ExtractLimits(max_total_bytes=100_000, ratio_grace_bytes=0))


def test_entry_count_bound(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "in" / "a.zip", {f"f{i}": b"" for i in range(20)})
    _refused(archive, tmp_path, "more than 10", ExtractLimits(max_members=10))


def test_budget_formula() -> None:
    limits = ExtractLimits(max_total_bytes=10_000, max_ratio=5, ratio_grace_bytes=100)
    # min(max_total, max(grace, ratio * archive))
    assert [limits.budget(n) for n in (10, 1000, 5000)] == [100, 5000, 10_000]


def test_symlinks_and_hardlinks_inside_are_kept(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "in" / "a.tar",
        [
            ("data/file.txt", b"payload"),
            tar_link("data/alias.txt", "file.txt", tarfile.SYMTYPE),
            tar_link("data/again.txt", "data/file.txt", tarfile.LNKTYPE),
        ],
    )
    extract_archive(archive, tmp_path / "out")
    out = tmp_path / "out" / "data"
    assert os.readlink(out / "alias.txt") == "file.txt"
    assert (out / "alias.txt").read_bytes() == (out / "again.txt").read_bytes() == b"payload"


def test_archive_modes_are_ignored(tmp_path: Path) -> None:
    locked = tarfile.TarInfo("locked")
    locked.type = tarfile.DIRTYPE
    locked.mode = 0o000
    archive = make_tar(tmp_path / "in" / "a.tar", [locked, ("locked/f.txt", b"x")])
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "locked" / "f.txt").read_bytes() == b"x"


def test_corrupt_archive_is_a_dataset_error_and_leaves_nothing(tmp_path: Path) -> None:
    good = make_zip(tmp_path / "in" / "a.zip", {"a.bin": os.urandom(50_000)})
    data = bytearray(good.read_bytes())
    data[200:400] = bytes(200)  # damage the compressed stream, keep the directory
    good.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="corrupt zip archive"):
        extract_archive(good, tmp_path / "out")
    assert not (tmp_path / "out").exists() and tree(tmp_path / "in") == {"a.zip"}


def test_unknown_format_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(zlib.compress(b"not an archive"))
    with pytest.raises(DatasetError, match="not a supported archive"):
        archive_format(path)


def test_existing_non_empty_destination_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "in" / "a.zip", FILES)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    with pytest.raises(DatasetError, match="not empty"):
        extract_archive(archive, tmp_path / "out")
    assert tree(tmp_path / "out") == {"mine.txt"}


def test_stale_staging_folders_are_removed(tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    (tmp_path / ".ds.staging-123-abcd" / "half").mkdir(parents=True)
    (tmp_path / ".other.staging-1-x").mkdir()
    removed = remove_stale_staging(dest)
    assert [p.name for p in removed] == [".ds.staging-123-abcd"]
    assert tree(tmp_path) == {".other.staging-1-x"}
