# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tailnet_policy and service_firewall_rules against the design's service matrix.

The expected allow/deny pairs are written out here from DESIGN.md, independently of the matrix
module, so a change to either side shows up.
"""

from __future__ import annotations

import copy
import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.orcaqueen.swarm.plugins.filter import tailnet
from ansible_collections.orcaqueen.swarm.plugins.module_utils import _service_matrix as sm

# DESIGN.md: (destination tag, port) -> source tags allowed. prometheus = orchestrator.
ALL_NODES = ("tag:orchestrator", "tag:inference", "tag:worker")
DESIGN = {
    **{(d, 22): {"tag:admin"} for d in ALL_NODES},
    ("tag:orchestrator", 8200): {*ALL_NODES, "tag:admin"},
    ("tag:orchestrator", 8201): {"tag:orchestrator"},
    ("tag:orchestrator", 4000): {"tag:client", "tag:admin"},
    ("tag:inference", 8000): {"tag:orchestrator"},
    ("tag:worker", 8000): {"tag:orchestrator"},
    ("tag:worker", 6333): {"tag:orchestrator", "tag:inference"},
    ("tag:worker", 6334): {"tag:orchestrator", "tag:inference"},
    ("tag:worker", 6335): {"tag:worker"},
    ("tag:orchestrator", 9090): {"tag:admin"},
    ("tag:orchestrator", 9093): {"tag:orchestrator", "tag:admin"},
    ("tag:orchestrator", 3000): {"tag:admin", "tag:client"},
    **{(d, 9100): {"tag:orchestrator"} for d in ALL_NODES},
    **{(d, 9835): {"tag:orchestrator"} for d in ALL_NODES},
}
ALL_TAGS = (*ALL_NODES, "tag:admin", "tag:client")


def _grant_allows(policy: dict, src: str, dst: str, port: int) -> bool:
    return any(src in g["src"] and dst in g["dst"] and f"tcp:{port}" in g["ip"] for g in policy["grants"])


@pytest.fixture
def matrix() -> list[dict]:
    return sm.default_matrix()


@pytest.fixture
def policy(matrix: list[dict]) -> dict:
    return tailnet.tailnet_policy(matrix)


def test_policy_is_json_with_tag_owners(policy: dict) -> None:
    assert json.loads(json.dumps(policy)) == policy
    assert set(policy["tagOwners"]) == set(ALL_TAGS)
    assert all(owners == [] for owners in policy["tagOwners"].values())


@pytest.mark.parametrize("src", ALL_TAGS)
def test_grants_match_the_design_exactly(policy: dict, src: str) -> None:
    for (dst, port), allowed in DESIGN.items():
        assert _grant_allows(policy, src, dst, port) == (src in allowed), (src, dst, port)


def test_no_grant_outside_the_design(policy: dict) -> None:
    for g in policy["grants"]:
        for dst in g["dst"]:
            for ip in g["ip"]:
                proto, port = ip.split(":")
                assert proto == "tcp"
                assert (dst, int(port)) in DESIGN
                assert set(g["src"]) == DESIGN[(dst, int(port))]


def test_tests_section_lists_every_pair_once(policy: dict) -> None:
    seen = {}
    for test in policy["tests"]:
        assert test["proto"] == "tcp"
        for verdict in ("accept", "deny"):
            for dst in test.get(verdict, []):
                tag, port = dst.rsplit(":", 1)
                seen[(test["src"], tag, int(port))] = verdict
    expected = {
        (src, dst, port): ("accept" if src in allowed else "deny")
        for (dst, port), allowed in DESIGN.items()
        for src in ALL_TAGS
    }
    assert seen == expected


def test_client_may_only_reach_litellm_and_grafana(policy: dict) -> None:
    client = next(t for t in policy["tests"] if t["src"] == "tag:client")
    assert sorted(client["accept"]) == ["tag:orchestrator:3000", "tag:orchestrator:4000"]
    assert "tag:worker:6333" in client["deny"]


def test_without_tests_and_limited_tests(matrix: list[dict]) -> None:
    assert "tests" not in tailnet.tailnet_policy(matrix, include_tests=False)
    limited = tailnet.tailnet_policy(matrix, test_tags=["tag:orchestrator", "tag:admin"])
    srcs = {t["src"] for t in limited["tests"]}
    assert srcs == {"tag:orchestrator", "tag:admin"}
    for t in limited["tests"]:
        for dst in t.get("accept", []) + t.get("deny", []):
            assert dst.rsplit(":", 1)[0] in srcs


def test_custom_tags_and_owners(matrix: list[dict]) -> None:
    pol = tailnet.tailnet_policy(
        matrix,
        tags={"worker": "tag:gpu-worker"},
        tag_owners={"tag:admin": ["group:ops"]},
    )
    assert "tag:gpu-worker" in pol["tagOwners"] and "tag:worker" not in pol["tagOwners"]
    assert pol["tagOwners"]["tag:admin"] == ["group:ops"]
    assert pol["tagOwners"]["tag:gpu-worker"] == []
    saas = tailnet.tailnet_policy(matrix, tag_owners=["autogroup:admin"])
    assert all(o == ["autogroup:admin"] for o in saas["tagOwners"].values())


def test_prometheus_group_moves_scrape_grants(matrix: list[dict]) -> None:
    pol = tailnet.tailnet_policy(matrix, prometheus_group="worker")
    assert _grant_allows(pol, "tag:worker", "tag:inference", 9100)
    assert not _grant_allows(pol, "tag:orchestrator", "tag:inference", 9100)
    # the gateway still reaches vLLM as a node group principal
    assert _grant_allows(pol, "tag:orchestrator", "tag:inference", 8000)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.append(copy.deepcopy(m[0])), "appears twice"),
        (lambda m: m[0].update({"from": ["everyone"]}), "unknown principals"),
        (lambda m: m[0].update({"groups": ["gpu"]}), "not node groups"),
        (lambda m: m[0]["ports"].append({"port": 70000, "proto": "tcp"}), "1-65535"),
        (lambda m: m[0]["ports"].append({"port": 53, "proto": "icmp"}), "proto must be"),
        (lambda m: m[0].update({"tls": "maybe"}), "tls must be"),
        (lambda m: m[0].update({"extra": 1}), "unknown keys"),
        (lambda m: m[0].update({"service": "Bad Name"}), "'service' must match"),
    ],
)
def test_bad_matrix_is_rejected(matrix: list[dict], mutate, message: str) -> None:
    mutate(matrix)
    with pytest.raises(AnsibleFilterError, match=message):
        tailnet.tailnet_policy(matrix)


def test_bad_tags_and_owners(matrix: list[dict]) -> None:
    with pytest.raises(AnsibleFilterError, match="must match"):
        tailnet.tailnet_policy(matrix, tags={"worker": "worker"})
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        tailnet.tailnet_policy(matrix, tag_owners="autogroup:admin")
    with pytest.raises(AnsibleFilterError, match="non-empty list"):
        tailnet.tailnet_policy([])


# ---- service_firewall_rules ---------------------------------------------------------------

GROUPS = {
    "all": ["oracle", "oracle2", "starlord", "thanos", "laptop"],
    "orchestrator": ["oracle", "oracle2"],
    "inference": ["starlord"],
    "worker": ["thanos"],
    "admin": ["laptop"],
}
HOSTVARS = {
    "oracle": {"tailscale_ipv4": "100.64.0.1", "tailscale_ipv6": "fd7a:115c:a1e0::1"},
    "oracle2": {"tailscale_ipv4": "100.64.0.5", "tailscale_ipv6": ""},
    "starlord": {"tailscale_ipv4": "100.64.0.2"},
    "thanos": {"tailscale_ipv4": "100.64.0.3"},
    "laptop": {"tailscale_ipv4": "100.64.0.9"},
}


def _rules(matrix: list[dict], service, host: str, **kw) -> list[str]:
    return tailnet.service_firewall_rules(matrix, service, host, HOSTVARS, GROUPS, **kw)


def test_vault_api_open_to_swarm_and_admins(matrix: list[dict]) -> None:
    rules = _rules(matrix, "vault_api", "oracle")
    assert rules == [
        'iifname "tailscale0" ip saddr { 100.64.0.1, 100.64.0.5, 100.64.0.2, 100.64.0.3, 100.64.0.9 } '
        'tcp dport 8200 ct state new accept comment "vault_api"',
        'iifname "tailscale0" ip6 saddr { fd7a:115c:a1e0::1 } tcp dport 8200 ct state new accept comment "vault_api"',
    ]


def test_self_means_the_other_members(matrix: list[dict]) -> None:
    rules = _rules(matrix, "vault_cluster", "oracle")
    assert rules == [
        'iifname "tailscale0" ip saddr { 100.64.0.5 } tcp dport 8201 ct state new accept comment "vault_cluster"'
    ]
    # a single qdrant node has no peers: no rule
    assert _rules(matrix, "qdrant_p2p", "thanos") == []


def test_two_ports_and_prometheus_principal(matrix: list[dict]) -> None:
    assert _rules(matrix, "qdrant", "thanos") == [
        'iifname "tailscale0" ip saddr { 100.64.0.1, 100.64.0.5, 100.64.0.2 } tcp dport { 6333, 6334 } '
        'ct state new accept comment "qdrant"',
        'iifname "tailscale0" ip6 saddr { fd7a:115c:a1e0::1 } tcp dport { 6333, 6334 } '
        'ct state new accept comment "qdrant"',
    ]
    node = _rules(matrix, "node_exporter", "starlord")
    assert "100.64.0.1, 100.64.0.5 } tcp dport 9100" in node[0]


def test_service_not_on_host_gives_nothing(matrix: list[dict]) -> None:
    assert _rules(matrix, "qdrant", "oracle") == []
    assert _rules(matrix, "vllm", "oracle") == []


def test_list_of_services_and_options(matrix: list[dict]) -> None:
    rules = _rules(matrix, ["ssh", "grafana"], "oracle", interface="ts1", extra_sources={"client": ["10.8.0.0/24"]})
    assert rules[0] == 'iifname "ts1" ip saddr { 100.64.0.9 } tcp dport 22 ct state new accept comment "ssh"'
    assert (
        rules[1]
        == 'iifname "ts1" ip saddr { 100.64.0.9, 10.8.0.0/24 } tcp dport 3000 ct state new accept comment "grafana"'
    )
    # admins come from another inventory group
    other = _rules(matrix, "prometheus", "oracle", principal_groups={"admin": "orchestrator"})
    assert "{ 100.64.0.1, 100.64.0.5 }" in other[0]


def test_missing_peer_address_is_an_error_unless_not_strict(matrix: list[dict]) -> None:
    hv = {**HOSTVARS, "starlord": {}}
    with pytest.raises(AnsibleFilterError, match=r"no tailnet address .* for starlord"):
        tailnet.service_firewall_rules(matrix, "qdrant", "thanos", hv, GROUPS)
    rules = tailnet.service_firewall_rules(matrix, "qdrant", "thanos", hv, GROUPS, strict=False)
    assert "100.64.0.2" not in rules[0]


def test_bad_arguments(matrix: list[dict]) -> None:
    with pytest.raises(AnsibleFilterError, match="no service 'vault'"):
        _rules(matrix, "vault", "oracle")
    with pytest.raises(AnsibleFilterError, match="interface"):
        _rules(matrix, "ssh", "oracle", interface='tailscale0" accept;')
    with pytest.raises(AnsibleFilterError, match="not an address or CIDR"):
        _rules(matrix, "grafana", "oracle", extra_sources={"client": ["any"]})
    bad = {**HOSTVARS, "laptop": {"tailscale_ipv4": "100.64.0.9; drop"}}
    with pytest.raises(AnsibleFilterError, match="not an IP address"):
        tailnet.service_firewall_rules(matrix, "ssh", "oracle", bad, GROUPS)
