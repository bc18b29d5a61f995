"""The kind lab's parts that need no Docker and no cluster: the variables `KindLab` hands the roles, the host folders
a job's lab mounts, the role's node naming (rendered by a real ansible-playbook), its readiness filter, the docker
wrapper for hosts without --privileged (run for real, in front of a stand-in docker) and the host-check report."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.config.models import SimulationConfig
from controller.errors import ConfigError
from controller.lab.host_checks import Check, HostReport, _truthy
from controller.lab.kind_lab import KindLab, for_job, outermost
from controller.lab.runner import TaskFailure
from tests.conftest import edit_yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "kind_cluster"
WRAPPER = REPO / "scripts" / "unprivileged-docker" / "docker"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))

# what the wrapper documents in place of each --privileged of `docker run` / `docker create`, in this order
UNPRIVILEGED = [
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--security-opt",
    "systempaths=unconfined",
    "--device-cgroup-rule=a *:* rwm",
    "--device",
    "/dev/kmsg",
]


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$XDG_STATE_HOME``, where the labs keep their kind config and kubeconfig, in a folder of the test's own."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


def _lab(**simulation: Any) -> KindLab:
    return KindLab(
        SimulationConfig(**{"cloud_number": 2, "edge_number": 3, "cluster_name": "unit-lab", **simulation}),
        host_paths=("/data/b", "/data/a", "/data/a"),
        workspace="/runs/ws/lab",
        images=("ianvs-lab/controller:unit",),
        controller_image="ianvs-lab/controller:unit",
    )


# ----------------------------------------------------------------------------------- KindLab.cluster_vars


def test_cluster_vars_set_only_variables_the_kind_cluster_role_declares(state_home: Path) -> None:
    declared = set(yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()))
    assert set(_lab().cluster_vars("present")) - {"lab_kind_cluster"} <= declared


def test_cluster_vars_turn_on_the_opt_in_kind_cluster_stage(state_home: Path) -> None:
    assert _lab().cluster_vars("present")["lab_kind_cluster"] is True
    assert "lab_kind_cluster | default(false)" in (REPO / "playbooks" / "kind_cluster.yml").read_text()


def test_cluster_vars_carry_the_system_configs_name_counts_image_and_timeout(state_home: Path) -> None:
    lab = _lab(timeout=420, kubernetes_version="v1.33.4")
    variables = lab.cluster_vars("present")
    assert variables["kind_cluster_name"] == "unit-lab"
    assert variables["kind_cluster_cloud_number"] == 2
    assert variables["kind_cluster_edge_number"] == 3
    assert variables["kind_cluster_node_image"] == "ianvs-lab/kind-node:v1.33.4"
    assert variables["kind_cluster_ready_timeout"] == 420
    assert variables["kind_cluster_images"] == ["ianvs-lab/controller:unit"]
    assert variables["kind_cluster_state_dir"] == str(state_home / "ianvs-lab" / "labs" / "unit-lab")
    assert Path(variables["kind_cluster_kind_binary"]).name == "kind"


def test_cluster_vars_name_the_node_image_of_the_system_config_when_it_names_one(state_home: Path) -> None:
    variables = _lab(node_image="registry.local/kind-node:custom").cluster_vars("present")
    assert variables["kind_cluster_node_image"] == "registry.local/kind-node:custom"


def test_cluster_mounts_are_the_sorted_union_of_host_paths_and_workspace(state_home: Path) -> None:
    assert _lab().cluster_vars("present")["kind_cluster_mounts"] == ["/data/a", "/data/b", "/runs/ws/lab"]


def test_cluster_mounts_leave_out_an_empty_workspace(state_home: Path) -> None:
    lab = KindLab(SimulationConfig(), host_paths=("/data/a",))
    assert lab.cluster_vars("present")["kind_cluster_mounts"] == ["/data/a"]


@pytest.mark.parametrize("state", ["present", "absent"])
def test_cluster_vars_pass_the_state_through(state_home: Path, state: str) -> None:
    assert _lab().cluster_vars(state)["kind_cluster_state"] == state


def test_cluster_vars_are_privileged_unless_told_otherwise(state_home: Path) -> None:
    assert _lab().cluster_vars("present")["kind_cluster_unprivileged"] is False
    assert _lab().cluster_vars("present", unprivileged=True)["kind_cluster_unprivileged"] is True


# -------------------------------------------------------------------------------- KindLab.controller_vars


def test_controller_vars_point_at_the_labs_kubeconfig_under_the_state_home(state_home: Path) -> None:
    lab = _lab()
    assert lab.controller_vars()["simulation_controller_kubeconfig"] == str(
        state_home / "ianvs-lab" / "labs" / "unit-lab" / "kubeconfig"
    )
    assert lab.kubeconfig == state_home / "ianvs-lab" / "labs" / "unit-lab" / "kubeconfig"


def test_controller_vars_never_pull_the_images_loaded_into_the_nodes(state_home: Path) -> None:
    variables = _lab().controller_vars()
    assert variables["simulation_controller_image"] == "ianvs-lab/controller:unit"
    assert variables["simulation_controller_image_pull_policy"] == "Never"


def test_controller_vars_carry_namespace_workspace_and_host_paths(state_home: Path) -> None:
    variables = _lab(namespace="unit-ns").controller_vars()
    assert variables["simulation_controller_state"] == "present"
    assert variables["simulation_controller_namespace"] == "unit-ns"
    assert variables["simulation_controller_workspace"] == "/runs/ws/lab"
    assert variables["simulation_controller_host_paths"] == ["/data/a", "/data/b"]


def test_the_job_controller_runs_on_a_cloud_node(state_home: Path) -> None:
    assert _lab().controller_vars()["simulation_controller_node_selector"] == {"ianvs-lab/role": "cloud"}


@pytest.mark.parametrize(
    ("placement", "selector"),
    [("edge", {"ianvs-lab/role": "edge"}), ("cloud", {"ianvs-lab/role": "cloud"}), ("any", {})],
)
def test_case_pods_go_where_case_placement_says(state_home: Path, placement: str, selector: dict[str, str]) -> None:
    assert _lab(case_placement=placement).controller_vars()["simulation_controller_case_node_selector"] == selector


def test_the_controller_and_cloud_cases_tolerate_the_control_plane_taint(state_home: Path) -> None:
    assert _lab().controller_vars()["simulation_controller_tolerations"] == [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_edge_placement_without_edge_nodes_is_a_config_error_naming_both_keys(state_home: Path) -> None:
    lab = _lab(case_placement="edge", edge_number=0)
    with pytest.raises(ConfigError) as refused:
        lab.case_node_selector()
    assert "simulation.case_placement" in str(refused.value)
    assert "simulation.edge_number" in str(refused.value)
    with pytest.raises(ConfigError):
        lab.controller_vars()


@pytest.mark.parametrize("placement", ["cloud", "any"])
def test_cloud_or_any_placement_needs_no_edge_node(state_home: Path, placement: str) -> None:
    assert _lab(case_placement=placement, edge_number=0).controller_vars()


# ----------------------------------------------------------------------------------------------- outermost


def test_a_folder_inside_another_collapses_into_the_outer_one() -> None:
    assert outermost([Path("/data/a/b/c"), Path("/data/a"), Path("/data/a/b")]) == ("/data/a",)


def test_sibling_folders_both_stay_even_when_one_name_prefixes_the_other() -> None:
    assert outermost([Path("/data/ab"), Path("/data/a"), Path("/data/a-b")]) == ("/data/a", "/data/a-b", "/data/ab")


def test_duplicates_and_spelling_variants_of_one_folder_collapse() -> None:
    folders = [Path("/data/a"), Path("/data/a/"), Path("/data/./a"), Path("/data/x/../a"), Path("/data/a")]
    assert outermost(folders) == ("/data/a",)


def test_relative_folders_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert outermost([Path("data"), Path("data/inner")]) == (str(tmp_path / "data"),)


def test_no_folders_no_mounts() -> None:
    assert outermost([]) == ()


# ------------------------------------------------------------------------------------------------- for_job


@pytest.fixture
def lab_job(job_dir: Path) -> Path:
    edit_yaml(
        job_dir / "benchmarkingjob.yaml",
        lambda d: d["benchmarkingjob"].__setitem__("simulation", {"cloud_number": 1, "edge_number": 2}),
    )
    return job_dir / "benchmarkingjob.yaml"


def test_a_jobs_lab_mounts_the_job_folder_and_the_dataset_folder_it_links_to(
    lab_job: Path, job_dir: Path, tiny_dataset: Path
) -> None:
    from controller.config.loader import load_job
    from controller.plan import build_plan

    config = load_job(lab_job)
    lab = for_job(config, build_plan(config), config.workspace, "ianvs-lab/controller:unit")
    # job/data is a symlink to the dataset: a node sees the link, so it needs the folder it points to as well
    assert sorted(lab.host_paths) == sorted([str(job_dir), os.path.realpath(tiny_dataset)])
    for path in lab.host_paths:
        assert not any(Path(path).is_relative_to(other) for other in lab.host_paths if other != path)


def test_a_jobs_lab_has_its_case_workspace_under_the_jobs_workspace(lab_job: Path, job_dir: Path) -> None:
    from controller.config.loader import load_job
    from controller.plan import build_plan

    config = load_job(lab_job)
    lab = for_job(config, build_plan(config), config.workspace, "ianvs-lab/controller:unit")
    assert lab.workspace == str(job_dir / "workspace" / "lab")
    assert lab.images == ("ianvs-lab/controller:unit",) and lab.controller_image == "ianvs-lab/controller:unit"
    assert (lab.simulation.cloud_number, lab.simulation.edge_number) == (1, 2)


def test_a_job_without_a_simulation_section_has_no_lab(job_dir: Path) -> None:
    from controller.config.loader import load_job
    from controller.plan import build_plan

    config = load_job(job_dir / "benchmarkingjob.yaml")
    with pytest.raises(ConfigError, match="no simulation: section"):
        for_job(config, build_plan(config), config.workspace, "ianvs-lab/controller:unit")


# ------------------------------------------------------------------ the role's node naming, rendered by Ansible

SIZES = [(1, 0), (1, 2), (2, 1), (3, 3)]


@pytest.fixture(scope="module")
def role_nodes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """The node lists the role's "Name the nodes" task renders, a single ansible-playbook run for all of SIZES
    (a few seconds): the task's own ``vars`` expressions, unchanged, with the system config's counts and name."""
    tasks = yaml.safe_load((ROLE / "tasks" / "present.yml").read_text())
    (naming,) = [task for task in tasks if task["name"].startswith("Kind cluster | Name the nodes")]
    expressions = {key: naming["vars"][key] for key in ("__roles", "__nodes")}
    folder = tmp_path_factory.mktemp("role-nodes")
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "tasks": [
                {
                    "name": f"nodes of {cloud}+{edge}",
                    "ansible.builtin.copy": {
                        "content": "{{ __nodes | to_json }}",
                        "dest": str(folder / f"{cloud}+{edge}.json"),
                        "mode": "0600",
                    },
                    "vars": {
                        **expressions,
                        "kind_cluster_name": "rendered",
                        "kind_cluster_cloud_number": cloud,
                        "kind_cluster_edge_number": edge,
                    },
                }
                for cloud, edge in SIZES
            ],
        }
    ]
    (folder / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    run = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "localhost,", str(folder / "play.yml")],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(folder / "none.cfg"),
            "ANSIBLE_LOCAL_TEMP": str(folder / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
        },
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return {(c, e): json.loads((folder / f"{c}+{e}.json").read_text()) for c, e in SIZES}


@pytest.mark.parametrize(("cloud", "edge"), SIZES, ids=[f"{c}+{e}" for c, e in SIZES])
def test_the_role_names_the_nodes_as_the_system_config_does(
    role_nodes: dict[tuple[int, int], list[dict[str, Any]]], cloud: int, edge: int
) -> None:
    expected = SimulationConfig(cloud_number=cloud, edge_number=edge, cluster_name="rendered").nodes()
    assert role_nodes[(cloud, edge)] == [
        {"name": node.name, "role": node.role, "control_plane": node.control_plane} for node in expected
    ]


# ----------------------------------------------------------------------- the role's kind_cluster_not_ready filter


def _filters() -> Any:
    path = ROLE / "filter_plugins" / "kind_cluster.py"
    spec = importlib.util.spec_from_file_location("kind_cluster_filter_plugin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _api_node(name: str, *conditions: tuple[str, str]) -> dict[str, Any]:
    status = {"conditions": [{"type": kind, "status": value} for kind, value in conditions]} if conditions else {}
    return {"metadata": {"name": name}, "status": status}


def test_ansible_finds_the_not_ready_filter_under_its_name() -> None:
    module = _filters()
    assert module.FilterModule().filters() == {"kind_cluster_not_ready": module.kind_cluster_not_ready}


def test_not_ready_lists_wanted_nodes_that_are_not_ready_or_missing_in_the_wanted_order() -> None:
    not_ready = _filters().kind_cluster_not_ready
    api = [
        _api_node("lab-worker3", ("MemoryPressure", "False"), ("Ready", "True")),
        _api_node("lab-worker2"),  # no conditions yet: just registered
        _api_node("lab-worker", ("Ready", "False")),
        _api_node("lab-control-plane", ("Ready", "True")),
        _api_node("lab-other", ("Ready", "False")),  # not wanted: not listed
    ]
    wanted = [{"name": n} for n in ("lab-control-plane", "lab-worker", "lab-worker2", "lab-worker3", "lab-worker4")]
    assert not_ready(api, wanted) == ["lab-worker", "lab-worker2", "lab-worker4"]


def test_not_ready_is_empty_when_every_wanted_node_is_ready() -> None:
    not_ready = _filters().kind_cluster_not_ready
    api = [_api_node("lab-control-plane", ("Ready", "True")), _api_node("lab-worker", ("Ready", "True"))]
    assert not_ready(api, [{"name": "lab-control-plane"}, {"name": "lab-worker"}]) == []


def test_not_ready_counts_an_unknown_ready_condition_as_not_ready() -> None:
    not_ready = _filters().kind_cluster_not_ready
    assert not_ready([_api_node("lab-worker", ("Ready", "Unknown"))], [{"name": "lab-worker"}]) == ["lab-worker"]


# ------------------------------------------------------------------------------------------ the docker wrapper


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A folder with only what the wrapper itself runs (bash for its shebang, dirname): no docker in it."""
    folder = tmp_path / "tools"
    folder.mkdir()
    for name in ("bash", "dirname"):
        found = shutil.which(name)
        assert found, f"{name} is not on PATH"
        (folder / name).symlink_to(found)
    return folder


@pytest.fixture
def fake_docker(tmp_path: Path) -> Path:
    """A stand-in for the real docker: prints its own path, then each argument on a line; exits $FAKE_DOCKER_RC."""
    folder = tmp_path / "fake"
    folder.mkdir()
    script = folder / "docker"
    script.write_text(
        '#!/usr/bin/env bash\nfor arg in "$0" "$@"; do printf "%s\\n" "$arg"; done\nexit "${FAKE_DOCKER_RC:-0}"\n'
    )
    script.chmod(0o755)
    return script


def _docker(path: list[Path], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``docker ARGS`` as kind runs it: by name, found on ``path``."""
    return subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.pathsep.join(str(folder) for folder in path), **env},
    )


def _wrapped(tools: Path, fake_docker: Path, *args: str, **env: str) -> tuple[str, list[str]]:
    """The docker that ran and the arguments it got, with the wrapper first on PATH and the stand-in after it."""
    proc = _docker([WRAPPER.parent, fake_docker.parent, tools], *args, **env)
    assert proc.returncode == 0, proc.stderr
    ran, *argv = proc.stdout.splitlines()
    return ran, argv


@pytest.mark.parametrize("command", ["run", "create"])
def test_privileged_run_and_create_get_the_documented_arguments_in_its_place(
    tools: Path, fake_docker: Path, command: str
) -> None:
    ran, argv = _wrapped(
        tools, fake_docker, command, "--name", "x", "--privileged", "-v", "/a b:/a b", "img", "echo", "hi there"
    )
    assert ran == str(fake_docker)
    assert argv == [command, "--name", "x", *UNPRIVILEGED, "-v", "/a b:/a b", "img", "echo", "hi there"]


def test_privileged_run_as_kind_writes_it(tools: Path, fake_docker: Path) -> None:
    _, argv = _wrapped(tools, fake_docker, "run", "--privileged", "--name", "x", "img")
    assert argv == ["run", *UNPRIVILEGED, "--name", "x", "img"]


def test_privileged_exec_drops_the_flag_and_keeps_the_rest(tools: Path, fake_docker: Path) -> None:
    _, argv = _wrapped(
        tools, fake_docker, "exec", "--privileged", "-i", "node", "ctr", "--namespace", "k8s.io", "images"
    )
    assert argv == ["exec", "-i", "node", "ctr", "--namespace", "k8s.io", "images"]


def test_other_commands_pass_through_untouched(tools: Path, fake_docker: Path) -> None:
    _, argv = _wrapped(tools, fake_docker, "ps", "-a", "--format", "{{.Names}} {{.State}}")
    assert argv == ["ps", "-a", "--format", "{{.Names}} {{.State}}"]


def test_a_run_without_privileged_passes_through_untouched(tools: Path, fake_docker: Path) -> None:
    _, argv = _wrapped(tools, fake_docker, "run", "--rm", "--name", "x", "img")
    assert argv == ["run", "--rm", "--name", "x", "img"]


def test_docker_without_arguments_runs_the_real_one(tools: Path, fake_docker: Path) -> None:
    ran, argv = _wrapped(tools, fake_docker)
    assert (ran, argv) == (str(fake_docker), [])


def test_the_real_dockers_exit_status_is_the_wrappers(tools: Path, fake_docker: Path) -> None:
    proc = _docker([WRAPPER.parent, fake_docker.parent, tools], "ps", FAKE_DOCKER_RC="3")
    assert proc.returncode == 3


def test_the_wrapper_never_takes_itself_for_the_real_docker(tools: Path, fake_docker: Path) -> None:
    proc = _docker([WRAPPER.parent, Path(f"{WRAPPER.parent}/"), fake_docker.parent, tools], "ps")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [str(fake_docker), "ps"]


def test_without_another_docker_on_path_the_wrapper_exits_127_saying_so(tools: Path) -> None:
    proc = _docker([WRAPPER.parent, tools], "ps")
    assert proc.returncode == 127
    assert "no docker on PATH besides this wrapper" in proc.stderr
    assert proc.stdout == ""


# ------------------------------------------------------------------------------------------ the host-check report


def _report(*checks: Check, failures: tuple[TaskFailure, ...] = (), runner_ok: bool = True) -> HostReport:
    return HostReport(list(checks), list(failures), runner_ok)


CPUS = Check("localhost", "cpus", "16", ">= 2", True)
PRIVILEGED = Check("localhost", "privileged_containers", "refused", "yes", False, fix="set unprivileged: auto")


def test_the_report_table_has_a_header_row_and_one_row_per_check() -> None:
    lines = _report(CPUS, PRIVILEGED).table().splitlines()
    assert lines[0].split() == ["host", "check", "value", "required", "ok"]
    assert [line.split() for line in lines[1:]] == [
        ["localhost", "cpus", "16", ">=", "2", "yes"],
        ["localhost", "privileged_containers", "refused", "yes", "NO"],
    ]


def test_the_report_table_columns_line_up() -> None:
    lines = _report(CPUS, PRIVILEGED).table().splitlines()
    for column in ("check", "value", "required", "ok"):
        start = lines[0].index(column)
        assert all(line[start - 2 : start] == "  " and line[start] != " " for line in lines[1:])


def test_a_report_of_passed_checks_is_ok() -> None:
    report = _report(CPUS)
    assert report.ok and report.failed == []


def test_a_failed_check_makes_the_report_not_ok_and_is_listed() -> None:
    report = _report(CPUS, PRIVILEGED)
    assert not report.ok
    assert report.failed == [PRIVILEGED]


def test_a_failed_task_other_than_a_check_makes_the_report_not_ok() -> None:
    unreachable = TaskFailure("ghost", "Gathering Facts", "Task failed", unreachable=True)
    assert not _report(CPUS, failures=(unreachable,)).ok


def test_a_failed_runner_makes_the_report_not_ok() -> None:
    assert not _report(CPUS, runner_ok=False).ok


def test_value_reads_a_checks_value_by_name() -> None:
    report = _report(CPUS, PRIVILEGED)
    assert report.value("privileged_containers") == "refused"
    assert report.value("cpus") == "16"
    assert report.value("no_such_check") is None


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        ("True", True),
        ("true", True),
        (True, True),
        (" yes ", True),
        ("1", True),
        ("False", False),
        (False, False),
        ("", False),
    ],
)
def test_a_checks_ok_is_read_the_way_ansible_writes_it(value: Any, truthy: bool) -> None:
    assert _truthy(value) is truthy
