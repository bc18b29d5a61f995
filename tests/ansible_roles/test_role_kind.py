"""The kind role installs a pinned kind binary on a lab host (copied from the controller: labs without internet);
the host's state is read with pytest-testinfra."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from infra.fixtures import LabHost

from .conftest import PlayResult, host_state, write_inventory


@pytest.fixture
def kind_host(labhosts: Callable[..., list[LabHost]]) -> LabHost:
    (host,) = labhosts(1)
    return host


@pytest.fixture
def inventory(kind_host: LabHost, tmp_path: Path) -> Path:
    return write_inventory(tmp_path / "hosts.yml", {"cloud": [kind_host]})


def test_the_pinned_binary_is_installed_and_a_second_run_changes_nothing(
    kind_host: LabHost, inventory: Path, kind_binary: Path, play: Callable[..., PlayResult]
) -> None:
    first = play("playbooks/kind.yml", inventory, extra_vars={"kind_binary_src": str(kind_binary)})
    assert first.returncode == 0, first.output
    assert first.recap()["labhost-1"]["changed"] == 1
    installed = host_state(kind_host).file("/usr/local/bin/kind")
    assert (installed.user, installed.group, installed.mode) == ("root", "root", 0o755)
    assert installed.sha256sum == hashlib.sha256(kind_binary.read_bytes()).hexdigest()
    assert host_state(kind_host, user="lab").check_output("kind version").startswith("kind v0.30.0 ")
    again = play("playbooks/kind.yml", inventory, extra_vars={"kind_binary_src": str(kind_binary)})
    assert again.returncode == 0, again.output
    assert again.recap()["labhost-1"]["changed"] == 0, again.output


def test_a_binary_of_another_version_is_refused(
    inventory: Path, kind_binary: Path, play: Callable[..., PlayResult]
) -> None:
    result = play(
        "playbooks/kind.yml", inventory, extra_vars={"kind_binary_src": str(kind_binary), "kind_version": "v0.29.0"}
    )
    assert result.returncode != 0
    assert "/usr/local/bin/kind reports 'kind v0.30.0" in result.output and "expected v0.29.0" in result.output


def test_a_download_without_a_checksum_is_refused_before_fetching(
    kind_host: LabHost, inventory: Path, play: Callable[..., PlayResult]
) -> None:
    result = play("playbooks/kind.yml", inventory)
    assert result.returncode != 0
    assert 'kind_download_checksum must be "sha256:<64 hex>"' in result.output
    assert "Kind | Download the release binary" not in result.output
    assert not host_state(kind_host).file("/usr/local/bin/kind").exists
