# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vllm_serve_args: the sizing of vllm_sizing (on the swarm's GPU fixtures) rendered as vLLM's argv."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.orcaqueen.swarm.plugins.filter import vllm

# Model shapes and GPU facts of test_vllm.py (pytest puts this directory on sys.path).
from test_vllm import LLAMA_8B, QWEN_32B_AWQ, RTX4090, TWO_3090

LLAMA_8B_SPEC = {**LLAMA_8B, "name": "llama-8b"}
QWEN_32B_AWQ_SPEC = {**QWEN_32B_AWQ, "name": "qwen-32b"}
LLAMA = {"name": "llama-8b", "model": "meta-llama/Llama-3.1-8B-Instruct"}
QWEN = {"name": "qwen-32b", "model": "Qwen/Qwen2.5-32B-Instruct-AWQ"}
HEAD = ["--host", "127.0.0.1", "--port", "8100"]
HEAD_LLAMA = ["--model", LLAMA["model"], "--served-model-name", "llama-8b", *HEAD]
HEAD_QWEN = ["--model", QWEN["model"], "--served-model-name", "qwen-32b", *HEAD]


def plan_4090_llama() -> dict[str, Any]:
    return vllm.vllm_sizing(RTX4090, LLAMA_8B_SPEC)


def test_fixtures_are_the_gpus_the_argv_is_sized_for() -> None:
    assert [(d["name"], d["memory_total_mib"]) for d in RTX4090["devices"]] == [("NVIDIA GeForce RTX 4090", 24564)]
    assert [d["memory_total_mib"] for d in TWO_3090["devices"]] == [24576, 24576]


# ---- sizing -> argv ----------------------------------------------------------------------------


def engine(dtype: str, length: int, seqs: int, tp: int, quantization: str = "", kv_cache: str = "") -> list[str]:
    """The engine part of the argv, in the filter's order (plan options sorted by name)."""
    argv = ["--dtype", dtype, "--gpu-memory-utilization", "0.9"]
    argv += ["--kv-cache-dtype", kv_cache] if kv_cache else []
    argv += ["--max-model-len", str(length), "--max-num-seqs", str(seqs)]
    argv += ["--quantization", quantization] if quantization else []
    return [*argv, "--tensor-parallel-size", str(tp)]


@pytest.mark.parametrize(
    ("gpus", "model", "spec", "expected"),
    [
        # Llama-3.1-8B at 16 bit holds its whole 32k context on one RTX 4090 (24,218 MiB visible: 346 are
        # the driver's); its 33k-token KV cache serves 65 requests of 512 tokens at once.
        (RTX4090, LLAMA, LLAMA_8B_SPEC, engine("bfloat16", 32768, 65, 1)),
        # Qwen2.5-32B AWQ fits one 4090 only with a shorter context; 4-bit -> float16, and the method is
        # left to vLLM (the checkpoint's quantization_config says AWQ).
        (RTX4090, QWEN, QWEN_32B_AWQ_SPEC, engine("float16", 3328, 6, 1)),
        # On two 3090s it gets tensor parallel 2 and the full context.
        (TWO_3090, QWEN, QWEN_32B_AWQ_SPEC, engine("float16", 32768, 165, 2)),
        # An fp8 KV cache is the one case that writes --kv-cache-dtype (and doubles the sequences, up to
        # vLLM's own ceiling of 256); an operator's quantization is passed on.
        (
            TWO_3090,
            QWEN,
            {**QWEN_32B_AWQ_SPEC, "kv_cache_bits": 8, "quantization": "awq_marlin"},
            engine("float16", 32768, 256, 2, "awq_marlin", "fp8"),
        ),
    ],
    ids=["4090-llama-8b", "4090-qwen-32b-awq", "2x3090-qwen-32b-awq", "2x3090-qwen-32b-awq-fp8-kv"],
)
def test_sizing_to_argv(gpus: dict[str, Any], model: dict[str, Any], spec: dict[str, Any], expected: list[str]) -> None:
    head = HEAD_LLAMA if model is LLAMA else HEAD_QWEN
    assert vllm.vllm_serve_args(model, vllm.vllm_sizing(gpus, spec)) == [*head, *expected]


def test_kv_cache_dtype_auto_is_not_written() -> None:
    auto = vllm.vllm_sizing(TWO_3090, QWEN_32B_AWQ_SPEC)
    assert auto["kv_cache_dtype"] == "auto"
    assert "--kv-cache-dtype" not in vllm.vllm_serve_args(QWEN, auto)


def test_gpu_memory_utilization_of_the_plan() -> None:
    plan = vllm.vllm_sizing(RTX4090, LLAMA_8B_SPEC, 0.95)
    argv = vllm.vllm_serve_args(LLAMA, plan)
    assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.95"


def test_no_plan_writes_no_engine_arguments() -> None:
    assert vllm.vllm_serve_args(LLAMA) == HEAD_LLAMA
    assert vllm.vllm_serve_args(LLAMA, {}) == HEAD_LLAMA


def test_plan_figures_are_not_arguments() -> None:
    argv = vllm.vllm_serve_args(LLAMA, plan_4090_llama())
    options = [item for item in argv if item.startswith("--")]
    assert options == [
        "--model",
        "--served-model-name",
        "--host",
        "--port",
        "--dtype",
        "--gpu-memory-utilization",
        "--max-model-len",
        "--max-num-seqs",
        "--tensor-parallel-size",
    ]


# ---- precedence: plan < model keys < args ------------------------------------------------------


def test_model_keys_override_the_plan() -> None:
    model = {
        **LLAMA,
        "max_model_len": 8192,
        "dtype": "float16",
        "max_num_seqs": 16,
        "quantization": "fp8",
        "tensor_parallel_size": 2,
        "revision": "0e9e39f",
    }
    assert vllm.vllm_serve_args(model, plan_4090_llama()) == [
        *HEAD_LLAMA,
        "--dtype",
        "float16",
        "--gpu-memory-utilization",
        "0.9",
        "--max-model-len",
        "8192",
        "--max-num-seqs",
        "16",
        "--quantization",
        "fp8",
        "--tensor-parallel-size",
        "2",
        "--revision",
        "0e9e39f",
    ]


def test_args_override_plan_and_model_keys() -> None:
    model = {
        **LLAMA,
        "max_model_len": 8192,
        "dtype": "float16",
        "args": {"max-model-len": 4096, "dtype": "half", "gpu-memory-utilization": 0.8, "max-num-seqs": 2},
    }
    assert vllm.vllm_serve_args(model, plan_4090_llama()) == [
        *HEAD_LLAMA,
        "--dtype",
        "half",
        "--gpu-memory-utilization",
        "0.8",
        "--max-model-len",
        "4096",
        "--max-num-seqs",
        "2",
        "--tensor-parallel-size",
        "1",
    ]


@pytest.mark.parametrize("off", [False, None])
def test_args_false_or_null_remove_a_plan_value(off: bool | None) -> None:
    plan = vllm.vllm_sizing(TWO_3090, {**QWEN_32B_AWQ_SPEC, "kv_cache_bits": 8, "quantization": "awq_marlin"})
    argv = vllm.vllm_serve_args({**QWEN, "args": {"quantization": off, "kv-cache-dtype": off}}, plan)
    assert argv == [
        *HEAD_QWEN,
        "--dtype",
        "float16",
        "--gpu-memory-utilization",
        "0.9",
        "--max-model-len",
        "32768",
        "--max-num-seqs",
        "256",
        "--tensor-parallel-size",
        "2",
    ]


# ---- rendering of values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (True, ["--opt"]),
        (False, []),
        (None, []),
        (0, ["--opt", "0"]),
        (16, ["--opt", "16"]),
        (4.0, ["--opt", "4"]),
        (0.5, ["--opt", "0.5"]),
        ("auto", ["--opt", "auto"]),
        (["a", "b"], ["--opt", "a", "--opt", "b"]),
        ([True, False, 1], ["--opt", "--opt", "1"]),
        ([], []),
        ({"b": [1, 2], "a": {"y": True, "x": None}}, ["--opt", '{"a":{"x":null,"y":true},"b":[1,2]}']),
    ],
)
def test_arg_values(value: Any, rendered: list[str]) -> None:
    assert vllm.vllm_serve_args({**LLAMA, "args": {"opt": value}}) == [*HEAD_LLAMA, *rendered]


def test_args_flags_lists_and_json_in_one_model() -> None:
    model = {
        **LLAMA,
        "args": {
            "enforce-eager": True,
            "enable-chunked-prefill": False,
            "middleware": ["a.b", "c.d"],
            "compilation-config": {"level": 3, "cudagraph_capture_sizes": [1, 2]},
            "swap-space": 4.0,
            "seed": 0,
        },
    }
    assert vllm.vllm_serve_args(model, plan_4090_llama()) == [
        *HEAD_LLAMA,
        "--dtype",
        "bfloat16",
        "--gpu-memory-utilization",
        "0.9",
        "--max-model-len",
        "32768",
        "--max-num-seqs",
        "65",
        "--tensor-parallel-size",
        "1",
        "--compilation-config",
        '{"cudagraph_capture_sizes":[1,2],"level":3}',
        "--enforce-eager",
        "--middleware",
        "a.b",
        "--middleware",
        "c.d",
        "--seed",
        "0",
        "--swap-space",
        "4",
    ]


def test_every_item_is_a_string() -> None:
    model = {**LLAMA, "max_model_len": 4096, "args": {"seed": 1, "x": 1.5, "y": True, "z": {"k": 1}}}
    argv = vllm.vllm_serve_args(model, plan_4090_llama(), port=9000)
    assert all(isinstance(item, str) for item in argv)
    assert argv[len(HEAD_LLAMA) :] == [
        "--dtype",
        "bfloat16",
        "--gpu-memory-utilization",
        "0.9",
        "--max-model-len",
        "4096",
        "--max-num-seqs",
        "65",
        "--tensor-parallel-size",
        "1",
        "--seed",
        "1",
        "--x",
        "1.5",
        "--y",
        "--z",
        '{"k":1}',
    ]
    assert argv[7] == "9000"


# ---- CPU ---------------------------------------------------------------------------------------


def test_cpu_without_plan_defaults_context_to_2048() -> None:
    assert vllm.vllm_serve_args(LLAMA, None, "cpu") == [*HEAD_LLAMA, "--max-model-len", "2048"]


@pytest.mark.parametrize(
    ("model", "context"),
    [
        ({**LLAMA, "max_model_len": 4096}, "4096"),
        ({**LLAMA, "args": {"max-model-len": 1024}}, "1024"),
        ({**LLAMA, "max_model_len": 4096, "args": {"max-model-len": 1024}}, "1024"),
    ],
)
def test_cpu_context_from_the_model(model: dict[str, Any], context: str) -> None:
    assert vllm.vllm_serve_args(model, None, "cpu") == [*HEAD_LLAMA, "--max-model-len", context]


def test_cpu_drops_gpu_only_plan_keys() -> None:
    plan = vllm.vllm_sizing(RTX4090, {**QWEN_32B_AWQ_SPEC, "kv_cache_bits": 8, "quantization": "awq_marlin"})
    assert (plan["quantization"], plan["kv_cache_dtype"]) == ("awq_marlin", "fp8")
    assert vllm.vllm_serve_args(QWEN, plan, "cpu") == [
        *HEAD_QWEN,
        "--dtype",
        "float16",
        "--max-model-len",
        "6912",
        "--max-num-seqs",
        "13",
    ]


@pytest.mark.parametrize(
    "model",
    [
        {**LLAMA, "tensor_parallel_size": 2},
        {**LLAMA, "args": {"tensor-parallel-size": 2}},
        {**LLAMA, "tensor_parallel_size": 1, "args": {"tensor-parallel-size": 4}},
    ],
)
def test_cpu_refuses_tensor_parallel(model: dict[str, Any]) -> None:
    with pytest.raises(AnsibleFilterError, match=r"model llama-8b: tensor parallel needs GPUs"):
        vllm.vllm_serve_args(model, None, "cpu")


def test_cpu_tensor_parallel_of_the_plan_is_dropped_not_refused() -> None:
    plan = vllm.vllm_sizing(TWO_3090, QWEN_32B_AWQ_SPEC)
    assert plan["tensor_parallel_size"] == 2
    argv = vllm.vllm_serve_args(QWEN, plan, "cpu")
    assert "--tensor-parallel-size" not in argv
    assert argv[-6:] == ["--dtype", "float16", "--max-model-len", "32768", "--max-num-seqs", "165"]


def test_cuda_allows_tensor_parallel_from_args() -> None:
    argv = vllm.vllm_serve_args({**LLAMA, "args": {"tensor-parallel-size": 2}})
    assert argv == [*HEAD_LLAMA, "--tensor-parallel-size", "2"]


# ---- reserved options and bad input ------------------------------------------------------------


def test_reserved_set() -> None:
    assert sorted(vllm.RESERVED_ARGS) == [
        "api-key",
        "host",
        "model",
        "port",
        "root-path",
        "served-model-name",
        "ssl-certfile",
        "ssl-keyfile",
        "uds",
    ]


@pytest.mark.parametrize("option", sorted(vllm.RESERVED_ARGS))
def test_reserved_options_are_refused(option: str) -> None:
    with pytest.raises(AnsibleFilterError) as info:
        vllm.vllm_serve_args({**LLAMA, "args": {"enforce-eager": True, option: "x"}}, plan_4090_llama())
    assert str(info.value) == (
        f"vllm_serve_args: model llama-8b: '{option}' is set by the role (loopback bind, key file, served name) "
        "and cannot be overridden"
    )


# vLLM's parser (argparse, allow_abbrev) takes a unique prefix of an option: args {hos: 0.0.0.0},
# written after --host 127.0.0.1, would rebind vLLM. Prefixes of the guarded options are refused.
@pytest.mark.parametrize("option", ["hos", "po", "api-k", "served-model", "ssl-key", "pipeline-parallel", "tensor-p"])
def test_abbreviated_guarded_options_are_refused(option: str) -> None:
    with pytest.raises(AnsibleFilterError, match=rf"option '{option}' abbreviates .*; write vLLM options in full"):
        vllm.vllm_serve_args({**LLAMA, "args": {option: "0.0.0.0"}})


@pytest.mark.parametrize("value", ["two", 0, -1, True, 1.5])
def test_parallel_sizes_must_be_positive_integers(value: Any) -> None:
    with pytest.raises(AnsibleFilterError, match=r"pipeline-parallel-size must be an integer >= 1"):
        vllm.vllm_serve_args({**LLAMA, "args": {"pipeline-parallel-size": value}})


def test_plan_must_be_a_dict() -> None:
    with pytest.raises(AnsibleFilterError, match=r"plan must be the dict of vllm_sizing"):
        vllm.vllm_serve_args(LLAMA, "not a plan")


@pytest.mark.parametrize("option", ["enforce_eager", "--enforce-eager", "Enforce-Eager", "-x", "", "a b", 3])
def test_option_names_like_the_cli(option: Any) -> None:
    with pytest.raises(AnsibleFilterError, match=r"model llama-8b: option .* must be written like vLLM's CLI"):
        vllm.vllm_serve_args({**LLAMA, "args": {option: True}})


@pytest.mark.parametrize("args", [["enforce-eager"], "enforce-eager", 1])
def test_args_must_be_a_dict(args: Any) -> None:
    with pytest.raises(AnsibleFilterError, match=r"model llama-8b: args must be a dict"):
        vllm.vllm_serve_args({**LLAMA, "args": args})


@pytest.mark.parametrize("name", [None, "", "-llama", ".llama", "llama 8b", "llama/8b", "a" * 65, 8])
def test_bad_names(name: Any) -> None:
    with pytest.raises(AnsibleFilterError, match=r"^vllm_serve_args: model name .* must match"):
        vllm.vllm_serve_args({**LLAMA, "name": name})


def test_longest_name() -> None:
    name = "A" + "b" * 62 + "9"
    assert vllm.vllm_serve_args({**LLAMA, "name": name})[3] == name


@pytest.mark.parametrize("source", [None, "", "   ", 3])
def test_model_source_required(source: Any) -> None:
    with pytest.raises(AnsibleFilterError, match=r"model llama-8b: 'model' \(a model id or a local path\) is required"):
        vllm.vllm_serve_args({**LLAMA, "model": source})


def test_model_must_be_a_dict() -> None:
    with pytest.raises(AnsibleFilterError, match=r"a model must be a dict"):
        vllm.vllm_serve_args("llama-8b")  # type: ignore[arg-type]


@pytest.mark.parametrize("task", ["chat", "Embed", "embedding", None])
def test_bad_task(task: Any) -> None:
    with pytest.raises(AnsibleFilterError, match=r"model llama-8b: task must be one of generate, embed"):
        vllm.vllm_serve_args({**LLAMA, "task": task})


@pytest.mark.parametrize("device", ["rocm", "CUDA", "gpu", ""])
def test_bad_device(device: str) -> None:
    with pytest.raises(AnsibleFilterError, match=r"device must be one of cuda, cpu"):
        vllm.vllm_serve_args(LLAMA, None, device)


@pytest.mark.parametrize("port", [0, -1, 65536, "8100", 8100.0, True, None])
def test_bad_port(port: Any) -> None:
    with pytest.raises(AnsibleFilterError, match=r"model llama-8b: port must be 1\.\.65535"):
        vllm.vllm_serve_args(LLAMA, None, "cuda", port)


@pytest.mark.parametrize("port", [1, 65535])
def test_port_bounds(port: int) -> None:
    assert vllm.vllm_serve_args(LLAMA, None, "cuda", port)[7] == str(port)


# ---- pipeline parallel -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        {"pipeline-parallel-size": 2},
        {"pipeline-parallel-size": 2, "distributed-executor-backend": "mp"},
        {"pipeline-parallel-size": 4, "distributed-executor-backend": "Ray"},
    ],
)
def test_pipeline_parallel_needs_ray(args: dict[str, Any]) -> None:
    size = args["pipeline-parallel-size"]
    with pytest.raises(AnsibleFilterError) as info:
        vllm.vllm_serve_args({**LLAMA, "args": args}, plan_4090_llama())
    assert str(info.value).startswith(
        f"vllm_serve_args: model llama-8b: pipeline-parallel-size {size} spans hosts and needs "
        "distributed-executor-backend: ray"
    )


def test_pipeline_parallel_with_ray() -> None:
    model = {**LLAMA, "args": {"pipeline-parallel-size": 2, "distributed-executor-backend": "ray"}}
    assert vllm.vllm_serve_args(model, plan_4090_llama())[-4:] == [
        "--distributed-executor-backend",
        "ray",
        "--pipeline-parallel-size",
        "2",
    ]


@pytest.mark.parametrize("size", [1, None])
def test_pipeline_parallel_of_one_needs_no_ray(size: int | None) -> None:
    argv = vllm.vllm_serve_args({**LLAMA, "args": {"pipeline-parallel-size": size}})
    assert argv == [*HEAD_LLAMA, *(["--pipeline-parallel-size", "1"] if size == 1 else [])]


# ---- task, host/port, determinism --------------------------------------------------------------


def test_embed_task() -> None:
    model = {"name": "bge-m3", "model": "BAAI/bge-m3", "task": "embed", "max_model_len": 8192}
    assert vllm.vllm_serve_args(model, None, "cpu", 8101) == [
        "--model",
        "BAAI/bge-m3",
        "--served-model-name",
        "bge-m3",
        "--host",
        "127.0.0.1",
        "--port",
        "8101",
        "--runner",
        "pooling",
        "--convert",
        "embed",
        "--max-model-len",
        "8192",
    ]


def test_generate_task_adds_no_runner() -> None:
    explicit = vllm.vllm_serve_args({**LLAMA, "task": "generate"}, plan_4090_llama())
    assert explicit == vllm.vllm_serve_args(LLAMA, plan_4090_llama())
    assert "--runner" not in explicit and "--convert" not in explicit


def test_loopback_defaults_and_given_host_port() -> None:
    assert vllm.vllm_serve_args(LLAMA)[4:8] == ["--host", "127.0.0.1", "--port", "8100"]
    assert vllm.vllm_serve_args(LLAMA, None, "cuda", 8107, "::1")[4:8] == ["--host", "::1", "--port", "8107"]
    argv = vllm.vllm_serve_args(LLAMA, plan_4090_llama(), host="10.0.0.5", port=8102)
    assert (argv.count("--host"), argv.count("--port")) == (1, 1)
    assert argv[4:8] == ["--host", "10.0.0.5", "--port", "8102"]


def test_deterministic() -> None:
    plan = vllm.vllm_sizing(TWO_3090, {**QWEN_32B_AWQ_SPEC, "kv_cache_bits": 8, "quantization": "awq_marlin"})
    args = {"enforce-eager": True, "seed": 7, "compilation-config": {"b": 1, "a": 2}, "block-size": 16}
    first = vllm.vllm_serve_args({**QWEN, "revision": "main", "args": args}, plan)
    shuffled_plan = dict(reversed(list(plan.items())))
    shuffled_args = dict(reversed(list(args.items())))
    second = vllm.vllm_serve_args({"args": shuffled_args, "revision": "main", **QWEN}, shuffled_plan)
    assert first == second == vllm.vllm_serve_args({**QWEN, "revision": "main", "args": args}, plan)
    assert first[len(HEAD_QWEN) :] == [
        "--dtype",
        "float16",
        "--gpu-memory-utilization",
        "0.9",
        "--kv-cache-dtype",
        "fp8",
        "--max-model-len",
        "32768",
        "--max-num-seqs",
        "256",
        "--quantization",
        "awq_marlin",
        "--tensor-parallel-size",
        "2",
        "--block-size",
        "16",
        "--compilation-config",
        '{"a":2,"b":1}',
        "--enforce-eager",
        "--revision",
        "main",
        "--seed",
        "7",
    ]


def test_inputs_are_not_modified() -> None:
    plan = plan_4090_llama()
    model = {**LLAMA, "max_model_len": 4096, "args": {"enforce-eager": True}}
    plan_copy, model_copy = dict(plan), {**model, "args": dict(model["args"])}
    vllm.vllm_serve_args(model, plan, "cpu")
    assert (plan, model) == (plan_copy, model_copy)


def test_registered_as_filter() -> None:
    assert vllm.FilterModule().filters()["vllm_serve_args"] is vllm.vllm_serve_args
