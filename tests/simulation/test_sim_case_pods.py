"""A case in its own Pod: the batch Job rendered for a SimulationJob with an image, and how Job/Pod state becomes
an outcome (no cluster needed; tests/simulation/test_sim_case_pods_cluster.py runs the real thing)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from controller.errors import ConfigError
from controller.simulation import case_pods
from controller.simulation.case_pods import CasePodSettings, case_job, case_job_name, case_outcome
from controller.simulation.simulation_job import SimulationJob

SPEC_HASH = "a" * 64


def _simulation_job(
    name: str = "cityscapes-lifelong-0123456789ab", image: str = "ianvs-lab/controller:1"
) -> SimulationJob:
    return SimulationJob.from_object(
        {
            "metadata": {"name": name, "namespace": "lab", "uid": "6f1c0de4-0000-4000-8000-000000000001"},
            "spec": {"caseId": "0123456789ab", "specHash": SPEC_HASH, "image": image},
        }
    )


def _pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]


def test_the_case_job_runs_run_case_for_its_simulation_job_in_its_image() -> None:
    job = case_job(_simulation_job(), CasePodSettings(workspace="/srv/ws"))
    (container,) = _pod_spec(job)["containers"]
    assert container["image"] == "ianvs-lab/controller:1"
    assert container["args"] == [
        "simulation",
        "run-case",
        "--namespace",
        "lab",
        "--job",
        "cityscapes-lifelong-0123456789ab",
        "--workspace",
        "/srv/ws",
    ]
    assert _pod_spec(job)["serviceAccountName"] == "ianvs-simulation-case-runner"


def test_the_case_job_never_retries_and_belongs_to_its_simulation_job() -> None:
    job = case_job(_simulation_job(), CasePodSettings(workspace="/srv/ws"))
    assert job["spec"]["backoffLimit"] == 0
    assert _pod_spec(job)["restartPolicy"] == "Never"
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "SimulationJob",
        "cityscapes-lifelong-0123456789ab",
        "6f1c0de4-0000-4000-8000-000000000001",
        True,
    )
    assert "activeDeadlineSeconds" not in job["spec"]


def test_case_pod_settings_reach_the_pod() -> None:
    settings = CasePodSettings(
        workspace="/srv/ws",
        host_paths=("/plugins", "/data", "/data"),
        kubeconfig="/etc/case.kubeconfig",
        host_network=True,
        node_selector={"ianvs-lab.io/role": "edge"},
        tolerations=({"key": "edge", "operator": "Exists", "effect": "NoSchedule"},),
        image_pull_policy="Never",
        deadline_s=600,
        resources={"limits": {"nvidia.com/gpu": 1}},
    )
    job = case_job(_simulation_job(), settings)
    pod = _pod_spec(job)
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert mounts == {"/srv/ws": False, "/etc/case.kubeconfig": True, "/data": True, "/plugins": True}
    assert container["args"][-2:] == ["--kubeconfig", "/etc/case.kubeconfig"]
    assert (pod["hostNetwork"], pod["nodeSelector"], pod["tolerations"]) == (
        True,
        {"ianvs-lab.io/role": "edge"},
        [{"key": "edge", "operator": "Exists", "effect": "NoSchedule"}],
    )
    assert container["imagePullPolicy"] == "Never"
    assert job["spec"]["activeDeadlineSeconds"] == 600
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 1}}


@pytest.mark.parametrize("name", ["short", "x" * 63, "a-benchmark-with-a-very-long-name-and-its-case-0123456789ab"])
def test_case_job_names_are_dns_labels_and_differ_per_spec_hash(name: str) -> None:
    first, second = case_job_name(name, "a" * 64), case_job_name(name, "b" * 64)
    for value in (first, second):
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value) and len(value) <= 63
    assert first != second


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"image_pull_policy": "Sometimes"}, "case image pull policy: expected one of Always, IfNotPresent, Never"),
        ({"deadline_s": -1}, "case deadline: expected seconds >= 0, got -1"),
        ({"resources": {"limit": {"cpu": 1}}}, 'case resources: expected {"requests": {...}, "limits": {...}}'),
        ({"resources": {"limits": 1}}, 'case resources: expected {"requests": {...}, "limits": {...}}'),
    ],
)
def test_bad_case_pod_settings_are_refused(changes: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(error)):
        CasePodSettings(workspace="/srv/ws", **changes)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{", "--case-tolerations: not JSON"),
        ('{"key": "edge"}', "--case-tolerations: expected a JSON list of objects"),
        ('["edge"]', "--case-tolerations: expected a JSON list of objects"),
    ],
)
def test_bad_tolerations_are_refused(text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(error)):
        case_pods.parse_tolerations(text)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{", "--case-resources: not JSON"),
        ("[]", "--case-resources: expected a JSON object"),
    ],
)
def test_bad_resources_are_refused(text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(error)):
        case_pods.parse_resources(text)


def test_node_selectors_need_key_and_value() -> None:
    assert case_pods.parse_node_selector(["a=b", "c="]) == {"a": "b", "c": ""}
    with pytest.raises(ConfigError, match="--case-node-selector: expected KEY=VALUE, got 'edge'"):
        case_pods.parse_node_selector(["edge"])


# --------------------------------------------------------------------------------------------- outcome


def _job_status(*conditions: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "status": {"conditions": [{"type": t, "status": "True", "reason": r, "message": m} for t, r, m in conditions]}
    }


def _pod(state: dict[str, Any], created: str = "2026-11-28T00:00:00Z") -> dict[str, Any]:
    return {
        "metadata": {"creationTimestamp": created},
        "status": {"containerStatuses": [{"image": "ianvs-lab/missing:1", "state": state}]},
    }


def test_a_job_without_conditions_is_still_running() -> None:
    assert case_outcome({"status": {"active": 1}}, [_pod({"running": {}})]) == case_pods.RUNNING


def test_a_complete_job_succeeded() -> None:
    outcome = case_outcome(_job_status(("Complete", "", "")), [_pod({"terminated": {"exitCode": 0}})])
    assert (outcome.finished, outcome.succeeded) == (True, True)


@pytest.mark.parametrize("reason", ["ErrImageNeverPull", "ImagePullBackOff", "InvalidImageName"])
def test_a_pod_stuck_on_its_image_fails_the_case_with_the_reason(reason: str) -> None:
    pod = _pod({"waiting": {"reason": reason, "message": "image not present with pull policy of Never"}})
    outcome = case_outcome({"status": {"active": 1}}, [pod])
    assert (outcome.finished, outcome.succeeded) == (True, False)
    assert outcome.message == (
        f"case Pod cannot start (ianvs-lab/missing:1): {reason}: image not present with pull policy of Never"
    )


def test_an_unschedulable_pod_keeps_the_case_running_and_says_why() -> None:
    pod = {
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 Insufficient cpu.",
                }
            ],
        }
    }
    outcome = case_outcome({"status": {"active": 1}}, [pod])
    assert (outcome.finished, outcome.message) == (
        False,
        "case Pod waits for a node: Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.",
    )


def _failed_create(message: str, at: str) -> dict[str, Any]:
    return {"reason": "FailedCreate", "message": message, "lastTimestamp": at}


def test_a_pod_the_job_cannot_create_keeps_the_case_waiting_with_the_newest_reason() -> None:
    events = [
        _failed_create("exceeded quota: pods=0", "2026-11-28T00:00:02Z"),
        _failed_create("old reason", "2026-11-28T00:00:01Z"),
        {"reason": "SuccessfulCreate", "message": "Created pod", "lastTimestamp": "2026-11-28T00:00:03Z"},
    ]
    outcome = case_outcome({"status": {}}, [], events)
    assert (outcome.finished, outcome.message) == (False, "case Pod cannot be created: exceeded quota: pods=0")


def test_creation_events_do_not_matter_once_a_pod_exists() -> None:
    outcome = case_outcome({"status": {"active": 1}}, [_pod({"running": {}})], [_failed_create("old", "t")])
    assert outcome == case_pods.RUNNING


def test_a_pod_still_creating_is_not_stuck() -> None:
    pod = _pod({"waiting": {"reason": "ContainerCreating"}})
    assert case_outcome({"status": {"active": 1}}, [pod]) == case_pods.RUNNING


def test_a_failed_job_names_the_last_termination_and_its_last_log_line() -> None:
    older = _pod({"terminated": {"reason": "Error", "exitCode": 1, "message": "old"}}, "2026-11-28T00:00:00Z")
    newer = _pod(
        {"terminated": {"reason": "OOMKilled", "exitCode": 137, "message": "loading model\nerror: out of memory\n"}},
        "2026-11-28T00:01:00Z",
    )
    outcome = case_outcome(
        _job_status(("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")), [older, newer]
    )
    assert outcome.message == (
        "case Pod failed: BackoffLimitExceeded: Job has reached the specified backoff limit; "
        "container OOMKilled with exit code 137: error: out of memory"
    )


def test_a_job_past_its_deadline_fails_even_without_a_pod() -> None:
    outcome = case_outcome(
        _job_status(("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")), []
    )
    assert outcome.message == "case Pod failed: DeadlineExceeded: Job was active longer than specified deadline"


# ------------------------------------------------------------------------------------------ bounded cases


def _bounded_job(**bounds: object) -> SimulationJob:
    job = _simulation_job()
    return SimulationJob.from_object(
        {
            "metadata": {"name": job.name, "namespace": "lab", "uid": job.uid},
            "spec": {"caseId": job.case_id, "specHash": SPEC_HASH, "image": job.image, "case": {"bounds": bounds}},
        }
    )


def test_a_case_s_bounds_become_its_job_deadline_and_container_memory_limit() -> None:
    settings = CasePodSettings(
        workspace="/srv/ws",
        deadline_s=3600,
        resources={"limits": {"nvidia.com/gpu": 1, "memory": "8Gi"}, "requests": {"cpu": "1"}},
    )
    job = case_job(_bounded_job(timeout_s=29.5, memory_mib=512), settings)
    assert job["spec"]["activeDeadlineSeconds"] == 30  # whole seconds, rounded up: never shorter than asked
    (container,) = _pod_spec(job)["containers"]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 1, "memory": "512Mi"}, "requests": {"cpu": "1"}}


def test_without_bounds_the_controller_s_settings_stay() -> None:
    settings = CasePodSettings(workspace="/srv/ws", deadline_s=600, resources={"limits": {"memory": "8Gi"}})
    job = case_job(_bounded_job(timeout_s=None, memory_mib=None), settings)
    assert job["spec"]["activeDeadlineSeconds"] == 600
    assert _pod_spec(job)["containers"][0]["resources"] == {"limits": {"memory": "8Gi"}}
    only_memory = case_job(_bounded_job(memory_mib=256), settings)
    assert only_memory["spec"]["activeDeadlineSeconds"] == 600


def test_a_job_stopped_at_its_case_timeout_says_so_as_the_local_runtime_does() -> None:
    job = _job_status(("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"))
    outcome = case_outcome(job, [], bounds=_bounded_job(timeout_s=30).bounds)
    assert outcome.message == (
        "exceeded --case-timeout 30 s; case Pod failed: DeadlineExceeded: Job was active longer than specified deadline"
    )


def test_a_container_killed_at_its_case_memory_says_so_without_inventing_a_peak() -> None:
    pod = _pod({"terminated": {"reason": "OOMKilled", "exitCode": 137, "message": "training round 1\n"}})
    job = _job_status(("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"))
    outcome = case_outcome(job, [pod], bounds=_bounded_job(memory_mib=512).bounds)
    assert outcome.message.startswith(
        "exceeded --case-memory 512 MiB (container OOMKilled, peak not measured); case Pod failed: BackoffLimitExceeded"
    )
    assert outcome.message.endswith("container OOMKilled with exit code 137: training round 1")
    unbounded = case_outcome(job, [pod])
    assert unbounded.message.startswith("case Pod failed: BackoffLimitExceeded"), "an unbounded case named a bound"
