# Copyright (c) 2026, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
name: converge_inputs
short_description: One digest of everything a role's converge of this host depends on
version_added: 0.2.0
description:
  - Returns the sha256 of one JSON document made of
    the resolved value of every variable whose name starts with one of the given prefixes followed by C(_)
    (always also C(swarm_) and C(orcaqueen_), the swarm-wide settings and the service matrix);
    the host's identity and the facts the roles read (architecture, distribution, virtualization,
    addresses, GPUs);
    the shape of the swarm (every host, its groups, C(ansible_host), and its variables with one of the
    prefixes whose names end in C(address), C(addresses) or C(port), which is where the other hosts listen);
    and a digest of the collection's code (C(roles/), C(plugins/) and C(galaxy.yml)).
  - A role stores the digest with its deployment record (option
    O(orcaqueen.swarm.deploy_state#module:inputs)) and, on the next run, skips its converge when the
    digest and the host are unchanged (M(orcaqueen.swarm.deploy_state) with
    O(orcaqueen.swarm.deploy_state#module:state=check)). Any change of a variable, of the inventory's
    shape or of the collection's code makes the role converge in full again.
  - Internal variables (names starting with C(_)) are left out; they derive from the public ones and the
    role's code, which are in the digest. So are the results the collection's entry points return during a run
    (C(pki_result), C(vault_kv_data), the AppRole credentials handed to an agent, ...), because their values depend on
    what ran before in the same run, not on what the operator asked for. A variable that cannot be resolved yet
    counts by the name of its error. C(swarm_skip_unchanged) is not an input either (how to run, not what),
    nor are the one-time login credentials of a run (C(tailscale_authkey), C(vault_agent_role_id),
    C(vault_agent_wrapped_secret_id)).
  - How the fast path works and what it does not see is in C(docs/state.md) of the collection.
options:
  _terms:
    description: Variable name prefixes without the trailing C(_), usually the role's name and the roles it reads.
    type: list
    elements: str
    required: true
  tailnet:
    description:
      - With V(false), the node's tailnet facts (C(swarm_listen_address), C(tailscale_ipv4), C(tailscale_ipv6) and
        C(tailscale_backend_state), of this host and in the swarm's shape) are left out.
      - For the roles that run before a node joins the tailnet and read none of them (common, hardening, headscale).
        The join changes those facts, and would otherwise make the next run converge them again for nothing.
        C(tests/unit/plugins/lookup/test_converge_inputs.py) checks that those roles do not read them.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: The inputs of node_exporter's converge on this host
  ansible.builtin.set_fact:
    _inputs: "{{ lookup('orcaqueen.swarm.converge_inputs', 'node_exporter', 'pki') }}"

- name: The inputs of hardening's converge, which runs before the tailnet exists
  ansible.builtin.set_fact:
    _inputs: "{{ lookup('orcaqueen.swarm.converge_inputs', 'hardening', 'common', tailnet=false) }}"
"""

RETURN = r"""
_raw:
  description: The sha256 of the inputs, as 64 hexadecimal digits (one element).
  type: list
  elements: str
"""

import hashlib  # noqa: E402 (ansible-test: imports after the documentation)
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import typing as t  # noqa: E402

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402

ALWAYS = ("swarm", "orcaqueen")
PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Facts the roles' tasks and templates read. Volatile facts (time, free memory, uptime, the
# package list) stay out, or no run would ever find a host unchanged.
FACTS = (
    "architecture",
    "distribution",
    "distribution_major_version",
    "distribution_release",
    "distribution_version",
    "os_family",
    "hostname",
    "virtualization_type",
    "virtualization_role",
    "processor_vcpus",
    "memtotal_mb",
    "gpu",
)
# Results the collection's entry points set during a run (tests/unit/plugins/lookup/test_converge_inputs.py
# checks that every public fact the roles set is either here or a real input).
RESULTS = frozenset(
    {
        "pki_result",
        "vault_kv_data",
        "vault_kv_found",
        "vault_agent_needs_credentials",
        "vault_approle_role_id",
        "vault_approle_wrapped_secret_id",
        "headscale_preauth_keys_created",
        "qdrant_backup_snapshot",
        "qdrant_restore_result",
        "vault_rotate_results",
    }
)
# How to run, not what to deploy: switching the fast path off for one run must not make the next one converge.
# Nor do the one-time login credentials a run hands to a node that has to log in (a node that needs them is
# not in sync anyway: vault_agent converges when its token is not valid, tailscale's health probe fails
# while the node has not joined).
RUN_MODES = frozenset(
    {"swarm_skip_unchanged", "tailscale_authkey", "vault_agent_role_id", "vault_agent_wrapped_secret_id"}
)
# The facts a node's tailnet join changes (tailnet=false leaves them out).
TAILNET_FACTS = frozenset({"swarm_listen_address", "tailscale_ipv4", "tailscale_ipv6", "tailscale_backend_state"})
CODE_DIRS = ("roles", "plugins")
_CODE_DIGEST: dict[str, str] = {}


def collection_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def code_digest(root: str) -> str:
    """sha256 over the relative path and content of every file under roles/, plugins/ and galaxy.yml."""
    if root in _CODE_DIGEST:
        return _CODE_DIGEST[root]
    digest = hashlib.sha256()
    paths = [os.path.join(root, "galaxy.yml")]
    for top in CODE_DIRS:
        for base, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            paths.extend(os.path.join(base, name) for name in files if not name.endswith((".pyc", ".pyo")))
    for path in sorted(paths):
        try:
            with open(path, "rb") as handle:
                content = handle.read()
        except OSError:
            continue
        digest.update(os.path.relpath(path, root).encode() + b"\0" + hashlib.sha256(content).digest())
    _CODE_DIGEST[root] = digest.hexdigest()
    return _CODE_DIGEST[root]


def stable_json(value: t.Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class LookupModule(LookupBase):
    """lookup('orcaqueen.swarm.converge_inputs', <prefix>, ...)."""

    def _resolve(self, value: t.Any) -> t.Any:
        try:
            return json.loads(stable_json(self._templar.template(value)))
        except Exception as exc:  # an unresolvable variable is an input by its error's type
            return f"<unresolved: {type(exc).__name__}>"

    def run(self, terms: list[t.Any], variables: dict[str, t.Any] | None = None, **kwargs: t.Any) -> list[t.Any]:
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        prefixes = sorted(set(ALWAYS) | {str(term) for term in terms})
        bad = [p for p in prefixes if not PREFIX_RE.match(p)]
        if bad:
            raise AnsibleLookupError(f"converge_inputs: not a variable name prefix: {', '.join(bad)}")
        pattern = re.compile("^(?:" + "|".join(re.escape(p) for p in prefixes) + ")_")
        left_out = RESULTS | RUN_MODES | (frozenset() if self.get_option("tailnet") else TAILNET_FACTS)
        names = sorted(name for name in variables if pattern.match(str(name)) and name not in left_out)
        facts = self._resolve(variables.get("ansible_facts", {})) or {}
        if not isinstance(facts, dict):
            facts = {}
        hostvars = variables.get("hostvars", {})
        groups = self._resolve(variables.get("groups", {})) or {}
        where = re.compile(pattern.pattern + r".*(?:address|addresses|port)$")
        shape = {}
        for host in sorted((groups or {}).get("all", [])):
            host_vars = hostvars.get(host, {})
            keys = [
                "group_names",
                "ansible_host",
                *sorted(str(key) for key in host_vars if where.match(str(key)) and key not in left_out),
            ]
            shape[host] = {key: self._resolve(host_vars[key]) if key in host_vars else None for key in keys}
        document = {
            "code": code_digest(collection_root()),
            "host": self._resolve(variables.get("inventory_hostname")),
            "facts": {key: facts.get(key) for key in FACTS},
            "addresses": {family: (facts.get(f"default_{family}") or {}).get("address") for family in ("ipv4", "ipv6")},
            "swarm": shape,
            "vars": {name: self._resolve(variables[name]) for name in names},
        }
        return [hashlib.sha256(stable_json(document).encode()).hexdigest()]
