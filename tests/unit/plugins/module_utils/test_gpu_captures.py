# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""gpu_facts' parser and vllm_sizing on real nvidia-smi captures (tests/unit/fixtures/gpu/captures/,
sources in SOURCES.md there): datacenter, workstation and GeForce cards, drivers 384 to 595, MIG,
busy cards and the captures' own oddities."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.orcaqueen.swarm.plugins.filter import vllm
from ansible_collections.orcaqueen.swarm.plugins.module_utils import gpu

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gpu" / "captures"
LLAMA_8B = {"name": "Llama-3.1-8B", "params_b": 8.03, "layers": 32, "kv_heads": 8, "attention_heads": 32,
            "head_dim": 128, "context": 32768}
QWEN_05B = {"name": "Qwen2.5-0.5B", "params_b": 0.49, "layers": 24, "kv_heads": 2, "attention_heads": 14,
            "head_dim": 64, "context": 8192}


def capture(name: str) -> dict[str, Any]:
    return gpu.parse_nvidia_smi_xml((CAPTURES / f"nvidia-smi-q-x_{name}.xml").read_bytes())


def test_every_capture_parses() -> None:
    files = sorted(CAPTURES.glob("nvidia-smi-q-x_*.xml"))
    assert len(files) >= 15
    for path in files:
        facts = gpu.parse_nvidia_smi_xml(path.read_bytes())
        assert facts["count"] >= 1, path.name
        assert all(d["name"] for d in facts["devices"]), path.name


# ---- compute capability: nvidia-smi's architecture first, the name table last ------------------
@pytest.mark.parametrize(
    ("name", "capability", "source", "architecture"),
    [
        # product_architecture reported (drivers 450+): the table agrees with it.
        ("tesla-t4_515.105.01", "7.5", "product name", "Turing"),
        ("rtx-4000-sff-ada_595.84", "8.9", "product name", "Ada Lovelace"),
        ("rtx-pro-6000-blackwell-maxq_590.44.01", "12.0", "product name", "Blackwell"),
        ("tesla-p100-pcie-16gb_510.47.03", "6.0", "product name", "Pascal"),
        ("quadro-p2000_525.125.06", "6.1", "product name", "Pascal"),
        # No product_architecture (old drivers): the table alone.
        ("tesla-v100-sxm3-32gb_410.104", "7.0", "product name", "Volta"),
        ("4x-tesla-k80_430.26", "3.7", "product name", "Kepler"),
        ("2x-rtx-2080-ti_410.73", "7.5", "product name", "Turing"),
        ("gt-1030_470.74", "6.1", "product name", "Pascal"),
        # A card the driver itself did not know ("Graphics Device"): unknown, not guessed.
        ("gtx-1660-ti_418.43", None, None, None),
    ],
)
def test_capability(name: str, capability: str | None, source: str | None, architecture: str | None) -> None:
    device = capture(name)["devices"][0]
    assert (device["compute_capability"], device["compute_capability_source"], device["architecture"]) == (
        capability,
        source,
        architecture,
    )


def test_architecture_beats_a_disagreeing_table() -> None:
    # "Quadro RTX 5000" once matched the table's RTX 50x0 (Blackwell, 12.0) and overrode Turing.
    assert gpu.make_device(0, "Quadro RTX 5000", architecture="Turing")["compute_capability"] == "7.5"
    # A name the table maps elsewhere: the reported architecture wins, with its lowest capability.
    device = gpu.make_device(0, "NVIDIA GeForce RTX 5090", architecture="Turing")
    assert (device["compute_capability"], device["compute_capability_source"], device["architecture"]) == (
        "7.5",
        "architecture",
        "Turing",
    )
    # A name not in the table at all.
    assert gpu.make_device(0, "NVIDIA Future Card", architecture="Hopper")["compute_capability"] == "9.0"
    # NVML's own capability is never replaced.
    assert gpu.make_device(0, "Tesla T4", compute_capability="7.5")["compute_capability_source"] == "driver"


@pytest.mark.parametrize(
    ("name", "minimum"),
    [("tesla-p100-pcie-16gb_510.47.03", "6.0 (Pascal)"), ("4x-tesla-k80_430.26", "3.7 (Kepler)"),
     ("quadro-p2000_525.125.06", "6.1 (Pascal)")],
)
def test_cards_below_vllms_minimum_are_refused(name: str, minimum: str) -> None:
    with pytest.raises(AnsibleFilterError) as info:
        vllm.vllm_sizing(capture(name), QWEN_05B)
    assert f"has compute capability {minimum}; vLLM needs 7.0 (Volta) or newer" in str(info.value)


def test_dtype_follows_the_capability() -> None:
    # Volta and Turing have no bfloat16: float16. Ampere and later: bfloat16. Unknown: vLLM decides.
    assert vllm.vllm_sizing(capture("tesla-v100-sxm3-32gb_410.104"), LLAMA_8B)["dtype"] == "float16"
    assert vllm.vllm_sizing(capture("tesla-t4_515.105.01"), QWEN_05B)["dtype"] == "float16"
    assert vllm.vllm_sizing(capture("rtx-4090_535.86.05"), LLAMA_8B)["dtype"] == "bfloat16"
    assert vllm.vllm_sizing(capture("gtx-1660-ti_418.43"), {**QWEN_05B, "context": 2048})["dtype"] is None


def test_awq_needs_turing() -> None:
    v100 = capture("tesla-v100-sxm3-32gb_410.104")
    with pytest.raises(AnsibleFilterError, match=r"awq_marlin, whose kernels need compute capability 7\.5"):
        vllm.vllm_sizing(v100, {**LLAMA_8B, "weight_bits": 4, "quantization": "awq_marlin"})
    plan = vllm.vllm_sizing(capture("tesla-t4_515.105.01"), {**LLAMA_8B, "weight_bits": 4, "quantization": "awq"})
    assert plan["quantization"] == "awq" and plan["dtype"] == "float16"


def test_quantization_is_not_guessed_from_bits() -> None:
    # GPTQ, compressed-tensors and FP8 checkpoints name their method in config.json; vLLM reads it.
    plan = vllm.vllm_sizing(capture("rtx-4090_535.86.05"), {**LLAMA_8B, "weight_bits": 8})
    assert plan["quantization"] is None
    plan = vllm.vllm_sizing(capture("rtx-4090_535.86.05"), {**LLAMA_8B, "weight_bits": 4})
    assert plan["quantization"] is None and plan["dtype"] == "float16"


# ---- MIG ---------------------------------------------------------------------------------------
def test_a100_mig_slices_are_facts_and_sizing_is_per_slice() -> None:
    facts = capture("a100-sxm4-40gb-mig_510.47.03")
    (device,) = facts["devices"]
    assert device["mig_mode"] == "Enabled"
    assert [s["memory_total_mib"] for s in device["mig_devices"]] == [19968, 19968]
    plan = vllm.vllm_sizing(facts, LLAMA_8B)
    assert plan["mig_slices"] == 2 and plan["tensor_parallel_size"] == 1
    assert plan["gpu_memory_gib"] == pytest.approx(19968 / 1024, abs=0.01)
    # 15 GiB of weights leave a small cache in a 19.5 GiB slice: the context shrinks and the note says why.
    assert plan["max_model_len"] < 32768
    assert any("one MIG slice of 19968 MiB" in note for note in plan["notes"])


def test_mig_enabled_without_slices_is_refused() -> None:
    facts = copy.deepcopy(capture("a100-sxm4-40gb-mig_510.47.03"))
    facts["devices"][0]["mig_devices"] = []
    with pytest.raises(AnsibleFilterError, match="MIG is enabled on NVIDIA A100-SXM4-40GB but it has no MIG slices"):
        vllm.vllm_sizing(facts, QWEN_05B)


# ---- memory: reserved by the driver, used by other processes -----------------------------------
def test_reserved_memory_is_not_cudas() -> None:
    facts = capture("rtx-4090_535.86.05")
    (device,) = facts["devices"]
    assert (device["memory_total_mib"], device["memory_reserved_mib"]) == (24564, 346)
    plan = vllm.vllm_sizing(facts, LLAMA_8B)
    assert plan["gpu_memory_gib"] == pytest.approx((24564 - 346) / 1024, abs=0.01)
    # The plan's own formula holds with what CUDA sees: the cache holds the context it emits.
    assert plan["kv_cache_tokens"] >= plan["max_model_len"]


def test_a_busy_card_lowers_the_utilization() -> None:
    # 31,531 MiB free of 97,887 (another process holds the rest): vLLM would refuse 0.9 at start.
    facts = capture("rtx-pro-6000-blackwell-maxq_590.44.01")
    plan = vllm.vllm_sizing(facts, LLAMA_8B)
    visible = 97887 - 637
    assert plan["gpu_memory_utilization"] == int((31531 - vllm.MEMORY_MARGIN_MIB) / visible * 100) / 100
    assert plan["gpu_memory_utilization"] * visible <= 31531 - vllm.MEMORY_MARGIN_MIB
    assert any("gpu_memory_utilization lowered from 0.9" in note for note in plan["notes"])


def test_a_card_held_by_others_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="660 MiB free of 9843 MiB: other processes hold the GPU"):
        vllm.vllm_sizing(capture("rtx-3080_595.58.03"), QWEN_05B)


# ---- concurrency ----------------------------------------------------------------------------------
def test_max_num_seqs_from_kv_capacity() -> None:
    plan = vllm.vllm_sizing(capture("rtx-4090_535.86.05"), LLAMA_8B)
    assert plan["max_num_seqs"] == plan["kv_cache_tokens"] // 512 > 32
    fewer = vllm.vllm_sizing(capture("rtx-4090_535.86.05"), {**LLAMA_8B, "expected_request_tokens": 4096})
    assert fewer["max_num_seqs"] == fewer["kv_cache_tokens"] // 4096
    small = vllm.vllm_sizing(capture("tesla-t4_515.105.01"), QWEN_05B)
    assert small["max_num_seqs"] == 256  # vLLM's default is the ceiling


def test_min_context_under_one_step_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="at least 256 tokens"):
        vllm.vllm_sizing(capture("tesla-t4_515.105.01"), {**QWEN_05B, "min_context": 100})


# ---- robustness ----------------------------------------------------------------------------------
def test_non_utf8_process_name_keeps_every_gpu() -> None:
    raw = (CAPTURES / "nvidia-smi-q-x_tesla-t4_515.105.01.xml").read_bytes()
    start = raw.index(b"<process_name>") + len(b"<process_name>")
    broken = raw[:start] + b"py\xff\xfethon" + raw[start:]
    # As bytes, and as Ansible hands command output over (surrogateescape).
    for output in (broken, broken.decode("utf-8", errors="surrogateescape")):
        facts = gpu.parse_nvidia_smi_xml(output)
        assert facts["count"] == 1 and facts["devices"][0]["name"] == "Tesla T4"


def test_cuda_version_not_found_is_none() -> None:
    assert capture("4x-tesla-k80_430.26")["cuda_driver_version"] is None


def test_attached_gpus_must_match_what_is_described() -> None:
    # The capture says 4 attached GPUs and describes one (its repository trimmed it): that is what a
    # lost GPU looks like too, and it is reported.
    facts = capture("a100-sxm4-80gb_535.54.03")
    assert facts["count"] == 1 and facts["nvidia_unusable"] is True
    assert "reports 4 attached GPU(s) but describes 1" in facts["error"]
    assert capture("6x-gtx-1070_384.66")["error"] is None


def test_cards_a_few_mib_apart_are_homogeneous() -> None:
    facts = capture("6x-gtx-1070_384.66")
    assert {d["memory_total_mib"] for d in facts["devices"]} == {8112, 8114}
    assert facts["homogeneous"] is True


def test_gpu_is_lost_message() -> None:
    text = (CAPTURES / "nvidia-smi_error-gpu-is-lost.txt").read_text()
    message = gpu.parse_nvidia_smi_failure(15, text, "")
    assert "GPU is lost" in message and "fell off the bus" in message


def test_timeout_message() -> None:
    assert "did not answer within the module's timeout" in gpu.parse_nvidia_smi_failure(124, "", "")


def test_no_memory_section_is_none() -> None:
    (device,) = capture("gt-730_384.111")["devices"]
    assert device["memory_total_mib"] is None and device["memory_free_mib"] is None
