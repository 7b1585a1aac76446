# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The service matrix drives the playbooks and roles, checked by a real ansible-playbook (templating only).

* The secrets rotate-keys.yml rotates (its plan mode) are exactly the KV secrets the service roles have
  their vault agents render (read from the roles' own YAML and templated by Ansible), file for file.
* One port changed in ``swarm_service_matrix`` moves everything with it: the firewall rules
  (``service_firewall_rules``), the tailnet policy (``tailnet_policy``), the Prometheus scrape jobs
  (the lab inventory's derived ``prometheus_service_jobs`` and the role's own node job, rendered from
  roles/prometheus/templates/prometheus.yml.j2) and the roles' port variables.
No container, no Vault: the plays run on the controller and only template.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from ansible_collections.orcaqueen.swarm.plugins.module_utils import _service_matrix as sm
from support import REPO_ROOT

ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def _env() -> dict[str, str]:
    return dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CACHE_PLUGIN="memory",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_STRATEGY="linear",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
    )


def _playbook(args: list[str], tmp_path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [ANSIBLE_PLAYBOOK, *args], env=_env(), cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    # The JSON document, without what other callbacks (ansible.cfg's profile_tasks) print after it.
    start = re.search(r"^\{", proc.stdout, re.MULTILINE)
    assert start, proc.stdout[-3000:]
    return json.JSONDecoder().raw_decode(proc.stdout[start.start() :])[0]


def _task_result(run: dict[str, Any], task_name: str, host: str) -> dict[str, Any]:
    for play in run["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == task_name and host in task["hosts"]:
                return task["hosts"][host]
    raise AssertionError(f"task {task_name!r} did not run on {host}")


def _load(path: str) -> Any:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
    return yaml.load((REPO_ROOT / path).read_text(encoding="utf-8"), Loader=Loader)


# ---- rotate-keys.yml rotates what the agents render -------------------------------------------


def _rotation_plan(tmp_path: Path) -> set[tuple[str, str, str]]:
    run = _playbook(["-i", "inventories/lab", "playbooks/rotate-keys.yml", "-e", "rotate_keys_plan=true"], tmp_path)
    selected = _task_result(run, "The secrets of this run", "localhost")["ansible_facts"]["rotate_keys_selected"]
    return {(s["path"], s["field"], s["template"]) for s in selected}


def _vllm_agent_task_vars() -> dict[str, Any]:
    tasks = _load("roles/vllm/tasks/secrets.yml")
    task = next(t for t in tasks if t.get("ansible.builtin.include_role", {}).get("tasks_from") == "templates")
    return task["vars"]


def _agent_rendered(tmp_path: Path) -> set[tuple[str, str, str]]:
    """(KV path, field, <service>/<file>) of every KV file the roles have their agents render."""
    vllm_vars = _vllm_agent_task_vars()
    qdrant_vars = _load("roles/qdrant/vars/main.yml")
    qdrant_env = next(t for t in qdrant_vars["_qdrant_agent_templates"] if isinstance(t, dict) and "contents" in t)
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars_files": [
                str(REPO_ROOT / f)
                for f in (
                    "roles/vllm/defaults/main.yml",
                    "roles/vllm/vars/main.yml",
                    "roles/qdrant/defaults/main.yml",
                    "roles/qdrant/vars/main.yml",
                )
            ],
            "vars": {
                "vllm_models": [{"name": "tiny", "model": "/models/tiny"}],
                # The include's own variables (the certificate request, the reload command) as they are.
                **{k: v for k, v in vllm_vars.items() if k != "vault_agent_templates"},
                "_t_vllm_templates": vllm_vars["vault_agent_templates"],
            },
            "tasks": [
                {
                    "name": "rendered",
                    "ansible.builtin.set_fact": {
                        "vllm_kv": "{{ _t_vllm_templates | selectattr('kv_path', 'defined') | list }}",
                        "qdrant_env": "{{ _qdrant_env_contents }}",
                    },
                }
            ],
        }
    ]
    path = tmp_path / "agent.yml"
    path.write_text(yaml.safe_dump(play))
    facts = _task_result(_playbook([str(path)], tmp_path), "rendered", "localhost")["ansible_facts"]
    rendered = {(t["kv_path"], t["kv_field"], f"{t['service']}/{t['file']}") for t in facts["vllm_kv"] if t["kv_path"]}
    env_file = f"{qdrant_env['service']}/{qdrant_env['file']}"
    for mount_path, field in re.findall(
        r'with secret "[^"/]+/data/([^"]+)" \}\}\{\{ \.Data\.data\.(\w+)', facts["qdrant_env"]
    ):
        rendered.add((mount_path, field, env_file))
    return rendered


def test_rotate_keys_rotates_what_the_agents_render(tmp_path: Path) -> None:
    rendered = _agent_rendered(tmp_path)
    assert {entry[0] for entry in rendered} >= {"swarm/vllm/api_key", "swarm/qdrant/api_key"}, rendered
    assert _rotation_plan(tmp_path) == rendered


def test_rotate_keys_names_no_secret_path() -> None:
    text = (REPO_ROOT / "playbooks/rotate-keys.yml").read_text(encoding="utf-8")
    assert not re.search(r"swarm/[a-z_]+/[a-z_]+", text), "rotate-keys.yml must take its secrets from the matrix"
    assert "litellm" not in text


# ---- one port, changed in the matrix, moves everything ------------------------------------------

NEW_PORTS = {"vllm_port": 8443, "node_exporter_port": 9110}
ADDRESSES = {"oracle": "100.64.0.1", "starlord": "100.64.0.2", "thanos": "100.64.0.3"}


def _matrix_with_new_ports() -> list[dict[str, Any]]:
    matrix = copy.deepcopy(sm.validate_matrix(sm.default_matrix()))
    for entry in matrix:
        for port in entry["ports"]:
            if port["port_var"] in NEW_PORTS:
                port["port"] = NEW_PORTS[port["port_var"]]
    return matrix


def _placement_task() -> dict[str, Any]:
    """The task of site.yml that groups each service's hosts (service_<name>), as it is there."""
    validate = _load("playbooks/site.yml")[0]
    return next(t for t in validate["tasks"] if "ansible.builtin.add_host" in t)


def _defaults_below_inventory(path: str, tmp_path: Path) -> str:
    """A role's defaults without the variables the lab inventory sets: include_vars ranks above the
    inventory, role defaults below it, so those keep the inventory's value as in a real run."""
    inventory = _load("inventories/lab/group_vars/swarm.yml")
    text = (REPO_ROOT / path).read_text(encoding="utf-8")
    keep = [block for block in re.split(r"\n(?=[a-z_]+:)", text) if block.split(":", 1)[0] not in inventory]
    out = tmp_path / path.replace("/", "_")
    out.write_text("\n".join(keep) + "\n")
    return str(out)


def test_a_port_changed_in_the_matrix_moves_everything(tmp_path: Path) -> None:
    out = tmp_path / "prometheus.yml"
    plays = [
        {
            "hosts": "oracle",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Tailnet addresses",
                    "ansible.builtin.set_fact": {"tailscale_ipv4": "{{ item.value }}"},
                    "delegate_to": "{{ item.key }}",
                    "delegate_facts": True,
                    "loop": "{{ addresses | dict2items }}",
                },
                _placement_task(),
                {
                    "name": "Role defaults",
                    "ansible.builtin.include_vars": {"file": "{{ item }}"},
                    "loop": [
                        _defaults_below_inventory(f, tmp_path)
                        for f in (
                            "roles/vllm/defaults/main.yml",
                            "roles/node_exporter/defaults/main.yml",
                            "roles/prometheus/defaults/main.yml",
                        )
                    ]
                    + [str(REPO_ROOT / "roles/prometheus/vars/main.yml")],
                },
                {
                    "name": "Derived",
                    "ansible.builtin.set_fact": {
                        "vllm_port_value": "{{ vllm_port }}",
                        "node_exporter_port_value": "{{ node_exporter_port }}",
                        "vllm_rules": "{{ query('orcaqueen.swarm.service_matrix')"
                        " | orcaqueen.swarm.service_firewall_rules('vllm', 'starlord', hostvars, groups) }}",
                        "node_rules": "{{ query('orcaqueen.swarm.service_matrix')"
                        " | orcaqueen.swarm.service_firewall_rules('node_exporter', 'thanos', hostvars, groups) }}",
                        "policy": "{{ query('orcaqueen.swarm.service_matrix') | orcaqueen.swarm.tailnet_policy }}",
                        "service_jobs": "{{ prometheus_service_jobs }}",
                    },
                },
                {
                    "name": "Prometheus configuration",
                    "ansible.builtin.template": {
                        "src": str(REPO_ROOT / "roles/prometheus/templates/prometheus.yml.j2"),
                        "dest": str(out),
                        "mode": "0600",
                    },
                },
            ],
        }
    ]
    path = tmp_path / "ports.yml"
    path.write_text(yaml.safe_dump(plays))
    extra = {
        "swarm_service_matrix": _matrix_with_new_ports(),
        "addresses": ADDRESSES,
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "ansible_become": False,
    }
    run = _playbook(["-i", "inventories/lab", str(path), "-e", json.dumps(extra)], tmp_path)
    facts = _task_result(run, "Derived", "oracle")["ansible_facts"]

    # The roles' port variables (vLLM's proxy and the node exporter bind there).
    assert int(facts["vllm_port_value"]) == 8443
    assert int(facts["node_exporter_port_value"]) == 9110
    # Firewall: the new port, from the allowed peers only.
    assert facts["vllm_rules"] == [
        'iifname "tailscale0" ip saddr { 100.64.0.1 } tcp dport 8443 ct state new accept comment "vllm"'
    ]
    assert all("tcp dport 9110 " in r for r in facts["node_rules"]) and facts["node_rules"]
    # Tailnet policy: the grants name the new ports, never the old ones.
    grants = {ip for g in facts["policy"]["grants"] for ip in g["ip"]}
    assert {"tcp:8443", "tcp:9110"} <= grants and not {"tcp:8000", "tcp:9100"} & grants
    # Prometheus: the derived service job and the role's own node job.
    vllm_job = next(j for j in facts["service_jobs"] if j["name"] == "vllm")
    assert vllm_job["port"] == 8443 and vllm_job["group"] == "service_vllm"
    config = yaml.safe_load(out.read_text(encoding="utf-8"))
    jobs = {j["job_name"]: [t for sc in j["static_configs"] for t in sc["targets"]] for j in config["scrape_configs"]}
    assert jobs["vllm"] == ["100.64.0.2:8443"]  # starlord only: the lab's worker has no models
    assert sorted(jobs["node"]) == ["100.64.0.1:9110", "100.64.0.2:9110", "100.64.0.3:9110"]
    assert jobs["vault"] == ["100.64.0.1:8200"]
    assert "qdrant" not in jobs  # not deployed in the lab (swarm_qdrant_enabled: false)


# ---- Vault policies and AppRole scopes come from the matrix ---------------------------------


def _vault_policies(tmp_path: Path, extra: dict[str, Any]) -> dict[str, str]:
    """The vault role's policies (templates/policies.json.j2) as its defaults and vars make them."""
    plays = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Role defaults and vars",
                    "ansible.builtin.include_vars": {"file": "{{ item }}"},
                    "loop": [
                        str(REPO_ROOT / "roles/vault/defaults/main.yml"),
                        str(REPO_ROOT / "roles/vault/vars/main.yml"),
                    ],
                },
                {
                    "name": "Policies",
                    "ansible.builtin.set_fact": {
                        "policies": "{{ lookup('ansible.builtin.template', '"
                        + str(REPO_ROOT / "roles/vault/templates/policies.json.j2")
                        + "') | from_json }}",
                        "services": "{{ vault_services }}",
                    },
                },
            ],
        }
    ]
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "policies.yml"
    path.write_text(yaml.safe_dump(plays))
    extra = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **extra}
    run = _playbook(["-i", "localhost,", str(path), "-e", json.dumps(extra)], tmp_path)
    facts = _task_result(run, "Policies", "localhost")["ansible_facts"]
    return {"__services__": facts["services"], **{p["name"]: p["policy"] for p in facts["policies"]}}


def _reads(policy: str) -> list[str]:
    return re.findall(r'path "secret/data/([^"]+)" \{ capabilities = \["read"\] \}', policy)


def test_vault_policies_are_the_matrix(tmp_path: Path) -> None:
    base = _vault_policies(tmp_path / "a", {})
    # Each node group's Vault clients are the matrix's services placed there with agent secrets or Vault PKI.
    assert base["__services__"] == sm.vault_clients(sm.validate_matrix(sm.default_matrix()))
    # A service reads exactly its agent-delivered secrets, no wildcard over its directory.
    assert _reads(base["swarm-svc-qdrant"]) == ["swarm/qdrant/api_key", "swarm/qdrant/read_only_api_key"]
    assert _reads(base["swarm-svc-vllm"]) == ["swarm/vllm/api_key"]
    assert _reads(base["swarm-svc-node_exporter"]) == []
    assert 'path "pki_int/issue/vllm" { capabilities = ["create", "update"] }' in base["swarm-svc-vllm"]
    assert not [p for p in base.values() if isinstance(p, str) and "swarm/qdrant/*" in p]

    # One edit of the matrix: a new agent secret for vLLM is readable by vLLM's agents, by nothing else.
    matrix = copy.deepcopy(sm.validate_matrix(sm.default_matrix()))
    vllm = next(e for e in matrix if e["service"] == "vllm")
    extra_secret = dict(vllm["secrets"][0], name="hf_token", path="swarm/vllm/hf_token", template="vllm/hf_token")
    vllm["secrets"].append(extra_secret)
    changed = _vault_policies(tmp_path / "b", {"swarm_service_matrix": matrix})
    assert _reads(changed["swarm-svc-vllm"]) == ["swarm/vllm/api_key", "swarm/vllm/hf_token"]
    others = [p for name, p in changed.items() if name not in ("swarm-svc-vllm", "__services__")]
    assert not [p for p in others if "swarm/vllm/hf_token" in p]
