"""A testenv's own dataset (``testenv.dataset.dataset_url``): what `validate` and `run` ask of datasets/.

The one place that knows both a loaded benchmarking job and dataset provisioning, so that
``controller.datasets`` never depends on ``controller.config``:

    controller validate   pending_message(): is the data there yet? (reads the dataset marker only)
    controller run        provision_job_dataset(): download, verify, extract and index it first
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from controller.datasets.provision import Request, present, provision, resolve

if TYPE_CHECKING:
    from controller.config.loader import JobConfig

log = logging.getLogger(__name__)


def request_for_testenv(config: JobConfig) -> Request | None:
    """The provisioning request of a job's testenv, None when it names index files only."""
    ds = config.testenv.dataset
    if ds is None:
        return None
    return Request(
        ds.url,
        dest=ds.path,
        sha256=ds.sha256,
        layout=ds.layout,
        index=True,
        require_index=True,
        train_index_name=ds.train_index_name,
        test_index_name=ds.test_index_name,
        tasks=ds.tasks,
        drop_test_cities=ds.drop_test_cities,
        base=ds.file.parent,
    )


def pending_message(config: JobConfig) -> str | None:
    """For `controller validate`: None when the job's dataset is present, else what `run` will do.

    Reads the marker only: never touches the network.
    """
    request = request_for_testenv(config)
    if request is None:
        return None
    plan = resolve(request)
    assert request.dest is not None
    if present(request, plan, request.dest) is not None:
        return None
    return (
        f"{config.testenv.file}: testenv.dataset: not present yet at {request.dest}; "
        f"`controller run` will fetch it from {plan.display}"
    )


def provision_job_dataset(config: JobConfig) -> None:
    """For `controller run`: provision the testenv's dataset (no-op without ``dataset_url``).

    The job is not changed: its index paths already point inside ``dataset_path``.
    """
    request = request_for_testenv(config)
    if request is None:
        return
    result = provision(request)
    if result.fetched:
        log.info("testenv dataset prepared at %s", result.path)
