# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vllm_sizing on the swarm's GPUs (facts parsed from the nvidia-smi fixtures) with real model shapes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.orcaqueen.swarm.plugins.filter import vllm
from ansible_collections.orcaqueen.swarm.plugins.module_utils import gpu

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gpu"
GIB = 1024**3

# Shapes from the models' config.json (num_hidden_layers, num_key_value_heads, head_dim /
# hidden_size // num_attention_heads, num_attention_heads) and their parameter counts.
LLAMA_8B = {
    "name": "Llama-3.1-8B",
    "params_b": 8.03,
    "layers": 32,
    "kv_heads": 8,
    "attention_heads": 32,
    "head_dim": 128,
    "context": 32768,
}
# Embedding + lm_head of Llama-3.1-8B (128256 x 4096, twice) stay 16-bit in AWQ checkpoints.
LLAMA_8B_AWQ = {**LLAMA_8B, "name": "Llama-3.1-8B-AWQ", "weight_bits": 4, "unquantized_params_b": 1.05, "context": 8192}
# Qwen2.5-32B: vocab 152064 x hidden 5120, untied embedding and lm_head -> 1.557B 16-bit parameters.
QWEN_32B_AWQ = {
    "name": "Qwen2.5-32B-Instruct-AWQ",
    "params_b": 32.8,
    "weight_bits": 4,
    "unquantized_params_b": 1.557,
    "layers": 64,
    "kv_heads": 8,
    "attention_heads": 40,
    "head_dim": 128,
    "context": 32768,
}
LLAMA_70B = {
    "name": "Llama-3.1-70B",
    "params_b": 70.6,
    "layers": 80,
    "kv_heads": 8,
    "attention_heads": 64,
    "head_dim": 128,
    "context": 32768,
}


def facts(name: str) -> dict[str, Any]:
    return gpu.parse_nvidia_smi_xml((FIXTURES / name).read_text())


RTX4090 = facts("nvidia-smi-q-x_rtx4090_550.xml")
RTX3080 = facts("nvidia-smi-q-x_rtx3080_535.xml")
H100 = facts("nvidia-smi-q-x_h100-sxm-mig_570.xml")
TWO_3090 = facts("nvidia-smi-q-x_2x-rtx3090_560.xml")


def test_formula_pieces() -> None:
    assert vllm.kv_bytes_per_token(32, 8, 128) == 131072  # 128 KiB per token for Llama-3.1-8B at fp16
    assert vllm.kv_bytes_per_token(32, 8, 128, 8) == 65536
    assert vllm.weights_bytes(8.03, 16) == pytest.approx(16.06e9)
    # Qwen2.5-32B-AWQ: about 19.3 GB on disk.
    assert vllm.weights_bytes(32.8, 4, 1.557) / 1e9 == pytest.approx(19.36, abs=0.05)


def test_4090_llama_8b_full_context() -> None:
    plan = vllm.vllm_sizing(RTX4090, LLAMA_8B)
    assert plan["tensor_parallel_size"] == 1 and plan["max_model_len"] == 32768
    assert plan["dtype"] == "bfloat16" and plan["quantization"] is None
    assert plan["weights_gib"] == pytest.approx(14.96, abs=0.01)
    assert plan["kv_bytes_per_token"] == 131072
    assert plan["kv_cache_tokens"] >= 32768
    # 33,427 KV tokens / 512 tokens per request (vLLM's default would be 256 and preempt under load).
    assert plan["max_num_seqs"] == 65
    # The worked example of docs/gpu.md: the driver's 346 MiB are not CUDA's to use.
    assert (plan["overhead_per_gpu_gib"], plan["kv_cache_per_gpu_gib"]) == (2.25, 4.08)


def test_4090_accepts_registered_result_shape() -> None:
    assert vllm.vllm_sizing({"gpu": RTX4090}, LLAMA_8B)["tensor_parallel_size"] == 1


def test_4090_qwen_32b_awq_reduces_context() -> None:
    plan = vllm.vllm_sizing(RTX4090, QWEN_32B_AWQ)
    # The method comes from the checkpoint's quantization_config (vLLM reads it); not guessed from 4 bits.
    assert plan["quantization"] is None and plan["dtype"] == "float16"
    assert 2048 <= plan["max_model_len"] < 32768 and plan["max_model_len"] % 256 == 0
    assert any("context reduced" in note for note in plan["notes"])


def test_4090_fp8_kv_cache_doubles_tokens() -> None:
    base = vllm.vllm_sizing(RTX4090, QWEN_32B_AWQ)
    fp8 = vllm.vllm_sizing(RTX4090, {**QWEN_32B_AWQ, "kv_cache_bits": 8})
    assert fp8["kv_cache_dtype"] == "fp8"
    assert fp8["kv_cache_tokens"] == pytest.approx(2 * base["kv_cache_tokens"], abs=2)


def test_3080_llama_8b_fp16_does_not_fit_but_awq_does() -> None:
    with pytest.raises(AnsibleFilterError) as info:
        vllm.vllm_sizing(RTX3080, LLAMA_8B)
    assert "4-bit" in str(info.value) and "RTX 3080" in str(info.value)
    plan = vllm.vllm_sizing(RTX3080, LLAMA_8B_AWQ)
    assert plan["tensor_parallel_size"] == 1 and plan["max_model_len"] == 8192
    assert plan["dtype"] == "float16" and plan["quantization"] is None


def test_h100_llama_8b_many_sequences() -> None:
    plan = vllm.vllm_sizing(H100, LLAMA_8B)
    assert plan["max_model_len"] == 32768 and plan["max_num_seqs"] > 32


def test_h100_in_mig_mode_is_sized_per_slice() -> None:
    # The fixture's H100 80GB is split into two 40,192 MiB slices: vLLM runs on one slice, never on
    # the whole card, so the plan is for one slice (tensor parallel 1) and says so.
    plan = vllm.vllm_sizing(H100, LLAMA_8B)
    assert plan["mig_slices"] == 2 and plan["tensor_parallel_size"] == 1
    assert plan["gpu_memory_gib"] == pytest.approx(40192 / 1024, abs=0.01)
    assert any("one MIG slice of 40192 MiB" in note for note in plan["notes"])
    with pytest.raises(AnsibleFilterError, match=r"MIG slice \(40192 MiB\)"):
        vllm.vllm_sizing(H100, LLAMA_70B)


def test_mig_enabled_without_slices_is_refused() -> None:
    no_slices = copy.deepcopy(H100)
    no_slices["devices"][0]["mig_devices"] = []
    with pytest.raises(AnsibleFilterError, match="MIG is enabled on NVIDIA H100 80GB HBM3 but it has no MIG slices"):
        vllm.vllm_sizing(no_slices, LLAMA_8B)


def test_70b_fp16_on_one_4090_says_what_would_fit() -> None:
    with pytest.raises(AnsibleFilterError) as info:
        vllm.vllm_sizing(RTX4090, LLAMA_70B)
    message = str(info.value)
    assert "does not fit" in message and "131.5 GiB of weights" in message
    assert "8 such GPUs at 16-bit (tensor_parallel_size 8)" in message
    assert "2 such GPUs at 4-bit" in message
    assert "No weight quantization down to 4-bit fits on this host" in message


def test_two_gpus_use_tensor_parallel_for_qwen() -> None:
    plan = vllm.vllm_sizing(TWO_3090, QWEN_32B_AWQ)
    assert plan["tensor_parallel_size"] == 2 and plan["max_model_len"] == 32768
    assert plan["weights_per_gpu_gib"] == pytest.approx(plan["weights_gib"] / 2, abs=0.01)


def test_tp_must_divide_attention_heads() -> None:
    odd = {**QWEN_32B_AWQ, "attention_heads": 7, "kv_heads": 7}
    with pytest.raises(AnsibleFilterError):
        vllm.vllm_sizing(TWO_3090, {**odd, "min_context": 32768})


@pytest.mark.parametrize(
    ("gpu_facts", "model", "message"),
    [
        (gpu.empty_facts(), LLAMA_8B, "no GPU"),
        ([], LLAMA_8B, "input must be the gpu facts"),
        (RTX4090, {"layers": 32}, "needs 'params_b'"),
        (RTX4090, {**LLAMA_8B, "layers": "32"}, "must be a number"),
        (RTX4090, "llama", "must be a dict"),
    ],
)
def test_bad_input(gpu_facts: Any, model: Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        vllm.vllm_sizing(gpu_facts, model)


def test_utilization_bounds() -> None:
    with pytest.raises(AnsibleFilterError, match="gpu_memory_utilization"):
        vllm.vllm_sizing(RTX4090, LLAMA_8B, 1.5)
    assert vllm.vllm_sizing(RTX4090, LLAMA_8B, 0.95)["gpu_memory_utilization"] == 0.95


def test_registered_as_filter() -> None:
    assert vllm.FilterModule().filters()["vllm_sizing"] is vllm.vllm_sizing
