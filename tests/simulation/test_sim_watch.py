"""The list-then-watch loop every simulation watcher uses, against the real API server's watch semantics."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from infra.fixtures import K8s

from controller.plan import CaseSpec
from controller.simulation.job_admin import JobAdministrator
from controller.simulation.kube import list_then_watch
from controller.simulation.manifests import GROUP, PLURAL, VERSION
from controller.simulation.simulation_job import job_name


def _list_with_a_stale_first_version(k8s: K8s, calls: list[dict[str, Any]]) -> Any:
    """The real list call, except that the first list claims resourceVersion 1 — long expired, as after a
    controller slept through a compaction."""
    real = k8s.custom.list_namespaced_custom_object

    def list_fn(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        result = real(*args, **kwargs)
        if not kwargs.get("watch") and sum(1 for c in calls if not c.get("watch")) == 1:
            result["metadata"]["resourceVersion"] = "1"
        return result

    list_fn.__doc__ = real.__doc__  # the watch helper reads the return type from the docstring
    return list_fn


def test_an_expired_resource_version_leads_to_a_new_list_not_an_error(
    k8s: K8s, simulation_crd: None, specs: list[CaseSpec], caplog: pytest.LogCaptureFixture
) -> None:
    JobAdministrator(k8s.api, k8s.namespace).submit(specs[:1])
    calls: list[dict[str, Any]] = []
    seen: list[tuple[str, str]] = []
    with caplog.at_level(logging.INFO, logger="controller.simulation.kube"):
        for event in list_then_watch(
            _list_with_a_stale_first_version(k8s, calls),
            stop=lambda: len(seen) >= 2,
            server_timeout_s=5,
            group=GROUP,
            version=VERSION,
            namespace=k8s.namespace,
            plural=PLURAL,
        ):
            seen.append((event.type, event.object["metadata"]["name"]))
    # the first list's object, then (after 410) the same object replayed by the second list
    assert seen == [("ADDED", job_name(specs[0]))] * 2
    assert [bool(c.get("watch")) for c in calls] == [False, True, False]
    assert "expired (410 Gone); listing again" in caplog.text


def test_changes_after_the_list_arrive_as_watch_events(k8s: K8s, simulation_crd: None, specs: list[CaseSpec]) -> None:
    first, second = specs[0], specs[1]
    admin = JobAdministrator(k8s.api, k8s.namespace)
    admin.submit([first])
    seen: list[tuple[str, str]] = []
    stop = threading.Event()

    def submit_later() -> None:
        admin.submit([second])

    timer = threading.Timer(1.0, submit_later)
    timer.start()
    try:
        for event in list_then_watch(
            k8s.custom.list_namespaced_custom_object,
            stop=stop.is_set,
            server_timeout_s=5,
            group=GROUP,
            version=VERSION,
            namespace=k8s.namespace,
            plural=PLURAL,
        ):
            seen.append((event.type, event.object["metadata"]["name"]))
            if len(seen) == 2:
                stop.set()
    finally:
        timer.cancel()
    assert seen == [("ADDED", job_name(first)), ("ADDED", job_name(second))]
