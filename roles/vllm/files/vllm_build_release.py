# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build one vLLM release: a virtualenv of its own, complete only when its marker file exists.

The vllm role runs it (roles/vllm/tasks/install.yml), in the foreground or in the background while
other plays of site.yml run (roles/vllm/tasks/build.yml). One build of a release at a time (a lock
beside the release directory); a complete release is never touched again, and a half-finished one is
started over. Steps:

1. an empty release directory and a virtualenv in it (``--python -m venv``);
2. the release package without its dependencies (``pip install --no-deps <package>==<version>``);
3. its runtime requirements, the CPU build's torch pin replaced when asked (vllm_requirements.py);
4. those requirements, then the byte code compiled on every CPU (pip compiles on one);
5. the release must import vllm and torch and report the version asked for;
6. the marker file: "<package>==<version> <torch version>".

Standard library only; prints what it does, and exits non-zero with the reason on any failure.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run(argv: list[str], must_pass: bool = True) -> str:
    started = time.monotonic()
    print("+ " + " ".join(argv), flush=True)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0 and not must_pass:
        print(f"  exit {proc.returncode}, not fatal: {proc.stdout.strip()[-300:]}", flush=True)
    elif proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"failed (exit {proc.returncode}): {' '.join(argv)}")
    print(f"  done in {time.monotonic() - started:.1f} s", flush=True)
    return proc.stdout


def build(args: argparse.Namespace) -> str:
    release = Path(args.release_dir)
    marker = release / ".orcaqueen-installed"
    if marker.is_file():
        return f"complete already: {marker.read_text().strip()}"
    if release.exists():
        shutil.rmtree(release)
    release.parent.mkdir(parents=True, exist_ok=True)
    python = str(release / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", *args.pip_arg]
    run([args.python, "-m", "venv", str(release)])
    run([*pip, "--no-deps", f"{args.package}=={args.version}"])
    requirements = release / "requirements.txt"
    torch = ["--torch", args.torch] if args.torch else []
    run([python, args.requirements_script, "--distribution", args.package, "--output", str(requirements), *torch])
    run([*pip, "--no-compile", "-r", str(requirements)])
    # As pip does it (a file that does not compile, such as a template, is left as it is), on every CPU.
    run([python, "-m", "compileall", "-q", "-j", "0", str(release / "lib")], must_pass=False)
    out = run([
        python,
        "-c",
        f"import importlib.metadata as m, vllm, torch; print(m.version({args.package!r}), torch.__version__)",
    ]).split()
    if len(out) < 2 or out[0] != args.version:
        raise SystemExit(f"{release} reports {' '.join(out)}, expected {args.package} {args.version}")
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(f"{args.package}=={args.version} {out[1]}\n")
    os.chmod(tmp, 0o644)
    tmp.replace(marker)
    return f"built: {args.package}=={args.version} {out[1]}"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", required=True, help="the interpreter the virtualenv is made from")
    ap.add_argument("--release-dir", required=True)
    ap.add_argument("--package", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--torch", default="", help="replace the release's torch requirement with this one")
    ap.add_argument("--requirements-script", required=True, help="vllm_requirements.py")
    ap.add_argument("--pip-arg", action="append", default=[], help="a pip argument (index or wheelhouse)")
    args = ap.parse_args(argv)
    # Beside releases/ (whose entries are the releases): <install_dir>/.build-<release>.lock
    lock_path = Path(args.release_dir).parent.parent / f".build-{Path(args.release_dir).name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another build of this release finishes first
        print(build(args), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
