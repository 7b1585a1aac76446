# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one systemd sandbox (filter systemd_sandbox) and the unit templates that use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.orcaqueen.swarm.plugins.filter.systemd import SANDBOX, systemd_sandbox

REPO = Path(__file__).resolve().parents[4]


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_base_is_written_in_order_with_repeated_lines() -> None:
    out = lines(systemd_sandbox())
    assert out[0] == "NoNewPrivileges=yes"
    assert out[-1] == "UMask=0027"
    assert out.count("SystemCallFilter=@system-service") == 1
    assert "SystemCallFilter=~@privileged @resources" in out
    assert len(out) == len(SANDBOX) + 1  # SystemCallFilter has two lines


def test_overrides_replace_in_place_drop_and_append() -> None:
    out = lines(
        systemd_sandbox(
            {
                "ProtectHome": "read-only",
                "MemoryDenyWriteExecute": None,
                "DeviceAllow": ["a rw", "b rw"],
                "KeyringMode": True,
            }
        )
    )
    assert "ProtectHome=read-only" in out and "ProtectHome=yes" not in out
    assert not any(line.startswith("MemoryDenyWriteExecute=") for line in out)
    assert out[-3:] == ["DeviceAllow=a rw", "DeviceAllow=b rw", "KeyringMode=yes"]
    assert out.index("ProtectHome=read-only") < out.index("UMask=0027")


def test_restart_policy_comes_first_and_can_be_changed() -> None:
    out = lines(systemd_sandbox({"RestartSec": 10}, restart=True))
    assert out[:2] == ["Restart=on-failure", "RestartSec=10"]


@pytest.mark.parametrize(
    "bad",
    [{"lower": "x"}, {"ExecStart": "a\nExecStartPre=/bin/evil"}, {"UMask": {"x": 1}}, ["NoNewPrivileges"]],
)
def test_bad_input_is_refused(bad: object) -> None:
    with pytest.raises(AnsibleFilterError):
        systemd_sandbox(bad)


def test_no_unit_template_copies_the_sandbox() -> None:
    """The sandbox is written once: no template under roles/ spells out its settings itself."""
    copies = []
    for template in REPO.glob("roles/*/templates/*.j2"):
        text = template.read_text()
        if "SystemCallArchitectures=" in text or "ProtectKernelTunables=" in text:
            copies.append(str(template.relative_to(REPO)))
    assert not copies, f"sandbox settings spelled out instead of orcaqueen.swarm.systemd_sandbox: {copies}"


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_vllm_model_unit_renders(device: str, tmp_path: Path) -> None:
    """vLLM's model unit with the shared sandbox: GPU devices only on CUDA, no MemoryDenyWriteExecute."""
    out = tmp_path / "unit"
    playbook = tmp_path / "render.yml"
    playbook.write_text(
        f"""
- hosts: localhost
  gather_facts: false
  vars_files: [{REPO}/roles/vllm/defaults/main.yml, {REPO}/roles/vllm/vars/main.yml]
  tasks:
    - ansible.builtin.template:
        src: {REPO}/roles/vllm/templates/vllm-model.service.j2
        dest: {out}
        mode: "0644"
"""
    )
    result = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            json.dumps(
                {
                    "ansible_python_interpreter": sys.executable,
                    "_vllm_device": device,
                    "item": {"name": "chat", "model": "t/m"},
                    "_vllm_ports": {"chat": 8001},
                }
            ),
            str(playbook),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    unit = lines(out.read_text())
    assert "MemoryDenyWriteExecute=yes" not in unit
    assert "SystemCallFilter=mbind set_mempolicy get_mempolicy migrate_pages move_pages" in unit
    assert ("PrivateDevices=no" in unit) == (device == "cuda")
    assert ("DeviceAllow=char-nvidia-uvm rw" in unit) == (device == "cuda")
    assert ("PrivateDevices=yes" in unit) == (device == "cpu")
