# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The swarm's service matrix (docs/design: "Service matrix") and what is derived from it.

One data structure drives the Tailscale/headscale policy (``tailnet_policy`` filter), the
per-service nftables rules on ``tailscale0`` (``service_firewall_rules`` filter) and the
``orcaqueen.swarm.service_matrix`` lookup. Operators override it with ``swarm_service_matrix``.

An entry::

    {"service": "vault_api",            # unique name, [a-z0-9_]
     "groups": ["orchestrator"],        # inventory groups whose hosts run it ("swarm" = every node group)
     "ports": [{"port": 8200, "proto": "tcp"}],
     "tls": "yes",                      # yes | yes+auth | ssh | no (documentation, checked by the verifiers)
     "from": ["swarm", "admin"],        # principals that may connect
     "description": "..."}

Principals: a node group (``orchestrator``, ``inference``, ``worker``), ``swarm`` (every node
group), ``admin`` (tag:admin), ``client`` (tag:client), ``prometheus`` (the group that runs
Prometheus, orchestrator by default) and ``self`` (the other hosts of the service's own groups:
vault raft peers, qdrant p2p). Pure functions, no Ansible imports: errors are ``ValueError``.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import typing as t

NODE_GROUPS: tuple[str, ...] = ("orchestrator", "inference", "worker")
SPECIAL_PRINCIPALS: tuple[str, ...] = ("swarm", "admin", "client", "prometheus", "self")
TLS_VALUES: tuple[str, ...] = ("yes", "yes+auth", "ssh", "no")
PROTOCOLS: tuple[str, ...] = ("tcp", "udp")
DEFAULT_PROMETHEUS_GROUP = "orchestrator"
DEFAULT_INTERFACE = "tailscale0"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_TAG = re.compile(r"^tag:[a-z0-9][a-z0-9-]*$")
_GROUP = re.compile(r"^[A-Za-z0-9_]+$")

Entry = dict[str, t.Any]
Matrix = list[Entry]


def _p(port: int, proto: str = "tcp") -> dict[str, t.Any]:
    return {"port": port, "proto": proto}


# The table of DESIGN.md, once.
_SERVICE_MATRIX: tuple[Entry, ...] = (
    {
        "service": "ssh",
        "groups": ["swarm"],
        "ports": [_p(22)],
        "tls": "ssh",
        "from": ["admin"],
        "description": "OpenSSH (keys only); admins only",
    },
    {
        "service": "vault_api",
        "groups": ["orchestrator"],
        "ports": [_p(8200)],
        "tls": "yes",
        "from": ["swarm", "admin"],
        "description": "Vault/OpenBao API",
    },
    {
        "service": "vault_cluster",
        "groups": ["orchestrator"],
        "ports": [_p(8201)],
        "tls": "yes",
        "from": ["self"],
        "description": "Vault raft cluster traffic between Vault servers",
    },
    {
        "service": "litellm",
        "groups": ["orchestrator"],
        "ports": [_p(4000)],
        "tls": "yes",
        "from": ["client", "admin"],
        "description": "LiteLLM gateway",
    },
    {
        "service": "vllm",
        "groups": ["inference", "worker"],
        "ports": [_p(8000)],
        "tls": "yes",
        "from": ["orchestrator", "prometheus"],
        "description": "vLLM OpenAI-compatible API (gateway and scrapes)",
    },
    {
        "service": "qdrant",
        "groups": ["worker"],
        "ports": [_p(6333), _p(6334)],
        "tls": "yes",
        "from": ["orchestrator", "inference"],
        "description": "Qdrant HTTP and gRPC",
    },
    {
        "service": "qdrant_p2p",
        "groups": ["worker"],
        "ports": [_p(6335)],
        "tls": "yes",
        "from": ["self"],
        "description": "Qdrant distributed mode (raft, shard transfer)",
    },
    {
        "service": "prometheus",
        "groups": ["orchestrator"],
        "ports": [_p(9090)],
        "tls": "yes+auth",
        "from": ["admin"],
        "description": "Prometheus UI and API",
    },
    {
        "service": "alertmanager",
        "groups": ["orchestrator"],
        "ports": [_p(9093)],
        "tls": "yes+auth",
        "from": ["prometheus", "admin"],
        "description": "Alertmanager",
    },
    {
        "service": "grafana",
        "groups": ["orchestrator"],
        "ports": [_p(3000)],
        "tls": "yes",
        "from": ["admin", "client"],
        "description": "Grafana",
    },
    {
        "service": "node_exporter",
        "groups": ["swarm"],
        "ports": [_p(9100)],
        "tls": "yes",
        "from": ["prometheus"],
        "description": "Prometheus node exporter",
    },
    {
        "service": "gpu_exporter",
        "groups": ["swarm"],
        "ports": [_p(9835)],
        "tls": "yes",
        "from": ["prometheus"],
        "description": "NVIDIA GPU exporter (hosts with a GPU)",
    },
)

DEFAULT_TAGS: dict[str, str] = {
    "orchestrator": "tag:orchestrator",
    "inference": "tag:inference",
    "worker": "tag:worker",
    "admin": "tag:admin",
    "client": "tag:client",
}


def default_matrix() -> Matrix:
    """A fresh (mutable) copy of the built-in matrix."""
    return copy.deepcopy(list(_SERVICE_MATRIX))


def _fail(msg: str) -> t.NoReturn:
    raise ValueError(f"service matrix: {msg}")


def validate_matrix(matrix: t.Any, node_groups: t.Sequence[str] = NODE_GROUPS) -> Matrix:
    """Check a matrix (the built-in one or ``swarm_service_matrix``) and return a normalized copy."""
    if not isinstance(matrix, (list, tuple)) or not matrix:
        _fail(f"must be a non-empty list of service entries, got {type(matrix).__name__}")
    known = set(node_groups) | set(SPECIAL_PRINCIPALS)
    seen: set[str] = set()
    out: Matrix = []
    for i, raw in enumerate(matrix):
        if not isinstance(raw, dict):
            _fail(f"entry {i} must be a dict, got {type(raw).__name__}")
        name = raw.get("service")
        if not isinstance(name, str) or not _NAME.match(name):
            _fail(f"entry {i}: 'service' must match {_NAME.pattern}, got {name!r}")
        if name in seen:
            _fail(f"service '{name}' appears twice")
        seen.add(name)
        unknown_keys = set(raw) - {"service", "groups", "ports", "tls", "from", "description"}
        if unknown_keys:
            _fail(f"service '{name}': unknown keys {sorted(unknown_keys)}")
        groups = raw.get("groups")
        if not isinstance(groups, list) or not groups or not all(isinstance(g, str) for g in groups):
            _fail(f"service '{name}': 'groups' must be a non-empty list of inventory group names")
        bad = [g for g in groups if g not in set(node_groups) | {"swarm"}]
        if bad:
            _fail(f"service '{name}': groups {bad} are not node groups ({', '.join(node_groups)} or swarm)")
        ports = raw.get("ports")
        if not isinstance(ports, list) or not ports:
            _fail(f"service '{name}': 'ports' must be a non-empty list of {{port, proto}}")
        norm_ports = []
        for p in ports:
            if not isinstance(p, dict):
                _fail(f"service '{name}': port entries are dicts {{port: 8200, proto: tcp}}, got {p!r}")
            port, proto = p.get("port"), p.get("proto", "tcp")
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                _fail(f"service '{name}': port must be an integer 1-65535, got {port!r}")
            if proto not in PROTOCOLS:
                _fail(f"service '{name}': proto must be one of {PROTOCOLS}, got {proto!r}")
            norm_ports.append({"port": port, "proto": proto})
        tls = raw.get("tls", "yes")
        if tls not in TLS_VALUES:
            _fail(f"service '{name}': tls must be one of {TLS_VALUES}, got {tls!r}")
        principals = raw.get("from")
        if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
            _fail(f"service '{name}': 'from' must be a list of principals")
        bad = [p for p in principals if p not in known]
        if bad:
            _fail(f"service '{name}': unknown principals {bad} (known: {sorted(known)})")
        out.append(
            {
                "service": name,
                "groups": list(groups),
                "ports": norm_ports,
                "tls": tls,
                "from": list(principals),
                "description": str(raw.get("description", "")),
            }
        )
    return out


def get_service(matrix: Matrix, service: str) -> Entry:
    for entry in matrix:
        if entry["service"] == service:
            return entry
    _fail(f"no service '{service}' (known: {', '.join(e['service'] for e in matrix)})")


def _expand_groups(groups: t.Iterable[str], node_groups: t.Sequence[str]) -> list[str]:
    out: list[str] = []
    for g in groups:
        for x in node_groups if g == "swarm" else [g]:
            if x not in out:
                out.append(x)
    return out


def principal_groups(
    principal: str,
    entry: Entry,
    node_groups: t.Sequence[str] = NODE_GROUPS,
    prometheus_group: str = DEFAULT_PROMETHEUS_GROUP,
) -> list[str]:
    """The groups (node groups, ``admin``, ``client``) a principal stands for, for one service."""
    if principal == "swarm":
        return list(node_groups)
    if principal == "prometheus":
        return [prometheus_group]
    if principal == "self":
        return _expand_groups(entry["groups"], node_groups)
    return [principal]


def check_tags(tags: t.Mapping[str, str], node_groups: t.Sequence[str]) -> dict[str, str]:
    merged = dict(DEFAULT_TAGS)
    merged.update(tags or {})
    for group in [*node_groups, "admin", "client"]:
        tag = merged.get(group)
        if tag is None:
            _fail(f"no tag for group '{group}': add it to the tags mapping")
        if not isinstance(tag, str) or not _TAG.match(tag):
            _fail(f"tag for '{group}' must match {_TAG.pattern}, got {tag!r}")
    return merged


def allowed_flows(
    matrix: Matrix,
    tags: t.Mapping[str, str],
    node_groups: t.Sequence[str] = NODE_GROUPS,
    prometheus_group: str = DEFAULT_PROMETHEUS_GROUP,
) -> list[dict[str, t.Any]]:
    """One dict per service: source tags, destination tags, ``proto:port`` strings."""
    flows = []
    for entry in matrix:
        src: list[str] = []
        for principal in entry["from"]:
            for g in principal_groups(principal, entry, node_groups, prometheus_group):
                if tags[g] not in src:
                    src.append(tags[g])
        dst = [tags[g] for g in _expand_groups(entry["groups"], node_groups)]
        ip = [f"{p['proto']}:{p['port']}" for p in entry["ports"]]
        flows.append({"service": entry["service"], "src": src, "dst": dst, "ip": ip})
    return flows


def _owners(tag_owners: t.Any, tag: str) -> list[str]:
    if tag_owners is None:
        return []
    value = tag_owners.get(tag, []) if isinstance(tag_owners, dict) else tag_owners
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        _fail(f"tag owners for {tag} must be a list (e.g. ['autogroup:admin'] or ['group:ops']), got {value!r}")
    return list(value)


def build_policy(
    matrix: Matrix,
    tags: t.Mapping[str, str] | None = None,
    tag_owners: t.Any = None,
    node_groups: t.Sequence[str] = NODE_GROUPS,
    prometheus_group: str = DEFAULT_PROMETHEUS_GROUP,
    include_tests: bool = True,
    test_tags: t.Sequence[str] | None = None,
) -> dict[str, t.Any]:
    """The tailnet policy: tagOwners, grants (one per service) and tests (accept/deny per source tag).

    Everything not granted is denied (a policy with grants has no implicit allow).
    ``test_tags`` limits the tests to sources and destinations with nodes (headscale's
    ``policy check`` fails on a tag that resolves to no address).
    """
    matrix = validate_matrix(matrix, node_groups)
    if prometheus_group not in node_groups:
        _fail(f"prometheus group '{prometheus_group}' is not a node group ({', '.join(node_groups)})")
    tag_map = check_tags(tags or {}, node_groups)
    all_tags = [tag_map[g] for g in [*node_groups, "admin", "client"]]
    flows = allowed_flows(matrix, tag_map, node_groups, prometheus_group)
    policy: dict[str, t.Any] = {
        "tagOwners": {tag: _owners(tag_owners, tag) for tag in all_tags},
        "grants": [{"src": f["src"], "dst": f["dst"], "ip": f["ip"]} for f in flows],
    }
    if include_tests:
        policy["tests"] = build_tests(flows, all_tags, test_tags)
    return policy


def build_tests(
    flows: list[dict[str, t.Any]], all_tags: t.Sequence[str], test_tags: t.Sequence[str] | None = None
) -> list[dict[str, t.Any]]:
    """For each source tag: every (destination tag, port) of the matrix, as accept or deny."""
    limit = set(test_tags) if test_tags is not None else set(all_tags)
    destinations: list[tuple[str, str, str]] = []  # (dst tag, proto, port)
    allowed: set[tuple[str, str, str, str]] = set()
    for f in flows:
        for dst in f["dst"]:
            for ip in f["ip"]:
                proto, port = ip.split(":")
                if (dst, proto, port) not in destinations:
                    destinations.append((dst, proto, port))
                for src in f["src"]:
                    allowed.add((src, dst, proto, port))
    tests = []
    for src in all_tags:
        if src not in limit:
            continue
        for proto in PROTOCOLS:
            accept, deny = [], []
            for dst, d_proto, port in destinations:
                if d_proto != proto or dst not in limit:
                    continue
                (accept if (src, dst, proto, port) in allowed else deny).append(f"{dst}:{port}")
            if accept or deny:
                test: dict[str, t.Any] = {"src": src, "proto": proto}
                if accept:
                    test["accept"] = accept
                if deny:
                    test["deny"] = deny
                tests.append(test)
    return tests


def _host_addresses(host: str, hostvars: t.Mapping[str, t.Any], address_vars: t.Sequence[str]) -> list[str]:
    hv = hostvars.get(host)
    if hv is None:
        return []
    out = []
    for var in address_vars:
        value = hv.get(var) if hasattr(hv, "get") else None
        if isinstance(value, str) and value:
            try:
                out.append(str(ipaddress.ip_address(value)))
            except ValueError:
                _fail(f"{host}: {var} is not an IP address: {value!r}")
    return out


def _check_sources(extra: t.Any, principal: str) -> list[str]:
    if extra is None:
        return []
    if isinstance(extra, str) or not isinstance(extra, (list, tuple)):
        _fail(f"sources for principal '{principal}' must be a list of addresses/CIDRs, got {extra!r}")
    out = []
    for s in extra:
        try:
            out.append(str(ipaddress.ip_network(str(s), strict=False)))
        except ValueError:
            _fail(f"sources for principal '{principal}': {s!r} is not an address or CIDR")
    return out


def firewall_rules(
    matrix: Matrix,
    service: str,
    host: str,
    hostvars: t.Mapping[str, t.Any],
    groups: t.Mapping[str, t.Sequence[str]],
    interface: str = DEFAULT_INTERFACE,
    node_groups: t.Sequence[str] = NODE_GROUPS,
    prometheus_group: str = DEFAULT_PROMETHEUS_GROUP,
    principal_inventory_groups: t.Mapping[str, str] | None = None,
    extra_sources: t.Mapping[str, t.Any] | None = None,
    address_vars: t.Sequence[str] = ("tailscale_ipv4", "tailscale_ipv6"),
    strict: bool = True,
) -> list[str]:
    """nft rule strings (for the hardening drop-in API) that accept ``service`` on ``host``.

    Only packets that arrive on ``interface`` from the allowed peers' tailnet addresses are
    accepted; an empty list when the service does not run on ``host`` or nobody may connect.
    """
    matrix = validate_matrix(matrix, node_groups)
    entry = get_service(matrix, service)
    if not isinstance(interface, str) or not re.match(r"^[A-Za-z0-9_.-]{1,15}$", interface):
        _fail(f"interface must be an interface name, got {interface!r}")
    run_groups = _expand_groups(entry["groups"], node_groups)
    if not any(host in (groups.get(g) or []) for g in run_groups):
        return []
    inv_groups = {"admin": "admin", "client": "client"}
    inv_groups.update(principal_inventory_groups or {})
    extra_sources = extra_sources or {}
    sources: list[str] = []
    missing: list[str] = []
    for principal in entry["from"]:
        pgroups = principal_groups(principal, entry, node_groups, prometheus_group)
        for g in pgroups:
            inv = inv_groups.get(g, g)
            if not _GROUP.match(inv):
                _fail(f"inventory group name {inv!r} for '{g}' is not valid")
            for peer in groups.get(inv) or []:
                if principal == "self" and peer == host:
                    continue
                addrs = _host_addresses(peer, hostvars, address_vars)
                if not addrs:
                    missing.append(peer)
                for a in addrs:
                    if a not in sources:
                        sources.append(a)
        for s in _check_sources(extra_sources.get(principal), principal):
            if s not in sources:
                sources.append(s)
    if missing and strict:
        _fail(
            f"{service} on {host}: no tailnet address ({' or '.join(address_vars)}) for "
            f"{', '.join(sorted(set(missing)))}; run orcaqueen.swarm.tailscale (tasks_from: facts) on them first"
        )
    if not sources:
        return []
    v4 = [s for s in sources if ":" not in s]
    v6 = [s for s in sources if ":" in s]
    rules = []
    for proto in PROTOCOLS:
        ports = sorted({p["port"] for p in entry["ports"] if p["proto"] == proto})
        if not ports:
            continue
        dport = str(ports[0]) if len(ports) == 1 else "{ " + ", ".join(str(p) for p in ports) + " }"
        for family, addrs in (("ip", v4), ("ip6", v6)):
            if addrs:
                rules.append(
                    f'iifname "{interface}" {family} saddr {{ {", ".join(addrs)} }} {proto} dport {dport} '
                    f'ct state new accept comment "{service}"'
                )
    return rules
