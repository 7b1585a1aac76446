# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A steady, bounded request load for the verifiers (shared step; Python's standard library only).

  steady_load.py --url URL --ca CA.pem --key-file FILE --stop-file FILE --out FILE.json
                 [--rate 4] [--body JSON] [--max-seconds 600]

Sends one request after the other, at most --rate per second, each on a new TLS connection
verified against CA.pem, with "Authorization: Bearer <the key in FILE>" (read once, at the start:
a client that has not picked up a rotated key yet). A POST with --body, a GET without. Stops when
the stop file appears or after --max-seconds, and writes a JSON summary to --out:
{"total", "ok", "failed", "statuses": {"200": n, ...}, "errors": [first ten], "seconds"}.
A request fails when it gets anything but 200, or no answer at all.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import time
import urllib.error
import urllib.request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--key-file", required=True)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rate", type=float, default=4.0)
    parser.add_argument("--body")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()

    with open(args.key_file, encoding="utf-8") as handle:
        key = handle.read().strip()
    context = ssl.create_default_context(cafile=args.ca)
    data = args.body.encode() if args.body else None
    headers = {"Authorization": f"Bearer {key}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    statuses: dict[str, int] = {}
    errors: list[str] = []
    total = ok = 0
    start = time.monotonic()
    interval = 1.0 / args.rate
    while not os.path.exists(args.stop_file) and time.monotonic() - start < args.max_seconds:
        began = time.monotonic()
        request = urllib.request.Request(args.url, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                response.read()
                status = str(response.status)
        except urllib.error.HTTPError as exc:
            status = str(exc.code)
        except (urllib.error.URLError, OSError) as exc:
            status = "no answer"
            if len(errors) < 10:
                errors.append(f"{time.monotonic() - start:.1f}s: {exc}")
        total += 1
        ok += status == "200"
        statuses[status] = statuses.get(status, 0) + 1
        if status not in ("200", "no answer") and len(errors) < 10:
            errors.append(f"{time.monotonic() - start:.1f}s: HTTP {status}")
        time.sleep(max(0.0, interval - (time.monotonic() - began)))
    summary = {
        "total": total,
        "ok": ok,
        "failed": total - ok,
        "statuses": statuses,
        "errors": errors,
        "seconds": round(time.monotonic() - start, 1),
    }
    with open(args.out + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(summary, handle)
    os.replace(args.out + ".tmp", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
