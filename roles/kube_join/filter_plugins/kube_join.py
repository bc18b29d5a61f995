"""Filters of the kube_join role (Ansible loads a role's filter_plugins/ with the role)."""

from __future__ import annotations

from typing import Any


def kube_join_pod_routes(nodes: dict[str, Any], this_node: str) -> list[dict[str, str]]:
    """The routes ``this_node`` needs for the ptp Pod network: every other node's Pod CIDR via its InternalIP.

    ``nodes`` is a registered ``kubernetes.core.k8s_info`` result (its ``resources``); nodes without a Pod CIDR or
    an InternalIP yet are left out (the next run adds them)."""
    routes = []
    for node in nodes.get("resources", []):
        if node["metadata"]["name"] == this_node:
            continue
        cidr = node.get("spec", {}).get("podCIDR")
        addresses = node.get("status", {}).get("addresses", [])
        via = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), None)
        if cidr and via:
            routes.append({"cidr": cidr, "via": via})
    return sorted(routes, key=lambda route: route["cidr"])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kube_join_pod_routes": kube_join_pod_routes}
