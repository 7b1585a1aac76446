# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The swarm's service matrix (docs/design: "Service matrix") and what is derived from it.

One data structure says what the swarm is: each service's ports (and the role variable that holds
each), TLS, who may connect, where it runs, how Prometheus scrapes it and which secrets it uses.
From it come the Tailscale/headscale policy (``tailnet_policy``), the nftables rules on
``tailscale0`` (``service_firewall_rules``), the roles' port defaults (lookup ``port_var``), the
Prometheus service jobs, the secrets site.yml ensures and rotate-keys.yml rotates, the KV paths
each node group's vault agents read, and Vault's per-service policies and PKI roles (``vault_clients``,
``kv_read_paths`` by service). Operators replace it with ``swarm_service_matrix``.

An entry::

    {"service": "qdrant",               # unique name, [a-z0-9_]
     "groups": ["worker"],              # inventory groups whose hosts run it ("swarm" = every node group)
     "ports": [{"port": 6333, "proto": "tcp", "port_var": "qdrant_http_port"}, ...],
     "tls": "yes",                      # yes | yes+auth | ssh | no (documentation, checked by the verifiers)
     "from": ["orchestrator", "inference"],   # principals that may connect
     "description": "...",
     "enabled_by": {"var": "swarm_qdrant_enabled", "default": True},  # optional: hosts where it runs
     "scrape": {"job": "qdrant", "path": "/metrics", "scheme": "https", "auth": "bearer",
                "secret": "read_only_api_key", "ca": "service"},      # optional
     "health": {"path": "/healthz", "ca": "qdrant/ca.pem"},           # optional (rotation checks)
     "pki": True,                       # its certificates come from the Vault PKI role of its name
     "secrets": [{"name": "api_key", "path": "swarm/qdrant/api_key", "field": "value",
                  "generate": {"length": 48, "prefix": ""},
                  "delivery": "agent",          # agent: vault_agent renders `template`; play: site.yml reads it
                  "unit": "qdrant", "template": "qdrant/qdrant.env", "reload": "restarted",
                  "grace": "0",                 # how long a rotated-out value stays accepted (15m, 1h)
                  "readers": []}]}              # roles that also read it at deploy time

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
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KV_PATH = re.compile(r"^swarm/[a-z0-9_-]+(/[a-z0-9_.-]+)+$")
_FIELD = re.compile(r"^[A-Za-z0-9_.-]+$")
_PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,16}$")
_TEMPLATE = re.compile(r"^[a-z0-9][a-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_UNIT = re.compile(r"^[A-Za-z0-9@_.:*-]+$")
_GRACE = re.compile(r"^(0|([0-9]+[wdhms])+)$")
ENTRY_KEYS: tuple[str, ...] = (
    "service",
    "groups",
    "ports",
    "tls",
    "from",
    "description",
    "enabled_by",
    "scrape",
    "health",
    "pki",
    "secrets",
)
PORT_KEYS: tuple[str, ...] = ("port", "proto", "port_var")
SECRET_KEYS: tuple[str, ...] = (
    "name",
    "path",
    "field",
    "generate",
    "delivery",
    "unit",
    "template",
    "reload",
    "grace",
    "readers",
)
SCRAPE_KEYS: tuple[str, ...] = (
    "job",
    "port_var",
    "path",
    "params",
    "scheme",
    "auth",
    "secret",
    "username",
    "ca",
    "address_var",
)
DELIVERIES: tuple[str, ...] = ("agent", "play")
RELOADS: tuple[str, ...] = ("reloaded", "restarted")
SCRAPE_SCHEMES: tuple[str, ...] = ("https",)
SCRAPE_AUTHS: tuple[str, ...] = ("none", "basic", "bearer")
SCRAPE_CAS: tuple[str, ...] = ("bootstrap", "service")
# Jobs the prometheus role writes itself (with its own port and password variables).
PROMETHEUS_ROLE_JOBS: tuple[str, ...] = ("prometheus", "node", "alertmanager", "nvidia_gpu")
DEFAULT_PLACEMENT_PREFIX = "service_"
_TAG = re.compile(r"^tag:[a-z0-9][a-z0-9-]*$")
_GROUP = re.compile(r"^[A-Za-z0-9_]+$")

Entry = dict[str, t.Any]
Matrix = list[Entry]


def _p(port: int, port_var: str | None = None, proto: str = "tcp") -> dict[str, t.Any]:
    return {"port": port, "proto": proto, "port_var": port_var}


def _web(service: str, unit: str, readers: list[str]) -> dict[str, t.Any]:
    """The web (basic auth) password of a monitoring component: read by the plays, hashed into configs."""
    return {
        "name": "web",
        "path": f"swarm/{service}/web",
        "field": "password",
        "generate": {"length": 32, "prefix": ""},
        "delivery": "play",
        "unit": unit,
        "template": None,
        "reload": "restarted",
        "readers": readers,
    }


# The table of DESIGN.md, once: ports (and the role variable that holds each), TLS, who may
# connect, where a service runs, how Prometheus scrapes it and which secrets it uses.
_SERVICE_MATRIX: tuple[Entry, ...] = (
    {
        "service": "ssh",
        "groups": ["swarm"],
        "ports": [_p(22, "hardening_ssh_port")],
        "tls": "ssh",
        "from": ["admin"],
        "description": "OpenSSH (keys only); admins only",
    },
    {
        "service": "vault_api",
        "groups": ["orchestrator"],
        "ports": [_p(8200, "vault_api_port")],
        "tls": "yes",
        "from": ["swarm", "admin"],
        "description": "Vault/OpenBao API",
        "scrape": {"job": "vault", "path": "/v1/sys/metrics", "params": {"format": ["prometheus"]}},
    },
    {
        "service": "vault_cluster",
        "groups": ["orchestrator"],
        "ports": [_p(8201, "vault_cluster_port")],
        "tls": "yes",
        "from": ["self"],
        "description": "Vault raft cluster traffic between Vault servers",
    },
    {
        "service": "litellm",
        "groups": ["orchestrator"],
        "ports": [_p(4000, "litellm_port")],
        "tls": "yes",
        "from": ["client", "admin"],
        "description": "LiteLLM gateway",
        # No role deploys it yet (the gateway issue): placed nowhere, so nothing probes or opens its port.
        "enabled_by": {"var": "swarm_litellm_enabled", "default": False},
        "pki": True,
    },
    {
        "service": "vllm",
        "groups": ["inference", "worker"],
        "ports": [_p(8000, "vllm_port")],
        "tls": "yes",
        "from": ["orchestrator", "prometheus"],
        "description": "vLLM OpenAI-compatible API (gateway and scrapes)",
        "enabled_by": {"var": "vllm_models", "default": False},
        "pki": True,
        # The proxy serves /metrics to the Prometheus hosts only; its certificate is from the Vault PKI.
        "scrape": {"job": "vllm", "ca": "service"},
        "health": {"path": "/health", "ca": "vllm-proxy/ca_chain.pem"},
        "secrets": [
            {
                "name": "api_key",
                "field": "value",
                "generate": {"length": 48},
                "delivery": "agent",
                # The clients' key is checked by the TLS proxy (the models behind it take a loopback key of
                # their own host): the agent renders the keys it accepts - the current one, and the one a
                # rotation replaced until its grace ends - and the proxy reloads without dropping a request.
                "unit": "vllm-proxy",
                "template": "vllm-proxy/client_keys",
                "reload": "reloaded",
                "grace": "15m",
            }
        ],
    },
    {
        "service": "qdrant",
        "groups": ["worker"],
        "ports": [_p(6333, "qdrant_http_port"), _p(6334, "qdrant_grpc_port")],
        "tls": "yes",
        "from": ["orchestrator", "inference"],
        "description": "Qdrant HTTP and gRPC",
        "enabled_by": {"var": "swarm_qdrant_enabled", "default": True},
        "scrape": {"job": "qdrant", "auth": "bearer", "secret": "read_only_api_key", "ca": "service"},
        "health": {"path": "/healthz", "ca": "qdrant/ca.pem"},
        "pki": True,
        "secrets": [
            {
                "name": "api_key",
                "generate": {"length": 48},
                "delivery": "agent",
                "unit": "qdrant",
                "template": "qdrant/qdrant.env",
                "reload": "restarted",
            },
            {
                "name": "read_only_api_key",
                "generate": {"length": 48},
                "delivery": "agent",
                "unit": "qdrant",
                "template": "qdrant/qdrant.env",
                "reload": "restarted",
                # Prometheus scrapes with it: its play reads it (site.yml --tags prometheus after a rotation).
                "readers": ["prometheus"],
            },
        ],
    },
    {
        "service": "qdrant_p2p",
        "groups": ["worker"],
        "ports": [_p(6335, "qdrant_p2p_port")],
        "tls": "yes",
        "from": ["self"],
        "description": "Qdrant distributed mode (raft, shard transfer)",
        "enabled_by": {"var": "swarm_qdrant_enabled", "default": True},
    },
    {
        "service": "prometheus",
        "groups": ["orchestrator"],
        "ports": [_p(9090, "prometheus_port")],
        "tls": "yes+auth",
        "from": ["admin"],
        "description": "Prometheus UI and API",
        "scrape": {"job": "prometheus", "auth": "basic", "secret": "web"},
        "secrets": [_web("prometheus", "prometheus", ["prometheus", "grafana"])],
    },
    {
        "service": "alertmanager",
        "groups": ["orchestrator"],
        "ports": [_p(9093, "alertmanager_port")],
        "tls": "yes+auth",
        "from": ["prometheus", "admin"],
        "description": "Alertmanager",
        "scrape": {"job": "alertmanager", "auth": "basic", "secret": "web"},
        "secrets": [_web("alertmanager", "prometheus-alertmanager", ["alertmanager", "prometheus"])],
    },
    {
        "service": "grafana",
        "groups": ["orchestrator"],
        "ports": [_p(3000, "grafana_port")],
        "tls": "yes",
        "from": ["admin", "client"],
        "description": "Grafana",
        "enabled_by": {"var": "swarm_grafana_enabled", "default": True},
        # The admin user's password (Grafana's web login).
        "secrets": [_web("grafana", "grafana-server", ["grafana"])],
    },
    {
        "service": "node_exporter",
        "groups": ["swarm"],
        "ports": [_p(9100, "node_exporter_port")],
        "tls": "yes",
        "from": ["prometheus"],
        "description": "Prometheus node exporter",
        # The node's own certificate (vault agent, PKI role node_exporter), for the host's services.
        "pki": True,
        "scrape": {"job": "node", "auth": "basic", "secret": "web"},
        "secrets": [_web("node_exporter", "prometheus-node-exporter", ["node_exporter", "prometheus"])],
    },
    {
        "service": "blackbox_exporter",
        "groups": ["orchestrator"],
        "ports": [_p(9115, "blackbox_exporter_port")],
        "tls": "yes+auth",
        # On loopback of the Prometheus host: nothing else connects.
        "from": [],
        "description": "Prometheus blackbox exporter (TLS probes of the matrix's endpoints)",
        "secrets": [_web("blackbox_exporter", "prometheus-blackbox-exporter", ["blackbox_exporter", "prometheus"])],
    },
    {
        "service": "gpu_exporter",
        "groups": ["swarm"],
        "ports": [_p(9835, "gpu_exporter_port")],
        "tls": "yes",
        "from": ["prometheus"],
        "description": "NVIDIA GPU exporter (hosts with a GPU)",
        "scrape": {"job": "nvidia_gpu", "auth": "basic", "secret": "web"},
        "secrets": [_web("gpu_exporter", "nvidia-gpu-exporter", ["gpu_exporter", "prometheus"])],
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


def _check_port_var(name: str, value: t.Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _VAR.match(value):
        _fail(f"service '{name}': port_var must be a variable name, got {value!r}")
    return value


def _check_ports(name: str, ports: t.Any) -> list[dict[str, t.Any]]:
    if not isinstance(ports, list) or not ports:
        _fail(f"service '{name}': 'ports' must be a non-empty list of {{port, proto, port_var}}")
    out = []
    for p in ports:
        if not isinstance(p, dict):
            _fail(f"service '{name}': port entries are dicts {{port: 8200, proto: tcp}}, got {p!r}")
        unknown = set(p) - set(PORT_KEYS)
        if unknown:
            _fail(f"service '{name}': unknown port keys {sorted(unknown)} (allowed: {', '.join(PORT_KEYS)})")
        port, proto = p.get("port"), p.get("proto", "tcp")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            _fail(f"service '{name}': port must be an integer 1-65535, got {port!r}")
        if proto not in PROTOCOLS:
            _fail(f"service '{name}': proto must be one of {PROTOCOLS}, got {proto!r}")
        out.append({"port": port, "proto": proto, "port_var": _check_port_var(name, p.get("port_var"))})
    return out


def _check_enabled_by(name: str, raw: t.Any) -> dict[str, t.Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"var", "default"} or not isinstance(raw.get("var"), str):
        _fail(f"service '{name}': enabled_by must be {{var: <host variable>, default: true|false}}, got {raw!r}")
    if not _VAR.match(raw["var"]):
        _fail(f"service '{name}': enabled_by.var must be a variable name, got {raw['var']!r}")
    default = raw.get("default", True)
    if not isinstance(default, bool):
        _fail(f"service '{name}': enabled_by.default must be true or false, got {default!r}")
    return {"var": raw["var"], "default": default}


def _check_generate(where: str, raw: t.Any) -> dict[str, t.Any]:
    raw = {} if raw is None else raw
    if not isinstance(raw, dict) or set(raw) - {"length", "prefix"}:
        _fail(f"{where}: generate must be {{length: 16..512, prefix: ''}}, got {raw!r}")
    length = raw.get("length", 32)
    if isinstance(length, bool) or not isinstance(length, int) or not 16 <= length <= 512:
        _fail(f"{where}: generate.length must be an integer 16..512, got {length!r}")
    prefix = raw.get("prefix", "")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        _fail(f"{where}: generate.prefix must match {_PREFIX.pattern}, got {prefix!r}")
    return {"length": length, "prefix": prefix}


def _check_secret(name: str, raw: t.Any) -> Entry:
    if not isinstance(raw, dict):
        _fail(
            f"service '{name}': secrets are dicts {{name, field, generate, delivery, unit, template, reload}}, "
            f"got {raw!r}"
        )
    unknown = set(raw) - set(SECRET_KEYS)
    if unknown:
        _fail(f"service '{name}': unknown secret keys {sorted(unknown)} (allowed: {', '.join(SECRET_KEYS)})")
    sname = raw.get("name")
    if not isinstance(sname, str) or not _NAME.match(sname):
        _fail(f"service '{name}': secret name must match {_NAME.pattern}, got {sname!r}")
    where = f"service '{name}' secret '{sname}'"
    path = raw.get("path") or f"swarm/{name}/{sname}"
    if not isinstance(path, str) or not _KV_PATH.match(path) or ".." in path or not path.startswith(f"swarm/{name}/"):
        _fail(f"{where}: path must be swarm/{name}/<name> (KV v2 below secret/), got {path!r}")
    field = raw.get("field", "value")
    if not isinstance(field, str) or not _FIELD.match(field):
        _fail(f"{where}: field must match {_FIELD.pattern}, got {field!r}")
    template = raw.get("template")
    delivery = raw.get("delivery", "agent" if template else "play")
    if delivery not in DELIVERIES:
        _fail(f"{where}: delivery must be one of {DELIVERIES}, got {delivery!r}")
    if delivery == "agent" and (not isinstance(template, str) or not _TEMPLATE.match(template)):
        _fail(
            f"{where}: delivery agent needs template '<directory>/<file>' (below the agent's secrets dir), "
            f"got {template!r}"
        )
    if delivery == "play" and template is not None:
        _fail(f"{where}: delivery play (read by site.yml at deploy time) takes no template, got {template!r}")
    unit = raw.get("unit")
    if not isinstance(unit, str) or not _UNIT.match(unit):
        _fail(
            f"{where}: unit must be the systemd unit that uses the secret (a glob like vllm-* is allowed), got {unit!r}"
        )
    unit = unit[: -len(".service")] if unit.endswith(".service") else unit
    reload = raw.get("reload", "restarted")
    if reload not in RELOADS:
        _fail(f"{where}: reload must be one of {RELOADS}, got {reload!r}")
    grace = str(raw.get("grace", "0"))
    if not _GRACE.match(grace):
        _fail(f"{where}: grace must be 0 or a duration like 15m, 1h or 1d12h, got {raw.get('grace')!r}")
    if grace != "0" and reload != "reloaded":
        _fail(
            f"{where}: grace needs reload 'reloaded' - a consumer that accepts the old and the new value "
            f"picks both up without a restart, got reload {reload!r}"
        )
    readers = raw.get("readers", [])
    if not isinstance(readers, list) or not all(isinstance(r, str) and _NAME.match(r) for r in readers):
        _fail(f"{where}: readers must be a list of role names that read it at deploy time, got {readers!r}")
    return {
        "name": sname,
        "path": path,
        "field": field,
        "generate": _check_generate(where, raw.get("generate")),
        "delivery": delivery,
        "unit": unit,
        "template": template if delivery == "agent" else None,
        "reload": reload,
        "grace": grace,
        "readers": list(readers),
    }


def _check_secrets(name: str, raw: t.Any) -> list[Entry]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        _fail(f"service '{name}': 'secrets' must be a list, got {type(raw).__name__}")
    out = [_check_secret(name, s) for s in raw]
    names = [s["name"] for s in out]
    if len(set(names)) != len(names):
        _fail(f"service '{name}': secret names must be unique, got {names}")
    return out


def _check_scrape(name: str, raw: t.Any, ports: list[dict[str, t.Any]], secrets: list[Entry]) -> Entry | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        _fail(f"service '{name}': scrape must be a dict {{job, path, auth, ...}} or null, got {raw!r}")
    unknown = set(raw) - set(SCRAPE_KEYS)
    if unknown:
        _fail(f"service '{name}': unknown scrape keys {sorted(unknown)} (allowed: {', '.join(SCRAPE_KEYS)})")
    where = f"service '{name}' scrape"
    job = raw.get("job", name)
    if not isinstance(job, str) or not _NAME.match(job):
        _fail(f"{where}: job must match {_NAME.pattern}, got {job!r}")
    port_var = raw.get("port_var")
    if port_var is not None and port_var not in [p["port_var"] for p in ports]:
        _fail(f"{where}: port_var {port_var!r} is not the port_var of one of its ports")
    path = raw.get("path", "/metrics")
    if not isinstance(path, str) or not path.startswith("/"):
        _fail(f"{where}: path must start with '/', got {path!r}")
    params = raw.get("params", {})
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v) for k, v in params.items()
    ):
        _fail(f"{where}: params must be a dict of lists of strings (URL parameters), got {params!r}")
    scheme = raw.get("scheme", "https")
    if scheme not in SCRAPE_SCHEMES:
        _fail(f"{where}: scheme must be one of {SCRAPE_SCHEMES} (the swarm scrapes over TLS only), got {scheme!r}")
    auth = raw.get("auth", "none")
    if auth not in SCRAPE_AUTHS:
        _fail(f"{where}: auth must be one of {SCRAPE_AUTHS}, got {auth!r}")
    secret = raw.get("secret")
    if auth == "none" and secret is not None:
        _fail(f"{where}: auth none takes no secret")
    if auth != "none" and secret not in [s["name"] for s in secrets]:
        _fail(f"{where}: auth {auth} needs secret, the name of one of the service's secrets, got {secret!r}")
    username = raw.get("username", "prometheus" if auth == "basic" else None)
    if auth == "basic" and (not isinstance(username, str) or not username):
        _fail(f"{where}: auth basic needs a username, got {username!r}")
    ca = raw.get("ca", "bootstrap")
    if ca not in SCRAPE_CAS:
        _fail(f"{where}: ca must be one of {SCRAPE_CAS}, got {ca!r}")
    address_var = raw.get("address_var", "swarm_listen_address")
    if not isinstance(address_var, str) or not _VAR.match(address_var):
        _fail(f"{where}: address_var must be a variable name, got {address_var!r}")
    return {
        "job": job,
        "port_var": port_var,
        "path": path,
        "params": dict(params),
        "scheme": scheme,
        "auth": auth,
        "secret": secret if auth != "none" else None,
        "username": username if auth == "basic" else None,
        "ca": ca,
        "address_var": address_var,
    }


def _check_health(name: str, raw: t.Any) -> dict[str, t.Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"path", "ca"}:
        _fail(f"service '{name}': health must be {{path: /health, ca: <dir>/<file>}}, got {raw!r}")
    path, ca = raw.get("path"), raw.get("ca")
    if not isinstance(path, str) or not path.startswith("/"):
        _fail(f"service '{name}': health.path must start with '/', got {path!r}")
    if ca is not None and (not isinstance(ca, str) or not _TEMPLATE.match(ca)):
        _fail(f"service '{name}': health.ca must be '<directory>/<file>' below the agent's secrets dir, got {ca!r}")
    return {"path": path, "ca": ca}


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
        unknown_keys = set(raw) - set(ENTRY_KEYS)
        if unknown_keys:
            _fail(f"service '{name}': unknown keys {sorted(unknown_keys)} (allowed: {', '.join(ENTRY_KEYS)})")
        groups = raw.get("groups")
        if not isinstance(groups, list) or not groups or not all(isinstance(g, str) for g in groups):
            _fail(f"service '{name}': 'groups' must be a non-empty list of inventory group names")
        bad = [g for g in groups if g not in set(node_groups) | {"swarm"}]
        if bad:
            _fail(f"service '{name}': groups {bad} are not node groups ({', '.join(node_groups)} or swarm)")
        ports = _check_ports(name, raw.get("ports"))
        tls = raw.get("tls", "yes")
        if tls not in TLS_VALUES:
            _fail(f"service '{name}': tls must be one of {TLS_VALUES}, got {tls!r}")
        principals = raw.get("from")
        if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
            _fail(f"service '{name}': 'from' must be a list of principals")
        bad = [p for p in principals if p not in known]
        if bad:
            _fail(f"service '{name}': unknown principals {bad} (known: {sorted(known)})")
        secrets = _check_secrets(name, raw.get("secrets"))
        pki = raw.get("pki", False)
        if not isinstance(pki, bool):
            _fail(f"service '{name}': pki must be true or false (certificates from the Vault PKI), got {pki!r}")
        out.append(
            {
                "service": name,
                "groups": list(groups),
                "ports": ports,
                "tls": tls,
                "from": list(principals),
                "description": str(raw.get("description", "")),
                "enabled_by": _check_enabled_by(name, raw.get("enabled_by")),
                "scrape": _check_scrape(name, raw.get("scrape"), ports, secrets),
                "health": _check_health(name, raw.get("health")),
                "pki": pki,
                "secrets": secrets,
            }
        )
    _check_unique(out)
    return out


def _check_unique(matrix: Matrix) -> None:
    """Across services: a port variable, a scrape job and a secret path belong to one service each."""
    for what, values in (
        ("port_var", [(p["port_var"], e["service"]) for e in matrix for p in e["ports"] if p["port_var"]]),
        ("scrape job", [(e["scrape"]["job"], e["service"]) for e in matrix if e["scrape"]]),
        ("secret path", [(s["path"], e["service"]) for e in matrix for s in e["secrets"]]),
    ):
        owner: dict[str, str] = {}
        for value, service in values:
            if value in owner:
                _fail(f"{what} {value!r} is used twice (services '{owner[value]}' and '{service}')")
            owner[value] = service


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
        if not src:
            continue  # reached by no one over the tailnet (a loopback service): no grant
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


# ---- derivations: ports, placement, scrape jobs, secrets, Vault read paths ------------------


def port_of(matrix: Matrix, port_var: str) -> int:
    """The port whose ``port_var`` is ``port_var`` (a role's ``<role>_port`` default reads it)."""
    for entry in matrix:
        for p in entry["ports"]:
            if p["port_var"] == port_var:
                return int(p["port"])
    known = sorted(p["port_var"] for e in matrix for p in e["ports"] if p["port_var"])
    _fail(f"no port has port_var '{port_var}' (known: {', '.join(known)})")


def _truthy(value: t.Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


def service_hosts(
    entry: Entry,
    groups: t.Mapping[str, t.Sequence[str]],
    hostvars: t.Mapping[str, t.Any],
    node_groups: t.Sequence[str] = NODE_GROUPS,
) -> list[str]:
    """Hosts that run the service: hosts of its groups whose ``enabled_by`` variable is true (or non-empty)."""
    hosts: list[str] = []
    for g in _expand_groups(entry["groups"], node_groups):
        for h in groups.get(g) or []:
            if h not in hosts:
                hosts.append(h)
    rule = entry.get("enabled_by")
    if not rule:
        return hosts
    out = []
    for h in hosts:
        hv = hostvars.get(h)
        value = hv.get(rule["var"], rule["default"]) if hv is not None and hasattr(hv, "get") else rule["default"]
        if _truthy(value):
            out.append(h)
    return out


def placement(
    matrix: Matrix,
    groups: t.Mapping[str, t.Sequence[str]],
    hostvars: t.Mapping[str, t.Any],
    node_groups: t.Sequence[str] = NODE_GROUPS,
) -> dict[str, list[str]]:
    """service -> the hosts that run it (see :func:`service_hosts`)."""
    return {e["service"]: service_hosts(e, groups, hostvars, node_groups) for e in matrix}


def secret_id(service: str, name: str) -> str:
    """The one name of a secret in plays, tags and Prometheus' secret files: ``<service>_<name>``."""
    return f"{service}_{name}"


def secrets(matrix: Matrix, delivery: str | None = None, services: t.Sequence[str] | None = None) -> list[Entry]:
    """Every secret of the matrix (optionally of one delivery, or of some services), flat, with its service."""
    if delivery is not None and delivery not in DELIVERIES:
        _fail(f"delivery must be one of {DELIVERIES} or none, got {delivery!r}")
    if services is not None:
        for name in services:
            get_service(matrix, name)
    out = []
    for e in matrix:
        if services is not None and e["service"] not in services:
            continue
        for s in e["secrets"]:
            if delivery is None or s["delivery"] == delivery:
                out.append({"service": e["service"], "id": secret_id(e["service"], s["name"]), **copy.deepcopy(s)})
    return out


def scrape_jobs(
    matrix: Matrix,
    exclude_jobs: t.Sequence[str] = PROMETHEUS_ROLE_JOBS,
    group_prefix: str = DEFAULT_PLACEMENT_PREFIX,
) -> list[Entry]:
    """``prometheus_service_jobs`` of the prometheus role: one job per scraped service.

    Each job scrapes the placement group ``<group_prefix><service>`` (the hosts that run the service;
    site.yml's placement play makes these groups). Jobs the role writes itself are left out.
    A job's secret is named ``<service>_<secret>`` (a key of ``prometheus_service_job_secrets``).
    """
    if not isinstance(group_prefix, str) or not _VAR.match(group_prefix + "x"):
        _fail(f"group_prefix must be an inventory group name prefix, got {group_prefix!r}")
    jobs = []
    for e in matrix:
        sc = e["scrape"]
        if not sc or sc["job"] in exclude_jobs:
            continue
        port = next((p["port"] for p in e["ports"] if sc["port_var"] and p["port_var"] == sc["port_var"]), None)
        port = e["ports"][0]["port"] if port is None else port
        job: Entry = {"name": sc["job"], "group": group_prefix + e["service"], "port": port, "path": sc["path"]}
        if sc["params"]:
            job["params"] = copy.deepcopy(sc["params"])
        job["auth"] = sc["auth"]
        if sc["auth"] == "basic":
            job["username"] = sc["username"]
        if sc["secret"]:
            job["secret"] = secret_id(e["service"], sc["secret"])
        if sc["address_var"] != "swarm_listen_address":
            job["address_var"] = sc["address_var"]
        job["ca"] = sc["ca"]
        jobs.append(job)
    return jobs


def tls_probes(matrix: Matrix, group_prefix: str = DEFAULT_PLACEMENT_PREFIX) -> list[Entry]:
    """The TLS endpoints the blackbox exporter probes (certificate expiry, ``probe_ssl_earliest_cert_expiry``).

    One entry per service with TLS (``yes`` or ``yes+auth``): its placement group, its ports, the address variable
    its hosts listen on and the CA its certificate comes from (``service``: the Vault PKI, as its scrape says;
    else ``bootstrap``). Left out: ports only the service's own peers reach (``from: [self]``, cluster traffic
    under the engine's own TLS) and services that reach nothing (``from: []``, the exporter itself).
    """
    if not isinstance(group_prefix, str) or not _VAR.match(group_prefix + "x"):
        _fail(f"group_prefix must be an inventory group name prefix, got {group_prefix!r}")
    probes = []
    for e in matrix:
        if e["tls"] not in ("yes", "yes+auth") or not e["from"] or e["from"] == ["self"]:
            continue
        sc = e["scrape"] or {}
        probes.append(
            {
                "name": e["service"],
                "group": group_prefix + e["service"],
                "ports": [p["port"] for p in e["ports"]],
                "address_var": sc.get("address_var", "swarm_listen_address"),
                "ca": sc.get("ca", "bootstrap"),
            }
        )
    return probes


def scrape_secrets(matrix: Matrix, exclude_jobs: t.Sequence[str] = ()) -> list[Entry]:
    """The secrets Prometheus authenticates its service jobs with (flat, as :func:`secrets` gives them)."""
    wanted = {
        secret_id(e["service"], e["scrape"]["secret"])
        for e in matrix
        if e["scrape"] and e["scrape"]["secret"] and e["scrape"]["job"] not in exclude_jobs
    }
    return [s for s in secrets(matrix) if s["id"] in wanted]


def vault_clients(matrix: Matrix, node_groups: t.Sequence[str] = NODE_GROUPS) -> dict[str, list[str]]:
    """Per node group, the services placed there that are Vault clients through the node's vault agent:
    those with agent-delivered secrets or certificates from the Vault PKI. Each gets a policy and a PKI
    role of its name, and the group's AppRole carries their policies."""
    out: dict[str, list[str]] = {g: [] for g in node_groups}
    for e in matrix:
        if e["pki"] or any(s["delivery"] == "agent" for s in e["secrets"]):
            for g in _expand_groups(e["groups"], node_groups):
                if e["service"] not in out[g]:
                    out[g].append(e["service"])
    return {g: sorted(v) for g, v in out.items()}


def kv_read_paths_by_service(matrix: Matrix) -> dict[str, list[str]]:
    """Per service, the KV paths (below ``secret/``) of its agent-delivered secrets: its policy's reads."""
    return {
        e["service"]: sorted(s["path"] for s in e["secrets"] if s["delivery"] == "agent")
        for e in matrix
        if any(s["delivery"] == "agent" for s in e["secrets"])
    }


def kv_read_paths(matrix: Matrix, node_groups: t.Sequence[str] = NODE_GROUPS) -> dict[str, list[str]]:
    """Per node group, the KV paths (below ``secret/``) its vault agents render: the agent-delivered
    secrets of the services that run in that group. The basis of the group's Vault policy."""
    out: dict[str, list[str]] = {g: [] for g in node_groups}
    for e in matrix:
        paths = [s["path"] for s in e["secrets"] if s["delivery"] == "agent"]
        for g in _expand_groups(e["groups"], node_groups):
            for p in paths:
                if p not in out[g]:
                    out[g].append(p)
    return {g: sorted(v) for g, v in out.items()}
