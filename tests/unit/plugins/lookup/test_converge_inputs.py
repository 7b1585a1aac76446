# Copyright (c) 2026, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The converge_inputs lookup (the fast path's digest), run by a real ansible-playbook: which changes
make a role converge again, and which do not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import COLLECTIONS_ROOT

INVENTORY = """
all:
  vars: {ansible_connection: local, ansible_python_interpreter: "%s"}
  hosts:
    one: {node_exporter_port: 9100, base: 9000}
    two: {node_exporter_port: %s, other_thing: %s}
"""

# Each case: the task vars of one lookup on host `one`; the digests are compared below.
CASES = {
    "plain": {},
    "again": {},
    "own_var": {"node_exporter_listen_address": "10.0.0.1"},
    "templated_same": {"node_exporter_web_port": "{{ base + 443 }}"},
    "literal_same": {"node_exporter_web_port": 9443},
    "templated_other": {"node_exporter_web_port": "{{ base + 444 }}"},
    "other_prefix": {"vllm_port": 8001},
    "internal": {"_node_exporter_now": "{{ now() }}"},
    "swarm_wide": {"swarm_listen_address": "10.9.9.9"},
    "run_mode": {"swarm_skip_unchanged": False},
    "joined": {"swarm_listen_address": "100.64.0.9", "tailscale_ipv4": "100.64.0.9"},
    "unresolvable": {"node_exporter_broken": "{{ no_such_variable }}"},
}

PLAYBOOK = """
- hosts: one
  gather_facts: false
  tasks:
%s
    - name: Before the tailnet (tailnet=false), not joined and joined
      ansible.builtin.set_fact:
        d_underlay: "{{ lookup('orcaqueen.swarm.converge_inputs', 'node_exporter', 'tailscale', tailnet=false) }}"
    - name: The same host, joined
      ansible.builtin.set_fact:
        d_underlay_joined: >-
          {{ lookup('orcaqueen.swarm.converge_inputs', 'node_exporter', 'tailscale', tailnet=false) }}
      vars: {swarm_listen_address: 100.64.0.9, tailscale_ipv4: 100.64.0.9, tailscale_backend_state: Running}
    - name: With the vllm prefix too
      ansible.builtin.set_fact:
        d_with_vllm: "{{ lookup('orcaqueen.swarm.converge_inputs', 'node_exporter', 'vllm') }}"
      vars:
        vllm_port: 8001
    - ansible.builtin.copy:
        dest: "{{ out }}"
        content: >-
          {{ dict(query('ansible.builtin.varnames', '^d_')
                  | zip(query('ansible.builtin.vars', *query('ansible.builtin.varnames', '^d_')))) | to_json }}
"""

TASK = """
    - ansible.builtin.set_fact:
        d_%s: "{{ lookup('orcaqueen.swarm.converge_inputs', 'node_exporter') }}"
      vars: %s
"""


def run_playbook(
    tmp_path: Path, playbook: str, two_port: int = 9100, two_other: int = 1
) -> subprocess.CompletedProcess:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "inventory.yml").write_text(INVENTORY % (sys.executable, two_port, two_other))
    (tmp_path / "play.yml").write_text(playbook)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_ROOT), ANSIBLE_LOCALHOST_WARNING="false")
    args = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(tmp_path / "inventory.yml"),
        str(tmp_path / "play.yml"),
        "-e",
        json.dumps({"out": str(tmp_path / "out.json")}),
    ]
    return subprocess.run(args, env=env, capture_output=True, text=True, check=False, cwd=tmp_path)


def digests(tmp_path: Path, **inventory: int) -> dict[str, str]:
    tasks = "".join(TASK % (name, json.dumps(task_vars)) for name, task_vars in CASES.items())
    proc = run_playbook(tmp_path, PLAYBOOK % tasks, **inventory)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {key[2:]: value for key, value in json.loads((tmp_path / "out.json").read_text()).items()}


def test_what_changes_the_digest(tmp_path: Path) -> None:
    d = digests(tmp_path)
    assert len(d["plain"]) == 64
    # Stable, resolved values count (not the template text), internal and foreign variables do not.
    assert d["again"] == d["plain"]
    assert d["templated_same"] == d["literal_same"]
    assert d["internal"] == d["plain"]
    assert d["other_prefix"] == d["plain"]
    assert d["run_mode"] == d["plain"]
    # Its own variables, the swarm-wide ones, a broken one, and a prefix it was given do.
    for case in ("own_var", "templated_other", "swarm_wide", "unresolvable", "with_vllm", "joined"):
        assert d[case] != d["plain"], case
    # A role that runs before the tailnet leaves the join's facts out.
    assert d["underlay_joined"] == d["underlay"]


# The roles whose fast path leaves the tailnet facts out (tailnet=false) must not read them: a change of one
# would not make them converge again.
UNDERLAY_ROLES = ("common", "hardening", "headscale")
# Read outside the fast path: headscale's keys.yml runs on every run and asks the other nodes' join state.
OUTSIDE_THE_CONVERGE = {"roles/headscale/vars/main.yml", "roles/headscale/defaults/main.yml"}


def test_roles_before_the_tailnet_read_no_tailnet_fact() -> None:
    root = Path(__file__).resolve().parents[4]
    for role in UNDERLAY_ROLES:
        main = (root / "roles" / role / "tasks" / "main.yml").read_text()
        assert "_component_check_tailnet: false" in main, role
        for path in sorted((root / "roles" / role).rglob("*")):
            rel = str(path.relative_to(root))
            if path.is_file() and path.suffix in (".yml", ".j2", ".py", ".sh") and path.parent.name != "meta":
                if rel in OUTSIDE_THE_CONVERGE:
                    continue
                text = path.read_text()
                assert path.name == "keys.yml" or "_headscale_keys_needed" not in text, rel
                for fact in ("swarm_listen_address", "tailscale_ipv4", "tailscale_ipv6", "tailscale_backend_state"):
                    assert fact not in text, f"{rel} reads {fact}: drop _component_check_tailnet: false"


def test_where_other_hosts_listen_counts(tmp_path: Path) -> None:
    before = digests(tmp_path / "a")["plain"]
    # Host two's port (where host one's Prometheus would scrape it) is an input of host one ...
    assert digests(tmp_path / "b", two_port=9101)["plain"] != before
    # ... its other variables are not.
    assert digests(tmp_path / "c", two_other=2)["plain"] == before


def test_bad_prefix_is_refused(tmp_path: Path) -> None:
    play = """
- hosts: one
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{ lookup('orcaqueen.swarm.converge_inputs', 'Bad-Prefix') }}"
"""
    proc = run_playbook(tmp_path, play)
    assert proc.returncode != 0
    assert "not a variable name prefix: Bad-Prefix" in proc.stdout + proc.stderr


def _facts_the_roles_set() -> set[str]:
    """Names of facts set (set_fact) or results registered in roles/ and playbooks/."""
    import yaml

    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in ("ansible.builtin.set_fact", "set_fact"):
                if isinstance(node.get(key), dict):
                    names.update(k for k in node[key] if k not in ("cacheable",))
            if isinstance(node.get("register"), str):
                names.add(node["register"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in [
        *REPO.glob("roles/*/tasks/*.yml"),
        *REPO.glob("roles/*/handlers/*.yml"),
        *REPO.glob("playbooks/**/*.yml"),
    ]:
        walk(yaml.safe_load(path.read_text()))
    return names


REPO = Path(__file__).resolve().parents[4]
# Public facts set during a run that ARE inputs: they are set before any role's check, from the
# inventory or the live swarm, and stay the same from run to run unless the swarm changed.
STABLE_INPUTS = {
    "tailscale_ipv4": "the node's tailnet address (Tailnet facts play, before the roles)",
    "tailscale_ipv6": "the same, IPv6",
    "tailscale_backend_state": "whether the node has joined (Tailnet facts play)",
    "swarm_passwords": "the web passwords read from Vault for this run; a rotation must re-converge",
    "swarm_node_group": "the host's node group, from the inventory",
}


def test_every_public_fact_the_roles_set_is_a_result_or_an_input() -> None:
    from ansible_collections.orcaqueen.swarm.plugins.lookup import converge_inputs

    prefixes = [p.name for p in (REPO / "roles").iterdir() if p.is_dir()] + ["swarm", "orcaqueen"]
    public = {name for name in _facts_the_roles_set() if any(name.startswith(p + "_") for p in prefixes)}
    unexplained = public - converge_inputs.RESULTS - converge_inputs.RUN_MODES - set(STABLE_INPUTS)
    assert not unexplained, (
        f"{sorted(unexplained)}: facts with a role's prefix, set during a run. Add each to RESULTS in "
        "plugins/lookup/converge_inputs.py (a result of this run, not an input) or to STABLE_INPUTS here (why it is "
        "the same from run to run), or the fast path never finds the host unchanged"
    )
    assert public >= converge_inputs.RESULTS, "RESULTS names a fact no role sets any more"
