"""The typed SimulationJob: what it carries, and how a receiver checks it without the submitter's files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from controller.config.loader import load_job
from controller.plan import CaseSpec, build_plan
from controller.simulation.simulation_job import JobStatus, SimulationJob, job_name, status_patch


@pytest.fixture
def gated(gated_job: Path) -> CaseSpec:
    """A case whose plugin is a file of the user's (``gated.py`` beside the job)."""
    return next(spec for spec in build_plan(load_job(gated_job)) if spec.algorithm == "gated-a")


def _received(job: SimulationJob) -> SimulationJob:
    """The job as a job controller or case Pod reads it back from the API server."""
    return SimulationJob.from_object({**job.to_manifest(), "status": {"phase": "Running"}})


def test_a_job_round_trips_through_its_manifest(gated: CaseSpec) -> None:
    sent = SimulationJob.of_case(gated, "lab", image="ianvs-lab/algo:1")
    received = _received(sent)
    assert received.name == job_name(gated) and received.namespace == "lab"
    assert (received.case_id, received.spec_hash, received.image) == (gated.case_id, sent.spec_hash, "ianvs-lab/algo:1")
    assert received.test_case() == gated
    assert received.status == JobStatus(phase="Running")


def test_the_job_names_the_digest_of_every_file_its_case_reads(gated: CaseSpec) -> None:
    digests = SimulationJob.of_case(gated, "lab").content_digests
    plugin = next(m.url for m in gated.modules if m.type == "basemodel")
    assert set(digests) == {plugin, gated.testenv.train_index, gated.testenv.test_index}
    assert all(digest.startswith("sha256:") for digest in digests.values())


def test_a_receiver_without_a_plugin_file_says_not_mounted_instead_of_edited_by_hand(gated: CaseSpec) -> None:
    received = _received(SimulationJob.of_case(gated, "lab"))
    plugin = Path(next(m.url for m in gated.modules if m.type == "basemodel"))
    plugin.rename(plugin.with_suffix(".away"))
    assert received.test_case() == gated  # the identity is checked from the JSON alone
    with pytest.raises(ValueError) as refused:
        received.check_files()
    assert str(refused.value) == f"not mounted: {plugin} (the case names it; mount its folder where the case runs)"


def test_a_file_changed_since_submission_is_named(gated: CaseSpec) -> None:
    received = _received(SimulationJob.of_case(gated, "lab"))
    plugin = Path(next(m.url for m in gated.modules if m.type == "basemodel"))
    plugin.write_text(plugin.read_text() + "\n# changed\n")
    with pytest.raises(ValueError, match=f"^changed since submission: {plugin} "):
        received.check_files()


def test_a_case_edited_by_hand_does_not_match_its_hash(gated: CaseSpec) -> None:
    job = SimulationJob.of_case(gated, "lab")
    edited = dataclasses.replace(job, case={**job.case, "seed": gated.seed + 1})
    with pytest.raises(ValueError, match=r"edited by hand\?"):
        edited.test_case()


def test_a_status_patch_sets_only_the_fields_given() -> None:
    assert status_patch(phase="Pending", observed_spec_hash="") == {
        "status": {"phase": "Pending", "observedSpecHash": ""}
    }


def test_a_status_is_finished_only_for_the_spec_hash_it_observed() -> None:
    status = JobStatus(phase="Succeeded", observed_spec_hash="a" * 64)
    assert status.finished_for("a" * 64) and not status.finished_for("b" * 64)
    assert not JobStatus(phase="Running", observed_spec_hash="a" * 64).finished_for("a" * 64)
