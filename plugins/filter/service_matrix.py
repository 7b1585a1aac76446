# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the plays derive from the service matrix (module_utils/_service_matrix.py).

- ``matrix | orcaqueen.swarm.service_port('node_exporter_port')``: the port of a role variable.
- ``matrix | orcaqueen.swarm.service_placement(groups, hostvars)``: service -> hosts that run it.
- ``matrix | orcaqueen.swarm.service_scrape_jobs``: the prometheus role's ``prometheus_service_jobs``.
- ``matrix | orcaqueen.swarm.service_secrets(delivery=...)``: the secrets, flat, with their service.
- ``matrix | orcaqueen.swarm.service_kv_read_paths``: per node group, the KV paths its agents read.

The documentation is in the ``.yml`` file of each filter next to this file.
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError
from ansible_collections.orcaqueen.swarm.plugins.module_utils import _service_matrix as sm


def _node_groups(node_groups: list[str] | None) -> tuple[str, ...]:
    return tuple(node_groups or sm.NODE_GROUPS)


def service_port(matrix: t.Any, port_var: str, node_groups: list[str] | None = None) -> int:
    """The port the matrix gives the role variable ``port_var``."""
    try:
        return sm.port_of(sm.validate_matrix(matrix, _node_groups(node_groups)), str(port_var))
    except ValueError as exc:
        raise AnsibleFilterError(f"service_port: {exc}") from exc


def service_placement(
    matrix: t.Any,
    groups: t.Mapping[str, t.Sequence[str]],
    hostvars: t.Mapping[str, t.Any],
    node_groups: list[str] | None = None,
) -> dict[str, list[str]]:
    """service -> the hosts that run it (its groups, narrowed by its ``enabled_by`` host variable)."""
    try:
        ng = _node_groups(node_groups)
        return sm.placement(sm.validate_matrix(matrix, ng), groups, hostvars, ng)
    except ValueError as exc:
        raise AnsibleFilterError(f"service_placement: {exc}") from exc


def service_scrape_jobs(
    matrix: t.Any,
    exclude_jobs: list[str] | None = None,
    group_prefix: str = sm.DEFAULT_PLACEMENT_PREFIX,
    node_groups: list[str] | None = None,
    groups: t.Mapping[str, t.Sequence[str]] | None = None,
) -> list[dict[str, t.Any]]:
    """``prometheus_service_jobs`` entries, one per scraped service (with ``groups``: only those with hosts)."""
    try:
        m = sm.validate_matrix(matrix, _node_groups(node_groups))
        excl = sm.PROMETHEUS_ROLE_JOBS if exclude_jobs is None else tuple(exclude_jobs)
        jobs = sm.scrape_jobs(m, excl, group_prefix)
        if groups is not None:
            jobs = [j for j in jobs if groups.get(j["group"])]
        return jobs
    except ValueError as exc:
        raise AnsibleFilterError(f"service_scrape_jobs: {exc}") from exc


def service_tls_probes(
    matrix: t.Any,
    group_prefix: str = sm.DEFAULT_PLACEMENT_PREFIX,
    node_groups: list[str] | None = None,
    groups: t.Mapping[str, t.Sequence[str]] | None = None,
) -> list[dict[str, t.Any]]:
    """The TLS endpoints the blackbox exporter probes, one entry per service (with ``groups``: only deployed ones)."""
    try:
        probes = sm.tls_probes(sm.validate_matrix(matrix, _node_groups(node_groups)), group_prefix)
        if groups is not None:
            probes = [p for p in probes if groups.get(p["group"])]
        return probes
    except ValueError as exc:
        raise AnsibleFilterError(f"service_tls_probes: {exc}") from exc


def service_secrets(
    matrix: t.Any,
    delivery: str | None = None,
    services: list[str] | None = None,
    scrape: bool = False,
    node_groups: list[str] | None = None,
) -> list[dict[str, t.Any]]:
    """The matrix's secrets, flat (each with ``service`` and ``id``)."""
    try:
        m = sm.validate_matrix(matrix, _node_groups(node_groups))
        if scrape:
            found = sm.scrape_secrets(m, sm.PROMETHEUS_ROLE_JOBS)
            return [s for s in found if (services is None or s["service"] in services)]
        return sm.secrets(m, delivery, services)
    except ValueError as exc:
        raise AnsibleFilterError(f"service_secrets: {exc}") from exc


def service_kv_read_paths(
    matrix: t.Any, node_groups: list[str] | None = None, by: str = "group"
) -> dict[str, list[str]]:
    """Per node group (or per service), the KV paths (below ``secret/``) that its vault agents render."""
    try:
        ng = _node_groups(node_groups)
        m = sm.validate_matrix(matrix, ng)
        if by == "service":
            return sm.kv_read_paths_by_service(m)
        if by != "group":
            raise ValueError(f"by must be group or service, got {by!r}")
        return sm.kv_read_paths(m, ng)
    except ValueError as exc:
        raise AnsibleFilterError(f"service_kv_read_paths: {exc}") from exc


def service_vault_clients(matrix: t.Any, node_groups: list[str] | None = None) -> dict[str, list[str]]:
    """Per node group, the services that reach Vault through the node's agent (agent secrets or Vault PKI)."""
    try:
        ng = _node_groups(node_groups)
        return sm.vault_clients(sm.validate_matrix(matrix, ng), ng)
    except ValueError as exc:
        raise AnsibleFilterError(f"service_vault_clients: {exc}") from exc


class FilterModule:
    """orcaqueen.swarm filters derived from the service matrix."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "service_port": service_port,
            "service_placement": service_placement,
            "service_scrape_jobs": service_scrape_jobs,
            "service_tls_probes": service_tls_probes,
            "service_secrets": service_secrets,
            "service_kv_read_paths": service_kv_read_paths,
            "service_vault_clients": service_vault_clients,
        }
