"""A benchmarking job with a ``simulation:`` section: build its lab, run the test cases there as case Pods, harvest
the results into the local workspace, and remove the lab again (unless ``keep_lab`` / ``--keep-lab``).

The proposal's flow: check whether to start emulation from the system config, check the host, build the cluster,
deploy the Simulation Job Controller, run, harvest, close and delete the environment.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from controller.runtime.local import Progress

if TYPE_CHECKING:
    from controller.config.loader import JobConfig
    from controller.plan import CaseSpec
    from controller.results import CaseResult

progress = logging.getLogger("controller.progress")


def run_cases_in_lab(
    config: JobConfig, specs: Sequence[CaseSpec], root: Path, args: argparse.Namespace, on_case: Progress
) -> list[CaseResult]:
    from controller.lab import kind_lab
    from controller.runtime.simulation import ClusterTarget, run_cases_in_cluster

    simulation = config.job.simulation
    assert simulation is not None
    planned = kind_lab.for_job(config, specs, root, args.image)
    planned.case_node_selector()  # a placement no node can satisfy is an error before anything is created
    privileged = kind_lab.check_host(planned)  # before anything is built or created
    image = args.image or controller_image()
    lab = replace(planned, images=(image,), controller_image=image)
    keep = simulation.keep_lab or args.keep_lab
    kubeconfig = kind_lab.up(lab, privileged=privileged)
    try:
        target = ClusterTarget(
            kubeconfig=kubeconfig,
            namespace=simulation.namespace,
            image=image,
            timeout_s=args.timeout,
            cleanup=args.cleanup,
        )
        return run_cases_in_cluster(specs, root, target, resume=args.resume, progress=on_case)
    finally:
        if keep:
            progress.info(
                "lab %s kept (keep_lab); the next run reuses it; remove it with: controller lab down %s",
                lab.name,
                config.file,
            )
        else:
            kind_lab.down(lab)


def controller_image() -> str:
    """The project's controller image, built (or refreshed) from this checkout; case Pods run in it too."""
    from controller.simulation.controller_image import DEFAULT_TAG, build_image

    progress.info("building the controller image %s (cases run in it; dependencies cached)", DEFAULT_TAG)
    return build_image(DEFAULT_TAG).tag
