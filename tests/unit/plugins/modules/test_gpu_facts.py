# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""orcaqueen.swarm.gpu_facts run as Ansible runs it (`python gpu_facts.py args.json`).

No GPU here: the NVIDIA tools are replaced by scripts that print the fixture files (the tools'
documented output, see docs/gpu.md) with the tools' exit codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import support
from ansible_collections.orcaqueen.swarm.plugins.modules import gpu_facts as module

MODULE_PATH = Path(module.__file__)
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gpu"


def run_module(tmp_path: Path, collections_root: Path, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    """Run the module the way Ansible does: `python module.py args.json` (tests/support.py)."""
    assert collections_root == support.COLLECTIONS_ROOT
    return support.run_module(MODULE_PATH, tmp_path, args, check)


def tool(tmp_path: Path, name: str, fixture: str, rc: int = 0) -> str:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\ncat '{FIXTURES / fixture}'\nexit {rc}\n")
    script.chmod(0o755)
    return str(script)


def test_this_host_without_gpu(tmp_path: Path, collections_root: Path) -> None:
    """The real module on this machine (no GPU, no driver): a fact, never a failure."""
    result = run_module(tmp_path, collections_root, {}, check=True)
    assert result.get("failed") is not True and result["changed"] is False
    facts = result["ansible_facts"]["gpu"]
    assert facts["count"] == 0 and facts["vendor"] == "none"
    assert facts["source"] in ("none", "lspci", "nvml")
    assert facts["machine"]


def test_nvidia_smi_4090(tmp_path: Path, collections_root: Path) -> None:
    smi = tool(tmp_path, "nvidia-smi", "nvidia-smi-q-x_rtx4090_550.xml")
    result = run_module(tmp_path, collections_root, {"sources": ["nvidia-smi"], "nvidia_smi_path": smi})
    facts = result["ansible_facts"]["gpu"]
    assert facts["source"] == "nvidia-smi" and facts["count"] == 1
    assert facts["devices"][0]["memory_total_mib"] == 24564


def test_mismatch_falls_back_to_lspci_and_keeps_the_error(tmp_path: Path, collections_root: Path) -> None:
    smi = tool(tmp_path, "nvidia-smi", "nvidia-smi_driver-mismatch.txt", rc=18)
    lspci = tool(tmp_path, "lspci", "lspci-nn_rtx4090.txt")
    result = run_module(
        tmp_path, collections_root, {"sources": ["nvidia-smi", "lspci"], "nvidia_smi_path": smi, "lspci_path": lspci}
    )
    assert result.get("failed") is not True
    facts = result["ansible_facts"]["gpu"]
    assert facts["source"] == "lspci" and facts["count"] == 1 and facts["driver_loaded"] is False
    assert "Driver/library version mismatch" in facts["error"]
    # A GPU host whose driver fails must not pass for a CPU host (site.yml stops on this fact).
    assert facts["nvidia_unusable"] is True


def test_no_driver_without_lspci(tmp_path: Path, collections_root: Path) -> None:
    smi = tool(tmp_path, "nvidia-smi", "nvidia-smi_no-driver.txt", rc=9)
    result = run_module(tmp_path, collections_root, {"sources": ["nvidia-smi"], "nvidia_smi_path": smi})
    facts = result["ansible_facts"]["gpu"]
    assert facts["source"] == "nvidia-smi" and facts["count"] == 0 and "not loaded" in facts["error"]
    assert facts["nvidia_unusable"] is True


def test_aarch64_lspci_only(tmp_path: Path, collections_root: Path) -> None:
    lspci = tool(tmp_path, "lspci", "lspci-nnk_aarch64-kvm.txt")
    result = run_module(tmp_path, collections_root, {"sources": ["lspci"], "lspci_path": lspci})
    facts = result["ansible_facts"]["gpu"]
    assert facts["source"] == "lspci" and facts["count"] == 0 and facts["error"] is None
    assert facts["nvidia_unusable"] is False and facts["lspci_available"] is True


def test_bad_xml_is_an_error_fact(tmp_path: Path, collections_root: Path) -> None:
    script = tmp_path / "nvidia-smi"
    script.write_text("#!/bin/sh\necho 'not xml'\n")
    script.chmod(0o755)
    result = run_module(tmp_path, collections_root, {"sources": ["nvidia-smi"], "nvidia_smi_path": str(script)})
    assert result.get("failed") is not True
    assert "no valid XML" in result["ansible_facts"]["gpu"]["error"]


def test_nvidia_card_without_driver_is_unusable(tmp_path: Path, collections_root: Path) -> None:
    lspci = tool(tmp_path, "lspci", "lspci-nnk_rtx3080-no-driver.txt")
    result = run_module(tmp_path, collections_root, {"sources": ["lspci"], "lspci_path": lspci})
    facts = result["ansible_facts"]["gpu"]
    assert facts["count"] == 1 and facts["driver_loaded"] is False and facts["nvidia_unusable"] is True


def test_gpu_is_lost(tmp_path: Path, collections_root: Path) -> None:
    smi = tool(tmp_path, "nvidia-smi", "captures/nvidia-smi_error-gpu-is-lost.txt", rc=15)
    result = run_module(tmp_path, collections_root, {"sources": ["nvidia-smi"], "nvidia_smi_path": smi})
    facts = result["ansible_facts"]["gpu"]
    assert "GPU is lost" in facts["error"] and facts["nvidia_unusable"] is True


def test_hung_nvidia_smi_times_out(tmp_path: Path, collections_root: Path) -> None:
    script = tmp_path / "nvidia-smi"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    args = {"sources": ["nvidia-smi"], "nvidia_smi_path": str(script), "timeout": 1}
    facts = run_module(tmp_path, collections_root, args)["ansible_facts"]["gpu"]
    assert "did not answer within the module's timeout (rc=124" in facts["error"]


def test_a_given_path_that_does_not_exist_fails(tmp_path: Path, collections_root: Path) -> None:
    result = run_module(tmp_path, collections_root, {"nvidia_smi_path": str(tmp_path / "absent")})
    assert result.get("failed") is True
    assert "nvidia_smi_path" in result["msg"] and "does not exist" in result["msg"]
