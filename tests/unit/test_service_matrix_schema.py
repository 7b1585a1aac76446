# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The service matrix's schema (validate_matrix) and every derivation of it, in process.

The expected values are written out here from DESIGN.md (ports, secrets, placement), so a change
to the matrix that the design does not make shows up.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.orcaqueen.swarm.plugins.filter import service_matrix as flt
from ansible_collections.orcaqueen.swarm.plugins.module_utils import _service_matrix as sm

MATRIX = sm.validate_matrix(sm.default_matrix())
PORTS = {
    "hardening_ssh_port": 22,
    "vault_api_port": 8200,
    "vault_cluster_port": 8201,
    "litellm_port": 4000,
    "vllm_port": 8000,
    "qdrant_http_port": 6333,
    "qdrant_grpc_port": 6334,
    "qdrant_p2p_port": 6335,
    "prometheus_port": 9090,
    "alertmanager_port": 9093,
    "grafana_port": 3000,
    "node_exporter_port": 9100,
    "gpu_exporter_port": 9835,
    "blackbox_exporter_port": 9115,
}
GROUPS = {
    "all": ["oracle", "starlord", "thanos", "sidekick"],
    "swarm": ["oracle", "starlord", "thanos", "sidekick"],
    "orchestrator": ["oracle"],
    "inference": ["starlord", "sidekick"],
    "worker": ["thanos"],
}


def _entry(**over: Any) -> dict[str, Any]:
    base = {
        "service": "web",
        "groups": ["worker"],
        "ports": [{"port": 8443, "port_var": "web_port"}],
        "from": ["admin"],
    }
    base.update(over)
    return base


def _secret(**over: Any) -> dict[str, Any]:
    base = {"name": "token", "unit": "web", "template": "web/token"}
    base.update(over)
    return base


def _fails(matrix: Any, needle: str) -> None:
    with pytest.raises(ValueError) as err:
        sm.validate_matrix(matrix)
    assert needle in str(err.value), str(err.value)


# ---- schema -----------------------------------------------------------------------------------


def test_builtin_matrix_is_valid_and_normalization_is_idempotent() -> None:
    assert sm.validate_matrix(copy.deepcopy(MATRIX)) == MATRIX


def test_every_design_port_has_its_role_variable() -> None:
    assert {p["port_var"]: p["port"] for e in MATRIX for p in e["ports"] if p["port_var"]} == PORTS


def test_secret_defaults() -> None:
    entry = sm.validate_matrix([_entry(secrets=[_secret()])])[0]
    assert entry["secrets"] == [
        {
            "name": "token",
            "path": "swarm/web/token",
            "field": "value",
            "generate": {"length": 32, "prefix": ""},
            "delivery": "agent",
            "unit": "web",
            "template": "web/token",
            "reload": "restarted",
            "grace": "0",
            "readers": [],
        }
    ]
    play = sm.validate_matrix([_entry(secrets=[{"name": "web", "unit": "web.service", "field": "password"}])])[0]
    assert play["secrets"][0]["delivery"] == "play"
    assert play["secrets"][0]["template"] is None
    assert play["secrets"][0]["unit"] == "web"


def test_scrape_defaults() -> None:
    entry = sm.validate_matrix([_entry(scrape={})])[0]
    assert entry["scrape"] == {
        "job": "web",
        "port_var": None,
        "path": "/metrics",
        "params": {},
        "scheme": "https",
        "auth": "none",
        "secret": None,
        "username": None,
        "ca": "bootstrap",
        "address_var": "swarm_listen_address",
    }


@pytest.mark.parametrize(
    ("matrix", "needle"),
    [
        ([_entry(ports=[{"port": 1, "port_var": "not a var"}])], "port_var must be a variable name"),
        ([_entry(ports=[{"port": 1, "extra": 1}])], "unknown port keys"),
        ([_entry(), _entry(service="other")], "port_var 'web_port' is used twice"),
        ([_entry(enabled_by={"var": "x", "default": "yes"})], "enabled_by.default must be true or false"),
        ([_entry(enabled_by="vllm_models")], "enabled_by must be"),
        ([_entry(scrape={"job": "Bad-Job"})], "job must match"),
        ([_entry(scrape={"port_var": "other_port"})], "is not the port_var of one of its ports"),
        ([_entry(scrape={"scheme": "http"})], "scheme must be one of"),
        ([_entry(scrape={"auth": "bearer"})], "needs secret"),
        ([_entry(scrape={"auth": "bearer", "secret": "nope"}, secrets=[_secret()])], "needs secret"),
        ([_entry(scrape={"secret": "token"}, secrets=[_secret()])], "auth none takes no secret"),
        ([_entry(scrape={"ca": "system"})], "ca must be one of"),
        ([_entry(scrape={"path": "metrics"})], "path must start with '/'"),
        ([_entry(scrape={"params": {"format": "prometheus"}})], "params must be a dict of lists"),
        ([_entry(scrape={"colour": "red"})], "unknown scrape keys"),
        ([_entry(health={"path": "health"})], "health.path must start"),
        ([_entry(health={"path": "/h", "ca": "/etc/ca.pem"})], "health.ca must be"),
        ([_entry(secrets="token")], "'secrets' must be a list"),
        ([_entry(secrets=[_secret(), _secret()])], "secret names must be unique"),
        ([_entry(secrets=[_secret(name="Token")])], "secret name must match"),
        ([_entry(secrets=[_secret(path="swarm/other/token")])], "path must be swarm/web/<name>"),
        ([_entry(secrets=[_secret(path="swarm/web/../x")])], "path must be swarm/web/<name>"),
        ([_entry(secrets=[_secret(field="a b")])], "field must match"),
        ([_entry(secrets=[_secret(generate={"length": 8})])], "generate.length must be an integer 16..512"),
        ([_entry(secrets=[_secret(generate={"length": True})])], "generate.length must be an integer 16..512"),
        ([_entry(secrets=[_secret(generate={"prefix": "sk key"})])], "generate.prefix must match"),
        ([_entry(secrets=[_secret(generate={"bytes": 32})])], "generate must be"),
        ([_entry(secrets=[_secret(delivery="file")])], "delivery must be one of"),
        ([_entry(secrets=[_secret(template=None, delivery="agent")])], "delivery agent needs template"),
        ([_entry(secrets=[_secret(template="token")])], "delivery agent needs template"),
        (
            [_entry(secrets=[_secret(delivery="play")])],
            "delivery play (read by site.yml at deploy time) takes no template",
        ),
        ([_entry(secrets=[_secret(unit="web; rm -rf /")])], "unit must be the systemd unit"),
        ([_entry(secrets=[_secret(unit=None)])], "unit must be the systemd unit"),
        ([_entry(secrets=[_secret(reload="kill")])], "reload must be one of"),
        ([_entry(secrets=[_secret(reload="reloaded", grace="a while")])], "grace must be 0 or a duration"),
        ([_entry(secrets=[_secret(reload="reloaded", grace="15")])], "grace must be 0 or a duration"),
        ([_entry(secrets=[_secret(grace="15m")])], "grace needs reload 'reloaded'"),
        ([_entry(secrets=[_secret(readers="prometheus")])], "readers must be a list"),
        ([_entry(secrets=[_secret(colour="red")])], "unknown secret keys"),
        (
            [_entry(secrets=[_secret(), _secret(name="t2", path="swarm/web/token")])],
            "secret path 'swarm/web/token' is used twice",
        ),
        (
            [_entry(scrape={}), _entry(service="other", ports=[{"port": 1}], scrape={"job": "web"})],
            "scrape job 'web' is used twice",
        ),
        ([_entry(colour="red")], "unknown keys"),
    ],
)
def test_bad_entries_are_refused(matrix: list[dict[str, Any]], needle: str) -> None:
    _fails(matrix, needle)


# ---- derivations ------------------------------------------------------------------------------


@pytest.mark.parametrize(("var", "port"), sorted(PORTS.items()))
def test_service_port(var: str, port: int) -> None:
    assert flt.service_port(MATRIX, var) == port


def test_service_port_unknown() -> None:
    with pytest.raises(AnsibleFilterError, match="no port has port_var 'nope_port'"):
        flt.service_port(MATRIX, "nope_port")


def test_service_placement_follows_groups_and_enabled_by() -> None:
    hostvars = {
        "oracle": {"swarm_grafana_enabled": False},
        "starlord": {"vllm_models": [{"name": "m"}]},
        "sidekick": {"vllm_models": []},
        "thanos": {"vllm_models": [{"name": "e"}], "swarm_qdrant_enabled": "false"},
    }
    placed = flt.service_placement(MATRIX, GROUPS, hostvars)
    assert placed["vault_api"] == ["oracle"]
    assert placed["node_exporter"] == ["oracle", "starlord", "sidekick", "thanos"]
    assert placed["vllm"] == ["starlord", "thanos"]
    assert placed["qdrant"] == []
    assert placed["grafana"] == []
    # A host that does not set the variable gets the default (Qdrant and Grafana on, vLLM off).
    placed = flt.service_placement(MATRIX, GROUPS, {})
    assert placed["qdrant"] == ["thanos"] and placed["grafana"] == ["oracle"] and placed["vllm"] == []


def test_service_scrape_jobs() -> None:
    jobs = flt.service_scrape_jobs(MATRIX)
    vault = {"name": "vault", "group": "service_vault_api", "port": 8200, "path": "/v1/sys/metrics"}
    vault |= {"params": {"format": ["prometheus"]}, "auth": "none", "ca": "bootstrap"}
    vllm = {"name": "vllm", "group": "service_vllm", "port": 8000, "path": "/metrics", "auth": "none", "ca": "service"}
    qdrant = {"name": "qdrant", "group": "service_qdrant", "port": 6333, "path": "/metrics", "auth": "bearer"}
    qdrant |= {"secret": "qdrant_read_only_api_key", "ca": "service"}
    assert jobs == [vault, vllm, qdrant]
    # Only the services deployed somewhere, and the role's own jobs on request.
    only = flt.service_scrape_jobs(MATRIX, groups={"service_vllm": ["starlord"], "service_qdrant": []})
    assert [j["name"] for j in only] == ["vllm"]
    every = flt.service_scrape_jobs(MATRIX, exclude_jobs=[])
    node = next(j for j in every if j["name"] == "node")
    assert node == {
        "name": "node",
        "group": "service_node_exporter",
        "port": 9100,
        "path": "/metrics",
        "auth": "basic",
        "username": "prometheus",
        "secret": "node_exporter_web",
        "ca": "bootstrap",
    }


def test_service_tls_probes() -> None:
    probes = {p["name"]: p for p in flt.service_tls_probes(MATRIX)}
    # Every TLS endpoint someone reaches; not SSH, not the peers-only cluster ports, not the prober itself.
    assert sorted(probes) == [
        "alertmanager", "gpu_exporter", "grafana", "litellm", "node_exporter",
        "prometheus", "qdrant", "vault_api", "vllm",
    ]
    assert probes["vault_api"] == {
        "name": "vault_api", "group": "service_vault_api", "ports": [8200], "address_var": "swarm_listen_address",
        "ca": "bootstrap",
    }
    assert probes["qdrant"]["ports"] == [6333, 6334] and probes["qdrant"]["ca"] == "service"
    assert probes["vllm"]["ca"] == "service"
    # Only what is deployed somewhere.
    only = flt.service_tls_probes(MATRIX, groups={"service_vllm": ["starlord"], "service_qdrant": []})
    assert [p["name"] for p in only] == ["vllm"]


def test_litellm_is_placed_nowhere_until_a_role_deploys_it() -> None:
    assert flt.service_placement(MATRIX, GROUPS, {})["litellm"] == []
    assert flt.service_placement(MATRIX, GROUPS, {"oracle": {"swarm_litellm_enabled": True}})["litellm"] == ["oracle"]


def test_scrape_port_var_picks_the_port() -> None:
    entry = _entry(
        ports=[{"port": 1, "port_var": "a_port"}, {"port": 2, "port_var": "b_port"}], scrape={"port_var": "b_port"}
    )
    assert flt.service_scrape_jobs([entry])[0]["port"] == 2


def test_service_secrets() -> None:
    every = flt.service_secrets(MATRIX)
    assert {s["id"]: (s["path"], s["field"], s["delivery"]) for s in every} == {
        "vllm_api_key": ("swarm/vllm/api_key", "value", "agent"),
        "qdrant_api_key": ("swarm/qdrant/api_key", "value", "agent"),
        "qdrant_read_only_api_key": ("swarm/qdrant/read_only_api_key", "value", "agent"),
        "prometheus_web": ("swarm/prometheus/web", "password", "play"),
        "alertmanager_web": ("swarm/alertmanager/web", "password", "play"),
        "grafana_web": ("swarm/grafana/web", "password", "play"),
        "node_exporter_web": ("swarm/node_exporter/web", "password", "play"),
        "gpu_exporter_web": ("swarm/gpu_exporter/web", "password", "play"),
        "blackbox_exporter_web": ("swarm/blackbox_exporter/web", "password", "play"),
    }
    agent = flt.service_secrets(MATRIX, delivery="agent")
    assert all(s["template"] and s["unit"] for s in agent)
    assert [s["id"] for s in flt.service_secrets(MATRIX, services=["qdrant"])] == [
        "qdrant_api_key",
        "qdrant_read_only_api_key",
    ]
    assert [s["id"] for s in flt.service_secrets(MATRIX, scrape=True)] == ["qdrant_read_only_api_key"]
    with pytest.raises(AnsibleFilterError, match="no service 'nope'"):
        flt.service_secrets(MATRIX, services=["nope"])
    with pytest.raises(AnsibleFilterError, match="delivery must be one of"):
        flt.service_secrets(MATRIX, delivery="mail")


def test_grafana_has_one_secret_path() -> None:
    assert [s["path"] for s in flt.service_secrets(MATRIX, services=["grafana"])] == ["swarm/grafana/web"]


def test_service_kv_read_paths() -> None:
    assert flt.service_kv_read_paths(MATRIX) == {
        "orchestrator": [],
        "inference": ["swarm/vllm/api_key"],
        "worker": ["swarm/qdrant/api_key", "swarm/qdrant/read_only_api_key", "swarm/vllm/api_key"],
    }
    # Deploy-time secrets (read with the admin token by site.yml) are in no group's policy.
    assert not any("/web" in p for paths in flt.service_kv_read_paths(MATRIX).values() for p in paths)


def test_bad_matrix_in_a_filter_is_an_ansible_error() -> None:
    for call in (
        lambda: flt.service_port("nope", "x_port"),
        lambda: flt.service_placement("nope", GROUPS, {}),
        lambda: flt.service_scrape_jobs("nope"),
        lambda: flt.service_secrets("nope"),
        lambda: flt.service_kv_read_paths("nope"),
    ):
        with pytest.raises(AnsibleFilterError, match="service matrix"):
            call()
