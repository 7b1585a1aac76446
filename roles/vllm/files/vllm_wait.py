# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wait until a vLLM model answers /health on loopback (health gate of orcaqueen.swarm.vllm).

    python3 vllm_wait.py UNIT PORT TIMEOUT

Exits 0 when http://127.0.0.1:PORT/health answers 200. Gives up early, printing the unit's last
journal lines, when systemd has restarted the unit 3 times (a crash loop will not heal by
waiting); gives up after TIMEOUT seconds otherwise.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

CRASH_LOOP = 3


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def restarts(unit: str) -> int:
    out = subprocess.run(
        ["systemctl", "show", "-p", "NRestarts", "--value", unit], capture_output=True, text=True, check=False
    )
    return int(out.stdout.strip() or 0)


def journal(unit: str) -> str:
    out = subprocess.run(
        ["journalctl", "-u", unit, "-n", "25", "--no-pager", "-o", "cat"], capture_output=True, text=True, check=False
    )
    return out.stdout


def main(argv: list[str]) -> int:
    unit, port, timeout = argv[0], int(argv[1]), float(argv[2])
    start = time.monotonic()
    first = restarts(unit)
    while time.monotonic() - start < timeout:
        if healthy(port):
            print(f"{unit} answers after {time.monotonic() - start:.0f} s")
            return 0
        if restarts(unit) - first >= CRASH_LOOP:
            print(f"{unit} crashed {CRASH_LOOP} times while starting; last lines:\n{journal(unit)}", file=sys.stderr)
            return 1
        time.sleep(3)
    print(f"{unit} did not answer /health within {timeout:.0f} s; its last lines:\n{journal(unit)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
