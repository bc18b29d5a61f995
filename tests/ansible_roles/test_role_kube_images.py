"""The kube_images role's refusal: an image the controller's Docker engine lacks is named before anything is copied
(the role's import on real nodes, and a second run changing nothing, test_kube_cluster.py checks)."""

from __future__ import annotations

import json
from pathlib import Path

from infra.fixtures import DockerEngine

from .conftest import run_play


def test_an_image_the_controller_lacks_is_named_before_any_node_is_touched(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    inventory = tmp_path / "hosts.json"
    # a node nobody can reach: the refusal must come before any connection to it
    inventory.write_text(
        json.dumps(
            {
                "lab": {
                    "vars": {"ansible_connection": "community.docker.docker"},
                    "children": {"edge": {"hosts": {"edge-1": {"ansible_host": "ianvs-lab-no-such-container"}}}},
                }
            }
        )
    )
    result = run_play(
        "playbooks/kube_images.yml",
        inventory,
        tmp_path,
        {
            "lab_kube_cluster": True,
            "kube_images_list": ["ianvs-lab/base:bookworm", "ianvs-lab/no-such-image:1"],
            "kube_images_archive_dir": str(tmp_path / "archives"),
        },
    )
    assert result.returncode != 0
    output = " ".join(result.output.split())
    assert "the controller's Docker engine lacks ianvs-lab/no-such-image:1: build or pull it there first" in output
    assert "unreachable=0" in output
    assert not (tmp_path / "archives").exists()
