"""The kind role installs a pinned kind binary on a lab host (copied from the controller: labs without internet)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from infra.fixtures import LabHost

from .conftest import PlayResult, write_inventory


@pytest.fixture
def inventory(labhosts: Callable[..., list[LabHost]], tmp_path: Path) -> Path:
    (host,) = labhosts(1)
    return write_inventory(tmp_path / "hosts.yml", {"cloud": [host]})


def test_the_pinned_binary_is_installed_and_a_second_run_changes_nothing(
    inventory: Path, kind_binary: Path, play: Callable[..., PlayResult]
) -> None:
    first = play("playbooks/kind.yml", inventory, extra_vars={"kind_binary_src": str(kind_binary)})
    assert first.returncode == 0, first.output
    assert first.recap()["labhost-1"]["changed"] == 1
    again = play("playbooks/kind.yml", inventory, extra_vars={"kind_binary_src": str(kind_binary)})
    assert again.returncode == 0, again.output
    assert again.recap()["labhost-1"]["changed"] == 0, again.output


def test_a_binary_of_another_version_is_refused(inventory: Path, kind_binary: Path, play: Callable[..., PlayResult]) -> None:
    result = play("playbooks/kind.yml", inventory, extra_vars={"kind_binary_src": str(kind_binary), "kind_version": "v0.29.0"})
    assert result.returncode != 0
    assert "/usr/local/bin/kind reports 'kind v0.30.0" in result.output and "expected v0.29.0" in result.output


def test_a_download_without_a_checksum_is_refused_before_fetching(inventory: Path, play: Callable[..., PlayResult]) -> None:
    result = play("playbooks/kind.yml", inventory)
    assert result.returncode != 0
    assert 'kind_download_checksum must be "sha256:<64 hex>"' in result.output
    assert "Kind | Download the release binary" not in result.output
