# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real systemd "hosts" for the integration tests, and playbook runs against them.

- ``systemd_node``: a context manager that starts a container from the local base image the way
  the lab and Molecule do (``scripts/run-node.sh``) and removes it (and its network) afterwards.
- ``filesystem_changes``: the container's ``docker diff`` against its image, so a test can show
  that a refused run changed nothing.
- ``run_playbook``: ``ansible-playbook`` with the repository's ansible.cfg, an inventory and a
  playbook given as Python data (or a path), output captured.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
IMAGE = os.environ.get("ORCAQUEEN_TEST_IMAGE", "orcaqueen/debian12:latest")


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


@contextlib.contextmanager
def systemd_node(prefix: str, hostname: str, network: str, remove_network: bool = False) -> Iterator[str]:
    """A running systemd container named ``<prefix>-<random>``; removed when the block ends."""
    if shutil.which("docker") is None or docker("info").returncode != 0:
        pytest.fail("no Docker engine: run scripts/ensure-docker.sh (make test does)")
    if docker("image", "inspect", IMAGE).returncode != 0:
        pytest.fail(f"image {IMAGE} missing: run scripts/build-image.sh debian12 (make test does)")
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    started = subprocess.run(
        [str(REPO / "scripts/run-node.sh"), name, hostname, network, IMAGE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    try:
        yield name
    finally:
        docker("rm", "-f", name)
        if remove_network:
            docker("network", "rm", network)


def filesystem_changes(container: str) -> list[str]:
    """The container's changes against its image, less temporary space.

    /var/tmp is left out: systemd creates PrivateTmp directories there on its own when a
    service such as systemd-logind starts, which says nothing about what Ansible did.
    """
    result = docker("diff", container)
    assert result.returncode == 0, result.stderr
    return sorted(
        line
        for line in result.stdout.splitlines()
        if line.split(" ", 1)[1] not in ("/var", "/var/tmp") and not line.split(" ", 1)[1].startswith("/var/tmp/")
    )


def run_playbook(
    inventory: dict[str, Any], playbook: Path | list[dict[str, Any]], tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``playbook`` (a path, or plays as data) against ``inventory`` with the repository's config."""
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(inventory))
    if not isinstance(playbook, Path):
        path = tmp_path / "play.yml"
        path.write_text(yaml.safe_dump(playbook, sort_keys=False))
        playbook = path
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_CACHE_PLUGIN="memory")
    return subprocess.run(
        ["ansible-playbook", "-i", str(inv), str(playbook), *extra],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
        timeout=600,
    )


def assert_refused_without_change(
    result: subprocess.CompletedProcess[str], expected: list[str], case: str, container: str, before: list[str]
) -> None:
    """The run failed, its output names every word of ``expected``, and nothing changed."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"the bad input was accepted ({case}):\n{output[-3000:]}"
    for words in expected:
        assert words in output, f"message for {case} lacks {words!r}:\n{output[-3000:]}"
    assert "changed: [" not in output, f"a task changed something before the error:\n{output[-3000:]}"
    after = filesystem_changes(container)
    assert after == before, f"{case}: the container changed before the error: {sorted(set(after) ^ set(before))}"


def connection_vars(container: str) -> dict[str, str]:
    """Inventory variables that reach ``container`` with ``docker exec`` as root."""
    return {"ansible_connection": "community.docker.docker", "ansible_host": container, "ansible_user": "root"}
