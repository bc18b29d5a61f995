"""A benchmarking job with a ``simulation:`` section: build its lab, run the test cases there as case Pods, harvest
the results into the local workspace, and remove the lab again (unless ``keep_lab`` / ``--keep-lab``).

The proposal's flow: check whether to start emulation from the system config, check the host, build the cluster,
deploy the Simulation Job Controller, run, harvest, close and delete the environment.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from controller.runtime.local import Progress

if TYPE_CHECKING:
    from controller.config.loader import JobConfig
    from controller.plan import CaseSpec
    from controller.results import CaseResult
    from controller.simulation.case_data import CaseData

progress = logging.getLogger("controller.progress")


def run_cases_in_lab(
    config: JobConfig, specs: Sequence[CaseSpec], root: Path, args: argparse.Namespace, on_case: Progress
) -> list[CaseResult]:
    """Build the job's lab (kind on this host, or the machines of ``simulation.inventory``), run the cases there,
    and remove the lab again unless kept."""
    from controller.lab import kind_lab, kube_lab
    from controller.runtime.simulation import ClusterTarget, run_cases_in_cluster

    simulation = config.job.simulation
    assert simulation is not None
    remove: Callable[[], object]
    served: AbstractContextManager[CaseData | None]
    if simulation.inventory is None:
        planned = kind_lab.for_job(config, specs, root, args.image)
        planned.case_node_selector()  # a placement no node can satisfy is an error before anything is created
        privileged = kind_lab.check_host(planned)  # before anything is built or created
        image = args.image or controller_image()
        lab = replace(planned, images=(image,), controller_image=image)
        kubeconfig = kind_lab.up(lab, privileged=privileged)
        remove, served = partial(kind_lab.down, lab), nullcontext()  # the nodes mount the host's folders
    else:
        image = args.image or controller_image()
        multi_host = kube_lab.KubeLab(simulation, controller_image=image)
        kubeconfig = kube_lab.up(multi_host)
        remove, served = partial(kube_lab.down, multi_host), served_case_data(specs, kubeconfig)
    try:
        with served as case_data:
            target = ClusterTarget(
                kubeconfig=kubeconfig,
                namespace=simulation.namespace,
                image=image,
                timeout_s=args.timeout,
                cleanup=args.cleanup,
                case_data=case_data,
            )
            return run_cases_in_cluster(specs, root, target, resume=args.resume, progress=on_case)
    finally:
        if simulation.keep_lab or args.keep_lab:
            progress.info(
                "lab %s kept (keep_lab); the next run reuses it; remove it with: controller lab down %s",
                simulation.cluster_name,
                config.file,
            )
        else:
            remove()


@contextmanager
def served_case_data(specs: Sequence[CaseSpec], kubeconfig: Path) -> Iterator[CaseData]:
    """The files the cases read, bundled and served (for the length of the block) where the lab's nodes reach this
    machine: its address on the route to the lab's API server."""
    from controller.plan import content_digests
    from controller.simulation.case_data import DataServer, address_towards, bundle
    from controller.simulation.kube import api_server_url

    named = sorted({path for spec in specs for path in content_digests(spec)})
    indexes = sorted({index for spec in specs for index in (spec.testenv.train_index, spec.testenv.test_index)})
    built = bundle(named, case_data_dir(), indexes)
    progress.info("case data: %d files (%d bytes) for the nodes' dataset caches", built.files, built.size)
    with DataServer(built.path.parent, address_towards(api_server_url(kubeconfig))) as server:
        yield built.case_data(server.base_url)


def case_data_dir() -> Path:
    """Where the controller keeps the case-data archives it serves: ``$XDG_CACHE_HOME/ianvs-lab/case-data``."""
    from controller.userdirs import cache_dir

    return cache_dir("case-data")


def controller_image() -> str:
    """The project's controller image, built (or refreshed) from this checkout; case Pods run in it too."""
    from controller.simulation.controller_image import DEFAULT_TAG, build_image

    progress.info("building the controller image %s (cases run in it; dependencies cached)", DEFAULT_TAG)
    return build_image(DEFAULT_TAG).tag
