"""Filters of the kind_cluster role (Ansible loads a role's filter_plugins/ with the role)."""

from __future__ import annotations

from typing import Any


def kind_cluster_not_ready(api_nodes: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[str]:
    """Names of the wanted nodes that the API does not report Ready (missing nodes count as not Ready)."""
    ready = {
        node["metadata"]["name"]
        for node in api_nodes
        for condition in node.get("status", {}).get("conditions", [])
        if condition.get("type") == "Ready" and condition.get("status") == "True"
    }
    return [node["name"] for node in wanted if node["name"] not in ready]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kind_cluster_not_ready": kind_cluster_not_ready}
