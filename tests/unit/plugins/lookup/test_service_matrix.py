# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The service_matrix lookup, run by a real ansible-playbook (plugin loader, templar, variables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.orcaqueen.swarm.plugins.module_utils import _service_matrix as sm
from support import COLLECTIONS_ROOT

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ %s | to_json }}"
"""


def _run(tmp_path: Path, expr: str, extra: dict | None = None) -> subprocess.CompletedProcess:
    play = tmp_path / "play.yml"
    play.write_text(PLAYBOOK % expr)
    out = tmp_path / "out.json"
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_ROOT),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    args = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        str(play),
        "-e",
        json.dumps({"out": str(out), **(extra or {})}),
    ]
    return subprocess.run(args, env=env, capture_output=True, text=True, check=False, cwd=tmp_path)


def _result(tmp_path: Path, expr: str, extra: dict | None = None):
    proc = _run(tmp_path, expr, extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((tmp_path / "out.json").read_text())


def test_builtin_matrix(tmp_path: Path) -> None:
    result = _result(tmp_path, "query('orcaqueen.swarm.service_matrix')")
    assert result == sm.validate_matrix(sm.default_matrix())
    vault = next(e for e in result if e["service"] == "vault_api")
    assert vault["ports"] == [{"port": 8200, "proto": "tcp", "port_var": "vault_api_port"}]
    assert vault["from"] == ["swarm", "admin"]


def test_selected_services(tmp_path: Path) -> None:
    result = _result(tmp_path, "query('orcaqueen.swarm.service_matrix', 'ssh', 'qdrant')")
    assert [e["service"] for e in result] == ["ssh", "qdrant"]
    proc = _run(tmp_path, "query('orcaqueen.swarm.service_matrix', 'nope')")
    assert proc.returncode != 0
    assert "no service 'nope'" in proc.stdout + proc.stderr


CUSTOM = [{"service": "web", "groups": ["worker"], "ports": [{"port": 443}], "from": ["admin"]}]


def test_operator_override_and_builtin_option(tmp_path: Path) -> None:
    result = _result(tmp_path, "query('orcaqueen.swarm.service_matrix')", {"swarm_service_matrix": CUSTOM})
    assert result == [
        {
            "service": "web",
            "groups": ["worker"],
            "ports": [{"port": 443, "proto": "tcp", "port_var": None}],
            "tls": "yes",
            "from": ["admin"],
            "description": "",
            "enabled_by": None,
            "scrape": None,
            "health": None,
            "pki": False,
            "secrets": [],
        }
    ]
    builtin = _result(
        tmp_path, "query('orcaqueen.swarm.service_matrix', builtin=true)", {"swarm_service_matrix": CUSTOM}
    )
    assert len(builtin) == len(sm.default_matrix())


@pytest.mark.parametrize("bad", [[{**CUSTOM[0], "from": ["internet"]}], "not a list"])
def test_bad_override_is_rejected(tmp_path: Path, bad) -> None:
    proc = _run(tmp_path, "query('orcaqueen.swarm.service_matrix')", {"swarm_service_matrix": bad})
    assert proc.returncode != 0
    assert "service matrix:" in proc.stdout + proc.stderr


def test_port_var_returns_the_port(tmp_path: Path) -> None:
    assert _result(tmp_path, "lookup('orcaqueen.swarm.service_matrix', port_var='node_exporter_port')") == 9100
    custom = [{**CUSTOM[0], "ports": [{"port": 8443, "port_var": "web_port"}]}]
    result = _result(
        tmp_path, "lookup('orcaqueen.swarm.service_matrix', port_var='web_port')", {"swarm_service_matrix": custom}
    )
    assert result == 8443
    proc = _run(tmp_path, "lookup('orcaqueen.swarm.service_matrix', port_var='nope_port')")
    assert proc.returncode != 0
    assert "no port has port_var 'nope_port'" in proc.stdout + proc.stderr
    proc = _run(tmp_path, "lookup('orcaqueen.swarm.service_matrix', 'ssh', port_var='hardening_ssh_port')")
    assert proc.returncode != 0
