"""Bad input fails before any host changes, with a message a user can act on.

Each case runs the real ``site.yml`` against a real systemd container (started by the
fixture from the locally built image) with one mistake in its inventory. The test checks
that the run fails, that the message names the fix, and that the container's filesystem
is exactly as before (``docker diff`` is taken before and after the run).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("ORCAQUEEN_TEST_IMAGE", "orcaqueen/debian12:latest")


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    if shutil.which("docker") is None or _docker("info").returncode != 0:
        pytest.fail("no Docker engine: run scripts/ensure-docker.sh (make test does)")
    if _docker("image", "inspect", IMAGE).returncode != 0:
        pytest.fail(f"image {IMAGE} missing: run scripts/build-image.sh debian12 (make test does)")
    name = f"orcaqueen-badinput-{uuid.uuid4().hex[:8]}"
    started = subprocess.run(
        [str(REPO / "scripts/run-node.sh"), name, "badinput", "orcaqueen-badinput", IMAGE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    try:
        yield name
    finally:
        _docker("rm", "-f", name)


@pytest.fixture(scope="module")
def admin_pubkey(tmp_path_factory: pytest.TempPathFactory) -> str:
    key = tmp_path_factory.mktemp("keys") / "admin_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text().strip()


def _inventory(container: str, pubkey: str) -> dict[str, Any]:
    """A valid inventory: the one container plays every node group."""
    node = {"node": None}
    return {
        "swarm": {
            "vars": {
                "ansible_connection": "community.docker.docker",
                "ansible_host": container,
                "ansible_user": "root",
                "common_admin_ssh_public_keys": [pubkey],
            },
            "children": {
                "orchestrator": {"hosts": dict(node)},
                "inference": {"hosts": dict(node)},
                "worker": {"hosts": dict(node)},
            },
        }
    }


def _run_site(inventory: dict[str, Any], tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(inventory))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_CACHE_PLUGIN="memory")
    return subprocess.run(
        ["ansible-playbook", "-i", str(inv), str(REPO / "site.yml"), *extra],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
        timeout=600,
    )


def _filesystem_changes(container: str) -> list[str]:
    """The container's changes against its image, less temporary space.

    /var/tmp is left out: systemd creates PrivateTmp directories there on its own when a
    service such as systemd-logind starts, which says nothing about what Ansible did.
    """
    result = _docker("diff", container)
    assert result.returncode == 0, result.stderr
    return sorted(
        line
        for line in result.stdout.splitlines()
        if line.split(" ", 1)[1] not in ("/var", "/var/tmp") and not line.split(" ", 1)[1].startswith("/var/tmp/")
    )


def _vars(inv: dict[str, Any]) -> dict[str, Any]:
    return inv["swarm"]["vars"]


def _drop_worker_group(inv: dict[str, Any]) -> None:
    del inv["swarm"]["children"]["worker"]


def _no_admin_key(inv: dict[str, Any]) -> None:
    _vars(inv)["common_admin_ssh_public_keys"] = []


def _key_as_string(inv: dict[str, Any]) -> None:
    _vars(inv)["common_admin_ssh_public_keys"] = _vars(inv)["common_admin_ssh_public_keys"][0]


def _port_not_a_number(inv: dict[str, Any]) -> None:
    _vars(inv)["hardening_ssh_port"] = "twenty-two"


def _lockout_allow_groups(inv: dict[str, Any]) -> None:
    _vars(inv)["hardening_ssh_allow_groups"] = ["wheel"]


def _placeholder_address(inv: dict[str, Any]) -> None:
    inv["swarm"]["children"]["worker"]["hosts"] = {"thanos": {"ansible_host": "192.0.2.30"}}


CASES = {
    # id: (mutation, words the error message must contain)
    "missing-group": (_drop_worker_group, ["'worker'", "missing or empty"]),
    "admin-without-ssh-key": (_no_admin_key, ["common_admin_ssh_public_keys"]),
    "non-list-where-list-needed": (_key_as_string, ["common_admin_ssh_public_keys", "list"]),
    "ssh-port-not-a-number": (_port_not_a_number, ["hardening_ssh_port"]),
    "hardening-would-lock-admin-out": (_lockout_allow_groups, ["hardening_ssh_allow_groups", "orcaqueen-admin"]),
    "placeholder-address-left": (_placeholder_address, ["placeholder", "192.0.2.30"]),
}


def test_valid_inventory_passes_validation(container: str, admin_pubkey: str, tmp_path: Path) -> None:
    """Control: the same inventory without the mistake passes the validation play."""
    warmup = _run_site(_inventory(container, admin_pubkey), tmp_path, "--tags", "validate")
    assert warmup.returncode == 0, warmup.stdout[-3000:] + warmup.stderr[-2000:]
    before = _filesystem_changes(container)
    result = _run_site(_inventory(container, admin_pubkey), tmp_path, "--tags", "validate")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert _filesystem_changes(container) == before


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_before_any_change(case: str, container: str, admin_pubkey: str, tmp_path: Path) -> None:
    mutate, expected = CASES[case]
    inventory = copy.deepcopy(_inventory(container, admin_pubkey))
    mutate(inventory)
    before = _filesystem_changes(container)

    result = _run_site(inventory, tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode != 0, f"site.yml accepted the bad input ({case}):\n{output[-3000:]}"
    for words in expected:
        assert words in output, f"message for {case} lacks {words!r}:\n{output[-3000:]}"
    assert "changed: [" not in output, f"a task changed something before the error:\n{output[-3000:]}"
    after = _filesystem_changes(container)
    assert after == before, f"{case}: the container changed before the error: {sorted(set(after) ^ set(before))}"
