"""Filters of the kube_images role (Ansible loads a role's filter_plugins/ with the role)."""

from __future__ import annotations

import re
from typing import Any


def kube_images_ref(name: str) -> str:
    """The name containerd gives a Docker image: ``ianvs-lab/controller:1`` -> ``docker.io/ianvs-lab/controller:1``,
    ``busybox`` -> ``docker.io/library/busybox:latest``; names with a registry host stay as they are."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        repository = name
    else:
        repository = f"docker.io/{name}" if rest else f"docker.io/library/{name}"
    last = repository.rsplit("/", 1)[-1]
    return repository if ":" in last or "@" in last else f"{repository}:latest"


def kube_images_record(name: str) -> str:
    """A file name for an image's import record."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", kube_images_ref(name))


def kube_images_wanted(records: dict[str, Any], present: list[str]) -> list[dict[str, Any]]:
    """The images a node lacks: its import record (a registered loop of ``cat RECORD``) does not name the image's
    id, or containerd does not list it (removed by hand since)."""
    wanted = []
    for result in records.get("results", []):
        image = result["item"]
        if result.get("stdout", "").strip() != record_line(image) or image["ref"] not in present:
            wanted.append(image)
    return wanted


def record_line(image: dict[str, Any]) -> str:
    return f"{image['ref']} {image['id']}"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "kube_images_ref": kube_images_ref,
            "kube_images_record": kube_images_record,
            "kube_images_wanted": kube_images_wanted,
            "kube_images_record_line": record_line,
        }
