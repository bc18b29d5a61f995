"""Atomic files and staged folders: the new content or the old one, never a half, and no litter."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from controller import fsio


class Boom(Exception):
    pass


def _write_half_then_raise(path: Path, error: BaseException) -> None:
    with fsio.atomic_file(path) as handle:
        handle.write(b"half of the new")
        handle.flush()
        raise error


def test_write_bytes_replaces_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    fsio.write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["a.bin"]


@pytest.mark.parametrize("error", [Boom("disk on fire"), KeyboardInterrupt()], ids=["exception", "KeyboardInterrupt"])
def test_a_failure_in_the_middle_of_writing_keeps_the_old_file_and_removes_the_temp(
    tmp_path: Path, error: BaseException
) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(type(error)):
        _write_half_then_raise(path, error)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.bin"]


@pytest.mark.parametrize("error", [Boom("disk on fire"), KeyboardInterrupt()], ids=["exception", "KeyboardInterrupt"])
def test_a_failure_while_writing_a_new_file_leaves_no_file_at_all(tmp_path: Path, error: BaseException) -> None:
    with pytest.raises(type(error)):
        _write_half_then_raise(tmp_path / "a.bin", error)
    assert os.listdir(tmp_path) == []


def test_a_failing_rename_keeps_the_old_file_and_removes_the_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old")

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fsio.write_text(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_write_json_refuses_nan_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    fsio.write_json(path, {"x": 1})
    with pytest.raises(ValueError):
        fsio.write_json(path, {"x": math.nan})
    assert path.read_text() == '{\n  "x": 1\n}\n'
    assert os.listdir(tmp_path) == ["a.json"]


def test_write_text_keeps_line_endings_as_given(tmp_path: Path) -> None:
    path = fsio.write_text(tmp_path / "a.csv", "a,b\r\n1,2\r\n")
    assert path.read_bytes() == b"a,b\r\n1,2\r\n"


def test_new_files_get_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = fsio.write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_missing_folder_is_an_error_not_created(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fsio.write_bytes(tmp_path / "gone" / "a.bin", b"x")
    assert os.listdir(tmp_path) == []


# --- staged folders -----------------------------------------------------------------------------


def test_a_committed_stage_becomes_the_folder(tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    with fsio.staged_folder(dest) as stage:
        (stage.path / "a.txt").write_text("a")
        assert not dest.exists()
        stage.commit()
    assert (dest / "a.txt").read_text() == "a"
    assert os.listdir(tmp_path) == ["ds"]


def test_commit_replaces_an_existing_folder_and_removes_the_old_content(tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with fsio.staged_folder(dest) as stage:
        (stage.path / "new.txt").write_text("new")
        stage.commit()
    assert os.listdir(dest) == ["new.txt"]
    assert os.listdir(tmp_path) == ["ds"]


@pytest.mark.parametrize("error", [Boom("disk on fire"), KeyboardInterrupt()], ids=["exception", "KeyboardInterrupt"])
def test_a_failure_while_staging_leaves_nothing_and_keeps_the_old_folder(tmp_path: Path, error: BaseException) -> None:
    dest = tmp_path / "ds"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(type(error)), fsio.staged_folder(dest) as stage:
        (stage.path / "half.txt").write_text("half")
        raise error
    assert os.listdir(tmp_path) == ["ds"]
    assert os.listdir(dest) == ["old.txt"]


def test_a_stage_left_without_commit_is_aborted(tmp_path: Path) -> None:
    with fsio.staged_folder(tmp_path / "ds") as stage:
        (stage.path / "a.txt").write_text("a")
    assert os.listdir(tmp_path) == []


def test_abort_removes_the_stage_and_everything_in_it(tmp_path: Path) -> None:
    stage = fsio.StagedFolder.create(tmp_path / "ds")
    (stage.path / "sub").mkdir()
    (stage.path / "sub" / "a.txt").write_text("a")
    stage.abort()
    assert os.listdir(tmp_path) == []


def test_commit_refuses_to_replace_a_file(tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    dest.write_text("not a folder")
    with pytest.raises(FileExistsError, match="not a folder"), fsio.staged_folder(dest) as stage:
        stage.commit()
    assert dest.read_text() == "not a folder"
    assert os.listdir(tmp_path) == ["ds"]
