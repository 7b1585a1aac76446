# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The component role's preflight entry points, run by ansible-playbook on localhost (nothing to change).

- ``web_password_preflight``: a role without its web password fails before anything changes, with a message that
  names the Vault path of the service matrix (a path moved in the matrix moves the message), and never shows a
  password that is too short.
- ``install_preflight``: an archive install without its checksum fails with the variable to set.
- ``release_preflight``: a source and sha256 given per machine architecture serve the host's machine; a mapping
  without the host's machine fails before anything changes, naming the machine and the entries there are.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.orcaqueen.swarm.plugins.module_utils import _service_matrix as sm
from support import REPO_ROOT

ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def _run(
    tmp_path: Path, entry_point: str, name: str, extra: dict[str, Any], facts: bool = False
) -> subprocess.CompletedProcess[str]:
    play = [
        {
            "hosts": "localhost",
            "gather_facts": facts,
            "gather_subset": ["min"],
            "tasks": [
                {
                    "name": "Entry point",
                    "ansible.builtin.import_role": {
                        "name": "orcaqueen.swarm.component",
                        "tasks_from": entry_point,
                        "rolespec_validate": False,
                    },
                    "vars": {"_component_name": name},
                }
            ],
        }
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play), encoding="utf-8")
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps({"ansible_python_interpreter": sys.executable, **extra}), encoding="utf-8")
    env = dict(
        os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_STRATEGY="linear"
    )
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(playbook), "-e", f"@{extra_file}"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("name", ["node_exporter", "alertmanager", "blackbox_exporter", "gpu_exporter"])
def test_missing_web_password_names_the_matrix_path(tmp_path: Path, name: str) -> None:
    run = _run(tmp_path, "web_password_preflight", name, {})
    assert run.returncode != 0
    assert f"{name}_web_password is not set" in run.stdout
    assert f"secret/swarm/{name}/web key password" in run.stdout


def test_short_web_password_is_refused_and_never_shown(tmp_path: Path) -> None:
    short = "Sh0rt-" + os.urandom(2).hex()  # 10 characters
    run = _run(tmp_path, "web_password_preflight", "node_exporter", {"node_exporter_web_password": short})
    assert run.returncode != 0 and "is not set (or shorter than 12 characters)" in run.stdout
    assert short not in run.stdout + run.stderr
    ok = _run(tmp_path, "web_password_preflight", "node_exporter", {"node_exporter_web_password": short + "xy"})
    assert ok.returncode == 0, ok.stdout[-3000:]


def test_the_message_follows_a_path_moved_in_the_matrix(tmp_path: Path) -> None:
    matrix = copy.deepcopy(sm.default_matrix())
    entry = next(e for e in matrix if e["service"] == "node_exporter")
    entry["secrets"][0]["path"] = "swarm/node_exporter/basic_auth"
    run = _run(tmp_path, "web_password_preflight", "node_exporter", {"swarm_service_matrix": matrix})
    assert run.returncode != 0
    assert "secret/swarm/node_exporter/basic_auth key password" in run.stdout


def test_archive_install_without_checksum_is_refused(tmp_path: Path) -> None:
    settings = {
        "node_exporter_install_method": "archive",
        "node_exporter_install_dir": "/opt/node_exporter",
        "node_exporter_version": "1.8.2",
        "node_exporter_archive_src": "/srv/node_exporter-1.8.2.linux-amd64.tar.gz",
        "node_exporter_archive_sha256": "",
    }
    run = _run(tmp_path, "install_preflight", "node_exporter", settings)
    assert run.returncode != 0 and "node_exporter_archive_sha256 (64 lower-case hex digits" in run.stdout
    settings["node_exporter_archive_sha256"] = "a" * 64
    assert _run(tmp_path, "install_preflight", "node_exporter", settings).returncode == 0


def _release(src: Any, sha256: Any) -> dict[str, Any]:
    return {
        "vault_agent_install_dir": "/opt/vault-agent",
        "vault_agent_version": "2.4.1",
        "vault_agent_binary_src": src,
        "vault_agent_binary_sha256": sha256,
        "_component_install_dir": "{{ vault_agent_install_dir }}",
        "_component_version": "{{ vault_agent_version }}",
        "_component_src": "{{ vault_agent_binary_src }}",
        "_component_src_var": "vault_agent_binary_src",
        "_component_sha256": "{{ vault_agent_binary_sha256 }}",
        "_component_sha256_var": "vault_agent_binary_sha256",
    }


def test_release_per_machine_serves_this_host(tmp_path: Path) -> None:
    here, other = platform.machine(), "riscv64"
    settings = _release(
        {here: "/srv/bao-here.tar.gz", other: "/srv/bao-other.tar.gz"}, {here: "b" * 64, other: "c" * 64}
    )
    run = _run(tmp_path, "release_preflight", "vault_agent", settings, facts=True)
    assert run.returncode == 0, run.stdout[-3000:]


def test_release_per_machine_without_this_host_is_refused(tmp_path: Path) -> None:
    settings = _release({"riscv64": "/srv/bao-other.tar.gz"}, {"riscv64": "c" * 64})
    run = _run(tmp_path, "release_preflight", "vault_agent", settings, facts=True)
    assert run.returncode != 0
    assert f"vault_agent_binary_src has no entry for {platform.machine()} (entries: riscv64)" in run.stdout


def test_release_without_checksum_names_the_variable(tmp_path: Path) -> None:
    run = _run(tmp_path, "release_preflight", "vault_agent", _release("/srv/bao", ""), facts=True)
    assert run.returncode != 0
    assert "vault_agent_binary_sha256 64 lower-case hex digits" in run.stdout
