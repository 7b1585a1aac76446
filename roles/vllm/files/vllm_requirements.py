# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the runtime requirements of an installed distribution to a requirements file.

Run with the release virtualenv's python after ``pip install --no-deps <dist>``. With ``--torch``
the distribution's own torch requirement (the CPU build of vLLM pins ``torch==<v>+cpu``, a wheel
the public index does not serve) is replaced by the given one; extras are left out.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirements(dist: str, torch: str | None) -> list[str]:
    out: list[str] = []
    replaced = False
    for req in metadata.requires(dist) or []:
        if "extra ==" in req.replace('"', "").replace("'", "") or "extra==" in req:
            continue
        name = NAME.match(req)
        if torch and name and name.group(1).lower() == "torch":
            if not replaced:
                out.append(torch)
                replaced = True
            continue
        out.append(req)
    if torch and not replaced:
        out.append(torch)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--distribution", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--torch", default="")
    args = ap.parse_args(argv)
    try:
        reqs = requirements(args.distribution, args.torch or None)
    except metadata.PackageNotFoundError:
        print(f"{args.distribution} is not installed in {sys.prefix}", file=sys.stderr)
        return 2
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in reqs))
    print(f"{len(reqs)} requirements of {args.distribution} in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
