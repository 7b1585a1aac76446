# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write a tiny, randomly initialised Llama-architecture model with its tokenizer.

Test fixture only: the `vllm` scenario, the lab and the benchmark serve it with the CPU build of
vLLM, so that a real engine loads real weights and answers real requests without any download
from a model hub. The output is nonsense text; the point is the serving path.

    python3 scripts/make-test-model.py DIR [--layers 2] [--hidden 128] [--heads 2] [--seed 1]

Needs `transformers`, `tokenizers`, `safetensors` and `numpy` (all in the vLLM wheelhouse that
scripts/fetch-vllm.sh builds; no torch). The tokenizer is a byte-level BPE trained here on a small
generated corpus; the config and tokenizer are saved with transformers, the weights with
safetensors. The same seed gives the same files.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, PreTrainedTokenizerFast

TEXT = (
    "the swarm serves models over the tailnet with keys from vault and certificates that renew "
    "before they expire while prometheus watches every exporter and alertmanager pages an operator "
    "when a health gate fails and the previous release comes back"
)
WORDS = TEXT.split(" ")


def corpus(rng: np.random.Generator, lines: int = 400) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 16)))) for _line in range(lines)]


def train_tokenizer(rng: np.random.Generator, vocab_size: int) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(rng), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=2048
    )


def weights(cfg: LlamaConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    h, inter, vocab = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    head_dim = h // cfg.num_attention_heads
    kv = cfg.num_key_value_heads * head_dim

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float32)

    out = {"model.embed_tokens.weight": mat(vocab, h), "model.norm.weight": np.ones(h, np.float32)}
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        out |= {
            p + "self_attn.q_proj.weight": mat(h, h),
            p + "self_attn.k_proj.weight": mat(kv, h),
            p + "self_attn.v_proj.weight": mat(kv, h),
            p + "self_attn.o_proj.weight": mat(h, h),
            p + "mlp.gate_proj.weight": mat(inter, h),
            p + "mlp.up_proj.weight": mat(inter, h),
            p + "mlp.down_proj.weight": mat(h, inter),
            p + "input_layernorm.weight": np.ones(h, np.float32),
            p + "post_attention_layernorm.weight": np.ones(h, np.float32),
        }
    if not cfg.tie_word_embeddings:
        out["lm_head.weight"] = mat(vocab, h)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=pathlib.Path)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--context", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    args.dir.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(rng, args.vocab)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 2,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=args.context,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    cfg.architectures = ["LlamaForCausalLM"]
    cfg.save_pretrained(args.dir)
    tokenizer.save_pretrained(args.dir)
    save_file(weights(cfg, rng), str(args.dir / "model.safetensors"), metadata={"format": "pt"})
    (args.dir / "generation_config.json").write_text(
        json.dumps({"bos_token_id": cfg.bos_token_id, "eos_token_id": cfg.eos_token_id}) + "\n"
    )
    print(f"tiny Llama ({args.layers} layers, hidden {args.hidden}, vocab {cfg.vocab_size}) in {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
