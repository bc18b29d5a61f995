"""The multi-host lab's bookkeeping on the controller, without machines: what `down` leaves in the state folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.config.models import SimulationConfig
from controller.lab import kube_lab
from controller.lab.runner import PlaybookRun


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> kube_lab.KubeLab:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "hosts.yml").write_text("all: {}\n")

    def teardown(playbook: str, extravars: dict[str, Any], what: str, inventory: Path) -> PlaybookRun:
        # what playbooks/teardown.yml does on the controller: the lab's kubeconfig removed
        Path(extravars["kube_reset_kubeconfig"]).unlink(missing_ok=True)
        return PlaybookRun(playbook, "successful", 0)

    monkeypatch.setattr(kube_lab, "play", teardown)
    return kube_lab.KubeLab(SimulationConfig(inventory=tmp_path / "hosts.yml", cluster_name="hosts"))


def test_down_leaves_no_empty_state_folder_behind(lab: kube_lab.KubeLab) -> None:
    lab.kubeconfig.parent.mkdir(parents=True)
    lab.kubeconfig.write_text("apiVersion: v1\n")
    kube_lab.down(lab)
    assert not lab.kubeconfig.parent.exists()
    kube_lab.down(lab)  # a second teardown: nothing to remove, no error


def test_down_keeps_what_someone_else_put_in_the_state_folder(lab: kube_lab.KubeLab) -> None:
    lab.kubeconfig.parent.mkdir(parents=True)
    (lab.kubeconfig.parent / "notes.txt").write_text("mine\n")
    kube_lab.down(lab)
    assert (lab.kubeconfig.parent / "notes.txt").is_file()
