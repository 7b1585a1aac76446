#!/usr/bin/env python3
"""Test helper (copied to the nodes by verify.yml): TCP connects to (address, port) pairs.

Usage: probe.py '[["100.64.0.1", 8200], ...]'  ->  JSON list of [address, port, result], where
result is "open" (connected), "refused" (RST) or "timeout" (dropped). Connects run in parallel.
"""

from __future__ import annotations

import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 4.0


def probe(target: list) -> list:
    address, port = target[0], int(target[1])
    try:
        with socket.create_connection((address, port), timeout=TIMEOUT):
            return [address, port, "open"]
    except ConnectionRefusedError:
        return [address, port, "refused"]
    except TimeoutError:
        return [address, port, "timeout"]
    except OSError as exc:
        return [address, port, f"error:{exc.errno}"]


def main() -> None:
    targets = json.loads(sys.argv[1])
    with ThreadPoolExecutor(max_workers=32) as pool:
        print(json.dumps(list(pool.map(probe, targets))))


if __name__ == "__main__":
    main()
