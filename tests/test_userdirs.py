"""Per-user folders follow the XDG base directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.userdirs import cache_dir, config_dir, state_dir


def test_the_cache_lives_under_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir("datasets") == tmp_path / "ianvs-lab" / "datasets"


def test_an_empty_or_unset_variable_means_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    assert cache_dir("x") == tmp_path / ".cache" / "ianvs-lab" / "x"
    assert state_dir("labs") == tmp_path / ".local" / "state" / "ianvs-lab" / "labs"
    assert config_dir("catalog.yaml") == tmp_path / ".config" / "ianvs-lab" / "catalog.yaml"


def test_a_relative_folder_is_fixed_where_it_was_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", "state")
    assert state_dir() == tmp_path / "state" / "ianvs-lab"
