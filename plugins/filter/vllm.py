# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""vLLM sizing from GPU facts: ``gpu_facts_result | orcaqueen.swarm.vllm_sizing(model)``.

The documentation is in ``vllm_sizing.yml`` next to this file; the formula in ``docs/gpu.md``.

    weights      = (params - unquantized) * bits/8 * (1 + scale_overhead if bits < 16) + unquantized * 2
    kv_per_token = 2 * layers * kv_heads * head_dim * kv_bytes                    (K and V)
    visible      = total - driver-reserved memory                                 (what CUDA sees)
    utilization  = min(gpu_memory_utilization, (free - MARGIN) / visible)         (vLLM's start check)
    per GPU      = visible * utilization
                   - weights/tp - (OVERHEAD_GIB + OVERHEAD_FRACTION * weights/tp)
    kv_tokens    = per GPU KV bytes / (kv_per_token / min(tp, kv_heads))
    max_num_seqs = min(256, kv_tokens / expected_request_tokens)
"""

from __future__ import annotations

import json
import re
import typing as t

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - only without ansible-core (plain unit use)

    class AnsibleFilterError(Exception):  # type: ignore[no-redef]
        """Stand-in when ansible-core is absent."""


GIB = 1024**3
MIB = 1024**2
# Runtime overhead per GPU, on top of the weights: CUDA context, cuBLAS/NCCL workspaces, CUDA
# graphs and the activation peak of vLLM's profiling run. A constant plus a fraction of the
# weights each GPU holds (activations grow with the hidden size, that is with the model).
OVERHEAD_GIB = 1.5
OVERHEAD_FRACTION = 0.05
# Quantized checkpoints (AWQ/GPTQ, group size 128) carry one 16-bit scale and one zero point per
# 128 weights: (16 + 4) / 128 bits per 4-bit weight, about 4 %.
QUANT_SCALE_OVERHEAD = 0.04
DEFAULT_GPU_MEMORY_UTILIZATION = 0.90
# Memory left free on top of what vLLM asks for, for allocations outside its pool (other processes
# growing, the CUDA context of a second process, fragmentation). vLLM refuses to start when
# gpu_memory_utilization x visible memory is more than the free memory; the plan lowers the
# utilization to (free - margin) / visible on a card other processes already use.
MEMORY_MARGIN_MIB = 512
# vLLM's own default (and the ceiling) for max_num_seqs, and the tokens (prompt plus completion) an
# average request is assumed to hold when deriving how many sequences the KV cache serves at once.
MAX_NUM_SEQS_CAP = 256
DEFAULT_REQUEST_TOKENS = 512
# max_model_len is rounded down to a multiple of this (vLLM's KV block size is 16).
CONTEXT_STEP = 256
MAX_TP = 8
# vLLM's minimum compute capability, and the minimum of the AWQ kernels.
MIN_CAPABILITY = 7.0
AWQ_MIN_CAPABILITY = 7.5
AWQ_METHODS = ("awq", "awq_marlin")

REQUIRED_MODEL_KEYS = ("params_b", "layers", "kv_heads", "head_dim")


def _number(model: dict[str, t.Any], key: str, default: t.Any = None, *, minimum: float = 0) -> t.Any:
    value = model.get(key, default)
    if value is None:
        raise AnsibleFilterError(f"vllm_sizing: model spec needs '{key}'")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= minimum:
        raise AnsibleFilterError(f"vllm_sizing: model '{key}' must be a number > {minimum}, got {value!r}")
    return value


def weights_bytes(params_b: float, bits: int, unquantized_params_b: float = 0.0) -> float:
    """Bytes of the weights: quantized part at ``bits`` (plus scales), the rest at 16 bits."""
    quantized = (params_b - unquantized_params_b) * 1e9
    size = quantized * bits / 8
    if bits < 16:
        size *= 1 + QUANT_SCALE_OVERHEAD
        return size + unquantized_params_b * 1e9 * 2
    return size + unquantized_params_b * 1e9 * bits / 8


def kv_bytes_per_token(layers: int, kv_heads: int, head_dim: int, kv_bits: int = 16) -> int:
    """KV-cache bytes one token takes over all layers: K and V, each kv_heads x head_dim."""
    return 2 * layers * kv_heads * head_dim * kv_bits // 8


def overhead_bytes(weights_per_gpu: float) -> float:
    return OVERHEAD_GIB * GIB + OVERHEAD_FRACTION * weights_per_gpu


def _gpus(facts: dict[str, t.Any]) -> dict[str, t.Any]:
    """The GPUs vLLM would run on, from gpu facts: count, the smallest one's visible and free memory
    (MiB), its name and compute capability, and the MIG slice count (0 without MIG).

    A GPU in MIG mode is sized per slice: one vLLM process runs on one slice, so tensor parallelism
    is 1 and the smallest slice's memory counts.
    """
    if isinstance(facts, dict) and "gpu" in facts and "devices" not in facts:
        facts = facts["gpu"]
    if not isinstance(facts, dict) or "devices" not in facts:
        raise AnsibleFilterError(
            "vllm_sizing: input must be the gpu facts of orcaqueen.swarm.gpu_facts (ansible_facts.gpu)"
        )
    devices = [d for d in facts["devices"] if d.get("memory_total_mib")]
    if not devices:
        raise AnsibleFilterError(
            "vllm_sizing: the host has no GPU with known memory "
            f"(source={facts.get('source')}, error={facts.get('error')}); vLLM needs a GPU with a loaded driver"
        )
    mig = [d for d in devices if d.get("mig_mode") == "Enabled"]
    if mig:
        slices = [m for d in mig for m in d.get("mig_devices") or [] if m.get("memory_total_mib")]
        if not slices:
            raise AnsibleFilterError(
                f"vllm_sizing: MIG is enabled on {mig[0].get('name') or 'the GPU'} but it has no MIG slices "
                "(nvidia-smi lists no <mig_devices>): create them (nvidia-smi mig -cgi <profiles> -C) and size "
                "one model per slice, or disable MIG (nvidia-smi -i <gpu> -mig 0) to use the whole GPU"
            )
        smallest_slice = min(slices, key=lambda m: m["memory_total_mib"])
        parent = mig[0]
        return {
            "count": 1,
            "visible_mib": float(smallest_slice["memory_total_mib"]),
            "free_mib": smallest_slice.get("memory_free_mib"),
            "name": f"{parent.get('name') or 'GPU'} MIG slice ({smallest_slice['memory_total_mib']} MiB)",
            "capability": parent.get("compute_capability"),
            "architecture": parent.get("architecture"),
            "mig_slices": len(slices),
        }

    def visible(d: dict[str, t.Any]) -> float:
        return float(d["memory_total_mib"] - (d.get("memory_reserved_mib") or 0))

    smallest = min(devices, key=visible)
    return {
        "count": len(devices),
        "visible_mib": visible(smallest),
        "free_mib": min((d["memory_free_mib"] for d in devices if d.get("memory_free_mib") is not None), default=None),
        "name": smallest.get("name") or "GPU",
        "capability": smallest.get("compute_capability"),
        "architecture": smallest.get("architecture"),
        "mig_slices": 0,
    }


def _utilization(requested: float, visible_mib: float, free_mib: float | None) -> float:
    """The utilization vLLM can start with: what was asked, or less when other processes hold memory."""
    if free_mib is None:
        return requested
    fits = (free_mib - MEMORY_MARGIN_MIB) / visible_mib
    if fits >= requested:
        return requested
    return int(fits * 100) / 100


def _check_capability(gpus: dict[str, t.Any], quantization: str | None, name: str) -> float | None:
    """The compute capability as a number; refuses cards vLLM (or the chosen kernels) cannot use."""
    capability = gpus["capability"]
    if capability is None:
        return None
    cc = float(capability)
    arch = f" ({gpus['architecture']})" if gpus.get("architecture") else ""
    if cc < MIN_CAPABILITY:
        raise AnsibleFilterError(
            f"vllm_sizing: {gpus['name']} has compute capability {capability}{arch}; vLLM needs "
            f"{MIN_CAPABILITY} (Volta) or newer. Serve {name} on another host, or on this one with vllm_device: cpu."
        )
    if quantization in AWQ_METHODS and cc < AWQ_MIN_CAPABILITY:
        raise AnsibleFilterError(
            f"vllm_sizing: {name} asks for quantization {quantization}, whose kernels need compute capability "
            f"{AWQ_MIN_CAPABILITY} (Turing) or newer; {gpus['name']} has {capability}{arch}. Use a GPTQ checkpoint "
            "(quantization: gptq) or a 16-bit model."
        )
    return cc


def _valid_tp(tp: int, attention_heads: int, kv_heads: int) -> bool:
    """TP is a power of two that divides the attention heads and is compatible with the KV heads."""
    if tp & (tp - 1):
        return False
    return attention_heads % tp == 0 and (kv_heads % tp == 0 or tp % kv_heads == 0)


def _plan(
    memory_mib: float, util: float, tp: int, weights: float, kv_token: int, kv_heads: int
) -> tuple[float, float, int]:
    """(weights per GPU, overhead per GPU, KV tokens that fit) for one tensor-parallel size."""
    budget = memory_mib * MIB * util
    per_gpu_weights = weights / tp
    overhead = overhead_bytes(per_gpu_weights)
    kv_free = budget - per_gpu_weights - overhead
    # KV heads are split over the TP ranks; with tp > kv_heads they are replicated.
    kv_token_per_gpu = kv_token / min(tp, kv_heads)
    tokens = int(kv_free // kv_token_per_gpu) if kv_free > 0 else 0
    return per_gpu_weights, overhead, tokens


def _gpus_needed(
    memory_mib: float, util: float, weights: float, kv_token: int, kv_heads: int, heads: int, need: int
) -> int | None:
    tp = 1
    while tp <= 64:
        if _valid_tp(tp, heads, kv_heads) and _plan(memory_mib, util, tp, weights, kv_token, kv_heads)[2] >= need:
            return tp
        tp *= 2
    return None


def _dtype(bits: int, cc: float | None) -> str | None:
    """--dtype: float16 for quantized weights (what their kernels take) and below compute capability 8.0
    (no bfloat16 there); bfloat16 from 8.0; left to vLLM (the model's own) when the capability is unknown."""
    if bits < 16:
        return "float16"
    if cc is None:
        return None
    return "bfloat16" if cc >= 8.0 else "float16"


def vllm_sizing(
    gpu_facts: dict[str, t.Any], model: dict[str, t.Any], gpu_memory_utilization: float | None = None
) -> dict[str, t.Any]:
    """Size a vLLM deployment of ``model`` on the GPUs described by ``gpu_facts``."""
    if not isinstance(model, dict):
        raise AnsibleFilterError("vllm_sizing: the model spec must be a dict")
    params_b = _number(model, "params_b")
    layers = int(_number(model, "layers"))
    kv_heads = int(_number(model, "kv_heads"))
    head_dim = int(_number(model, "head_dim"))
    heads = int(_number(model, "attention_heads", kv_heads))
    bits = int(_number(model, "weight_bits", 16))
    kv_bits = int(_number(model, "kv_cache_bits", 16))
    context = int(_number(model, "context", 8192))
    min_context = int(_number(model, "min_context", min(context, 2048)))
    unquantized = float(model.get("unquantized_params_b") or 0.0)
    request_tokens = int(_number(model, "expected_request_tokens", DEFAULT_REQUEST_TOKENS))
    requested = float(gpu_memory_utilization or model.get("gpu_memory_utilization") or DEFAULT_GPU_MEMORY_UTILIZATION)
    if not 0.1 <= requested <= 0.99:
        raise AnsibleFilterError(f"vllm_sizing: gpu_memory_utilization must be within 0.1..0.99, got {requested}")
    name = model.get("name", "the model")
    if min_context < CONTEXT_STEP or context < CONTEXT_STEP:
        raise AnsibleFilterError(
            f"vllm_sizing: {name}: context and min_context must be at least {CONTEXT_STEP} tokens "
            f"(got context {context}, min_context {min_context})"
        )
    quantization = model.get("quantization")
    if quantization is not None and (not isinstance(quantization, str) or not quantization.strip()):
        raise AnsibleFilterError(f"vllm_sizing: {name}: quantization must be a vLLM method name, got {quantization!r}")

    gpus = _gpus(gpu_facts)
    cc = _check_capability(gpus, quantization, name)
    count, memory_mib, gpu_name = gpus["count"], gpus["visible_mib"], gpus["name"]
    util = _utilization(requested, memory_mib, gpus["free_mib"])
    if util < 0.1:
        raise AnsibleFilterError(
            f"vllm_sizing: {gpu_name} has {gpus['free_mib']} MiB free of {memory_mib:.0f} MiB: other processes hold "
            "the GPU (nvidia-smi lists them). Stop them, or serve on another GPU."
        )
    weights = weights_bytes(params_b, bits, unquantized)
    kv_token = kv_bytes_per_token(layers, kv_heads, head_dim, kv_bits)

    chosen: tuple[int, float, float, int] | None = None
    tp = 1
    while tp <= min(count, MAX_TP):
        if _valid_tp(tp, heads, kv_heads):
            per_gpu, overhead, tokens = _plan(memory_mib, util, tp, weights, kv_token, kv_heads)
            if tokens >= min_context:
                chosen = (tp, per_gpu, overhead, tokens)
                if tokens >= context:
                    break
        tp *= 2
    if chosen is None:
        raise AnsibleFilterError(
            _no_fit_message(
                name,
                params_b,
                bits,
                unquantized,
                kv_token,
                kv_heads,
                heads,
                count,
                memory_mib,
                gpu_name,
                util,
                weights,
                min_context,
            )
        )
    tp, per_gpu, overhead, tokens = chosen
    max_model_len = min(context, tokens // CONTEXT_STEP * CONTEXT_STEP)
    max_num_seqs = max(1, min(MAX_NUM_SEQS_CAP, tokens // request_tokens))
    notes = []
    if util < requested:
        notes.append(
            f"gpu_memory_utilization lowered from {requested} to {util}: only {gpus['free_mib']} MiB of "
            f"{memory_mib:.0f} MiB are free (other processes), and {MEMORY_MARGIN_MIB} MiB stay free"
        )
    if gpus["mig_slices"]:
        notes.append(f"sized for one MIG slice of {memory_mib:.0f} MiB ({gpus['mig_slices']} slices on this host)")
    if max_model_len < context:
        notes.append(f"context reduced from {context} to {max_model_len} tokens: the KV cache holds {tokens} tokens")
    if kv_bits >= 16 and max_model_len < context:
        notes.append("kv_cache_bits: 8 (kv_cache_dtype fp8) doubles the tokens the cache holds")
    return {
        "tensor_parallel_size": tp,
        "gpu_memory_utilization": util,
        "max_model_len": max_model_len,
        "max_num_seqs": max_num_seqs,
        "dtype": _dtype(bits, cc),
        # The checkpoint's own quantization_config tells vLLM the method; only the operator overrides it.
        "quantization": quantization,
        "kv_cache_dtype": "auto" if kv_bits >= 16 else "fp8",
        "gpus_used": tp,
        "gpus_available": count,
        "mig_slices": gpus["mig_slices"],
        "gpu_memory_gib": round(memory_mib * MIB / GIB, 2),
        "weights_gib": round(weights / GIB, 2),
        "weights_per_gpu_gib": round(per_gpu / GIB, 2),
        "overhead_per_gpu_gib": round(overhead / GIB, 2),
        "kv_cache_per_gpu_gib": round((memory_mib * MIB * util - per_gpu - overhead) / GIB, 2),
        "kv_bytes_per_token": kv_token,
        "kv_cache_tokens": tokens,
        "expected_request_tokens": request_tokens,
        "notes": notes,
    }


def _no_fit_message(
    name: str,
    params_b: float,
    bits: int,
    unquantized: float,
    kv_token: int,
    kv_heads: int,
    heads: int,
    count: int,
    memory_mib: float,
    gpu_name: str,
    util: float,
    weights: float,
    min_context: int,
) -> str:
    usable = memory_mib * MIB * util / GIB
    parts = [
        f"vllm_sizing: {name} ({params_b}B parameters at {bits}-bit, {weights / GIB:.1f} GiB of weights) "
        f"does not fit with {min_context} tokens of context on {count} x {gpu_name} "
        f"({memory_mib * MIB / GIB:.1f} GiB, {usable:.1f} GiB usable at gpu_memory_utilization {util})."
    ]
    options = []
    fits_here: int | None = None
    for try_bits in (16, 8, 4):
        if try_bits > bits:
            continue
        try_weights = weights_bytes(params_b, try_bits, unquantized)
        needed = _gpus_needed(memory_mib, util, try_weights, kv_token, kv_heads, heads, min_context)
        if needed is None:
            continue
        options.append(
            f"{needed} such GPU{'s' if needed > 1 else ''} at {try_bits}-bit (tensor_parallel_size {needed})"
        )
        if fits_here is None and try_bits < bits and needed <= count:
            fits_here = try_bits
    if fits_here is not None:
        kind = "an FP8/INT8" if fits_here == 8 else "a 4-bit AWQ/GPTQ"
        parts.append(f"It fits on this host with {fits_here}-bit weights ({kind} checkpoint).")
    else:
        parts.append("No weight quantization down to 4-bit fits on this host.")
    if options:
        parts.append("It would fit on " + ", or ".join(options) + ".")
    return " ".join(parts)


# ---- serving arguments -------------------------------------------------------------------------
# Options the role sets itself and a model's `args` may not override: where vLLM listens (loopback,
# behind the TLS proxy), its key (a file read by the launcher, never argv) and what it serves.
RESERVED_ARGS = frozenset(
    {"host", "port", "api-key", "model", "served-model-name", "uds", "ssl-keyfile", "ssl-certfile", "root-path"}
)
ARG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SERVED_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TASKS = ("generate", "embed")
DEVICES = ("cuda", "cpu")
CPU_DEFAULT_CONTEXT = 2048
# Options whose meaning the filter checks: an abbreviation of one (argparse accepts unique
# prefixes, so `--hos 0.0.0.0` would override `--host 127.0.0.1`) is refused too.
GUARDED_ARGS = RESERVED_ARGS | {"tensor-parallel-size", "pipeline-parallel-size", "distributed-executor-backend"}
# Plan keys of vllm_sizing that become engine arguments (written first, sorted by name).
PLAN_ARGS = (
    ("tensor_parallel_size", "tensor-parallel-size"),
    ("gpu_memory_utilization", "gpu-memory-utilization"),
    ("max_model_len", "max-model-len"),
    ("max_num_seqs", "max-num-seqs"),
    ("dtype", "dtype"),
    ("quantization", "quantization"),
    ("kv_cache_dtype", "kv-cache-dtype"),
)


def _arg_value(name: str, value: t.Any) -> list[str]:
    """argv items of one option: a flag for True, nothing for False/None, repeated for a list."""
    if value is None or value is False:
        return []
    if value is True:
        return [f"--{name}"]
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for item in value:
            out += _arg_value(name, item)
        return out
    if isinstance(value, dict):
        return [f"--{name}", json.dumps(value, sort_keys=True, separators=(",", ":"))]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return [f"--{name}", str(value)]


def vllm_serve_args(
    model: dict[str, t.Any],
    plan: dict[str, t.Any] | None = None,
    device: str = "cuda",
    port: int = 8100,
    host: str = "127.0.0.1",
) -> list[str]:
    """argv (after the interpreter and ``-m vllm.entrypoints.openai.api_server``) for one model.

    ``model`` is an entry of ``vllm_models``; ``plan`` the result of :func:`vllm_sizing` on the host
    (GPU hosts), or None (CPU hosts, or a model whose serving arguments are all given). Precedence,
    lowest first: the plan, the model's own keys (``max_model_len``, ``dtype``, ...), ``args``.
    """
    if not isinstance(model, dict):
        raise AnsibleFilterError("vllm_serve_args: a model must be a dict")
    name = model.get("name")
    source = model.get("model")
    if not isinstance(name, str) or not SERVED_NAME.match(name):
        raise AnsibleFilterError(
            f"vllm_serve_args: model name {name!r} must match {SERVED_NAME.pattern} "
            "(it names the unit and the URL path)"
        )
    if not isinstance(source, str) or not source.strip():
        raise AnsibleFilterError(f"vllm_serve_args: model {name}: 'model' (a model id or a local path) is required")
    task = model.get("task", "generate")
    if task not in TASKS:
        raise AnsibleFilterError(f"vllm_serve_args: model {name}: task must be one of {', '.join(TASKS)}, got {task!r}")
    if device not in DEVICES:
        raise AnsibleFilterError(f"vllm_serve_args: device must be one of {', '.join(DEVICES)}, got {device!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise AnsibleFilterError(f"vllm_serve_args: model {name}: port must be 1..65535, got {port!r}")
    extra = model.get("args") or {}
    if not isinstance(extra, dict):
        raise AnsibleFilterError(f"vllm_serve_args: model {name}: args must be a dict of option -> value")
    for key in extra:
        if not isinstance(key, str) or not ARG_NAME.match(key):
            raise AnsibleFilterError(
                f"vllm_serve_args: model {name}: option {key!r} must be written like vLLM's CLI without dashes "
                "(e.g. enforce-eager)"
            )
        if key in RESERVED_ARGS:
            raise AnsibleFilterError(
                f"vllm_serve_args: model {name}: '{key}' is set by the role (loopback bind, key file, served name) "
                "and cannot be overridden"
            )
        abbreviated = sorted(g for g in GUARDED_ARGS if g != key and g.startswith(key))
        if abbreviated:
            raise AnsibleFilterError(
                f"vllm_serve_args: model {name}: option '{key}' abbreviates {', '.join(abbreviated)}; "
                "write vLLM options in full (the role's own options cannot be overridden)"
            )
    for key in ("tensor-parallel-size", "pipeline-parallel-size"):
        if extra.get(key) is not None:
            value = extra[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AnsibleFilterError(f"vllm_serve_args: model {name}: {key} must be an integer >= 1, got {value!r}")
    if plan is not None and not isinstance(plan, dict):
        raise AnsibleFilterError(f"vllm_serve_args: model {name}: plan must be the dict of vllm_sizing or None")

    settings: dict[str, t.Any] = {}
    if plan:
        for plan_key, arg in PLAN_ARGS:
            if plan.get(plan_key) is not None:
                settings[arg] = plan[plan_key]
        if settings.get("kv-cache-dtype") == "auto":
            del settings["kv-cache-dtype"]
    if device == "cpu":
        for gpu_only in ("tensor-parallel-size", "gpu-memory-utilization", "quantization", "kv-cache-dtype"):
            settings.pop(gpu_only, None)
        settings.setdefault("max-model-len", CPU_DEFAULT_CONTEXT)
    for key in ("max_model_len", "dtype", "max_num_seqs", "quantization", "tensor_parallel_size", "revision"):
        if model.get(key) is not None:
            settings[key.replace("_", "-")] = model[key]
    pp = int(extra.get("pipeline-parallel-size", 1) or 1)
    tp = int(extra.get("tensor-parallel-size", settings.get("tensor-parallel-size", 1)) or 1)
    if device == "cpu" and tp > 1:
        raise AnsibleFilterError(f"vllm_serve_args: model {name}: tensor parallel needs GPUs (this host serves on CPU)")
    if pp > 1 and extra.get("distributed-executor-backend") != "ray":
        raise AnsibleFilterError(
            f"vllm_serve_args: model {name}: pipeline-parallel-size {pp} spans hosts and needs "
            "distributed-executor-backend: ray (a Ray cluster joined by every host of the group; docs/vllm.md)"
        )
    settings.update(extra)

    argv = ["--model", source, "--served-model-name", name, "--host", host, "--port", str(port)]
    if task == "embed":
        argv += ["--runner", "pooling", "--convert", "embed"]
    for key in sorted(settings, key=lambda k: (k not in dict(PLAN_ARGS).values(), k)):
        argv += _arg_value(key, settings[key])
    return argv


class FilterModule:
    """orcaqueen.swarm filters for vLLM."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"vllm_sizing": vllm_sizing, "vllm_serve_args": vllm_serve_args}
