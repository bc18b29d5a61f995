"""What each role promises on paper: its variables, their defaults and their documentation agree, and the
inventories and site.yml are what a lab (not the test environment) uses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())


def _defaults(role: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}


def _options(role: str) -> dict[str, dict[str, Any]]:
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


def test_the_roles_are_found() -> None:
    assert ROLES == [
        "docker",
        "host_check",
        "kind",
        "kind_cluster",
        "kube_control_plane",
        "kube_images",
        "kube_join",
        "kube_node",
        "kube_reset",
        "simulation_controller",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_name_the_same_variables(role: str) -> None:
    assert sorted(_defaults(role)) == sorted(_options(role))


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_prefixed_with_the_role_name(role: str) -> None:
    assert [name for name in _defaults(role) if not name.startswith(f"{role}_")] == []


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_declare_every_default_as_defaults_main_sets_it(role: str) -> None:
    defaults, options = _defaults(role), _options(role)
    undeclared = [name for name, option in options.items() if "default" not in option]
    assert undeclared == [], f"{role}: no default in meta/argument_specs.yml for {undeclared}"
    assert {name: option["default"] for name, option in options.items()} == defaults


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_described(role: str) -> None:
    assert [name for name, option in _options(role).items() if not option.get("description")] == []


@pytest.mark.parametrize("role", ROLES)
def test_the_role_readme_documents_every_variable(role: str) -> None:
    readme = (REPO / "roles" / role / "README.md").read_text()
    assert [name for name in _defaults(role) if f"`{name}`" not in readme] == []
    for section in ("## Role variables", "## Example play", "## What it changes", "## Check mode"):
        assert section in readme, f"roles/{role}/README.md lacks {section!r}"


def test_no_inventory_setting_points_at_the_test_environments_cache() -> None:
    # A lab is not the test environment: its inventories must not depend on what `make test` happened to build.
    # (Comments may mention it; tests pass such paths explicitly, e.g. kind_binary_src.)
    settings = [
        f"{path.relative_to(REPO)}: {line.strip()}"
        for path in sorted((REPO / "inventories").rglob("*"))
        if path.is_file()
        for line in path.read_text().splitlines()
        if not line.lstrip().startswith("#") and re.search(r"\.cache/ianvs-lab|testenv", line)
    ]
    assert settings == []


def _list_tasks(tmp_path: Path, *args: str) -> str:
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "site.yml", "--list-tasks", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        },
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    ("tag", "stage_prefix"),
    [
        ("host_check", "Host check |"),
        ("docker", "Docker |"),
        ("kind", "Kind |"),
        ("kube_cluster", "Kube node |"),
        ("kind_cluster", "Kind cluster |"),
    ],
)
def test_each_stage_of_site_yml_is_picked_by_its_tag(tmp_path: Path, tag: str, stage_prefix: str) -> None:
    listed = _list_tasks(tmp_path, "--tags", tag)
    prefixes = ("Host check |", "Docker |", "Kind |", "Kube node |", "Kind cluster |")
    stages = {prefix for prefix in prefixes if prefix in listed}
    assert stages == {stage_prefix}
