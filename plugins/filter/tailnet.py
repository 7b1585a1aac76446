# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tailnet filters derived from the service matrix (module_utils/_service_matrix.py).

- ``matrix | orcaqueen.swarm.tailnet_policy(...)``: the Tailscale/headscale policy (JSON).
- ``matrix | orcaqueen.swarm.service_firewall_rules(service, host, hostvars, groups, ...)``:
  nft rules for the hardening drop-in API, accepting a service only on ``tailscale0`` from
  the allowed peers' tailnet addresses.

The documentation is in ``tailnet_policy.yml`` and ``service_firewall_rules.yml`` next to this file.
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError
from ansible_collections.orcaqueen.swarm.plugins.module_utils import _service_matrix as sm


def tailnet_policy(
    matrix: t.Any,
    tags: dict[str, str] | None = None,
    tag_owners: t.Any = None,
    include_tests: bool = True,
    test_tags: list[str] | None = None,
    prometheus_group: str = sm.DEFAULT_PROMETHEUS_GROUP,
    node_groups: list[str] | None = None,
) -> dict[str, t.Any]:
    """The tailnet policy for ``matrix`` (see tailnet_policy.yml)."""
    try:
        return sm.build_policy(
            matrix,
            tags=tags or {},
            tag_owners=tag_owners,
            node_groups=tuple(node_groups or sm.NODE_GROUPS),
            prometheus_group=prometheus_group,
            include_tests=bool(include_tests),
            test_tags=test_tags,
        )
    except ValueError as exc:
        raise AnsibleFilterError(f"tailnet_policy: {exc}") from exc


def service_firewall_rules(
    matrix: t.Any,
    service: str | list[str],
    host: str,
    hostvars: t.Mapping[str, t.Any],
    groups: t.Mapping[str, t.Sequence[str]],
    interface: str = sm.DEFAULT_INTERFACE,
    prometheus_group: str = sm.DEFAULT_PROMETHEUS_GROUP,
    principal_groups: dict[str, str] | None = None,
    extra_sources: dict[str, list[str]] | None = None,
    address_vars: list[str] | None = None,
    strict: bool = True,
    node_groups: list[str] | None = None,
) -> list[str]:
    """nft rule strings for ``service`` on ``host`` (see service_firewall_rules.yml)."""
    services = [service] if isinstance(service, str) else list(service)
    rules: list[str] = []
    try:
        for name in services:
            rules.extend(
                _one_service(
                    matrix,
                    name,
                    host,
                    hostvars,
                    groups,
                    interface,
                    prometheus_group,
                    principal_groups,
                    extra_sources,
                    address_vars,
                    strict,
                    node_groups,
                )
            )
    except ValueError as exc:
        raise AnsibleFilterError(f"service_firewall_rules: {exc}") from exc
    return rules


def _one_service(
    matrix: t.Any,
    service: str,
    host: str,
    hostvars: t.Mapping[str, t.Any],
    groups: t.Mapping[str, t.Sequence[str]],
    interface: str,
    prometheus_group: str,
    principal_groups: dict[str, str] | None,
    extra_sources: dict[str, list[str]] | None,
    address_vars: list[str] | None,
    strict: bool,
    node_groups: list[str] | None,
) -> list[str]:
    if not isinstance(service, str):
        raise ValueError(f"service must be a name or a list of names, got {service!r}")
    return sm.firewall_rules(
        matrix,
        service,
        host,
        hostvars,
        groups,
        interface=interface,
        node_groups=tuple(node_groups or sm.NODE_GROUPS),
        prometheus_group=prometheus_group,
        principal_inventory_groups=principal_groups,
        extra_sources=extra_sources,
        address_vars=tuple(address_vars or ("tailscale_ipv4", "tailscale_ipv6")),
        strict=bool(strict),
    )


class FilterModule:
    """orcaqueen.swarm filters for the tailnet."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"tailnet_policy": tailnet_policy, "service_firewall_rules": service_firewall_rules}
