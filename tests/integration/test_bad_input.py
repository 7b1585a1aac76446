"""Bad input fails before any host changes, with a message a user can act on.

Each case runs the real ``site.yml`` against a real systemd container (started by the
fixture from the locally built image) with one mistake in its inventory. The test checks
that the run fails, that the message names the fix, and that the container's filesystem
is exactly as before (``docker diff`` is taken before and after the run).
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from systemd_node import (
    REPO,
    assert_refused_without_change,
    connection_vars,
    filesystem_changes,
    run_playbook,
    systemd_node,
)


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    with systemd_node("orcaqueen-badinput", "badinput", "orcaqueen-badinput") as name:
        yield name


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
                **connection_vars(container),
                "common_admin_ssh_public_keys": [pubkey],
                "alertmanager_receivers": [{"name": "ops", "webhook_urls": ["https://hooks.example.org/alerts"]}],
            },
            "children": {
                "orchestrator": {"hosts": dict(node)},
                "inference": {"hosts": dict(node)},
                "worker": {"hosts": dict(node)},
            },
        }
    }


def _run_site(inventory: dict[str, Any], tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_playbook(inventory, REPO / "site.yml", tmp_path, *extra)


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


def _ssh_open_to_the_world(inv: dict[str, Any]) -> None:
    _vars(inv)["hardening_ssh_allowed_sources"] = ["192.168.1.0/24", "0.0.0.0/0"]


def _classical_kex_only(inv: dict[str, Any]) -> None:
    _vars(inv)["hardening_ssh_kex_algorithms"] = ["curve25519-sha256", "diffie-hellman-group16-sha512"]


def _no_alert_receiver(inv: dict[str, Any]) -> None:
    _vars(inv)["alertmanager_receivers"] = []


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
    "ssh-open-to-the-world": (_ssh_open_to_the_world, ["0.0.0.0/0", "hardening_ssh_world_open_acknowledged"]),
    "kex-not-post-quantum": (_classical_kex_only, ["no post-quantum key exchange", "kex_post_quantum_only"]),
    "alerts-reach-no-one": (_no_alert_receiver, ["alertmanager_receivers is empty", "alertmanager_no_receiver"]),
}


def test_valid_inventory_passes_validation(container: str, admin_pubkey: str, tmp_path: Path) -> None:
    """Control: the same inventory without the mistake passes the validation play."""
    warmup = _run_site(_inventory(container, admin_pubkey), tmp_path, "--tags", "validate")
    assert warmup.returncode == 0, warmup.stdout[-3000:] + warmup.stderr[-2000:]
    before = filesystem_changes(container)
    result = _run_site(_inventory(container, admin_pubkey), tmp_path, "--tags", "validate")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert filesystem_changes(container) == before


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_before_any_change(case: str, container: str, admin_pubkey: str, tmp_path: Path) -> None:
    mutate, expected = CASES[case]
    inventory = copy.deepcopy(_inventory(container, admin_pubkey))
    mutate(inventory)
    before = filesystem_changes(container)

    result = _run_site(inventory, tmp_path)

    assert_refused_without_change(result, expected, case, container, before)


def test_broken_nvidia_driver_stops_the_run(container: str, admin_pubkey: str, tmp_path: Path) -> None:
    """A host whose nvidia-smi fails (driver not loaded, rc 9) must not be built as a CPU host.

    The container has no GPU: an ``nvidia-smi`` that prints the driver's real message and exits 9
    stands in for a host whose kernel module is missing (docs/gpu.md, failure policy).
    """
    fixture = REPO / "tests" / "unit" / "fixtures" / "gpu" / "nvidia-smi_no-driver.txt"
    script = tmp_path / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{fixture.read_text()}EOF\nexit 9\n")
    script.chmod(0o755)
    fake = "/usr/local/bin/nvidia-smi"
    subprocess.run(["docker", "cp", str(script), f"{container}:{fake}"], check=True)
    try:
        before = filesystem_changes(container)
        result = _run_site(_inventory(container, admin_pubkey), tmp_path)
        assert_refused_without_change(
            result,
            ["the nvidia kernel module is not loaded", "swarm_allow_unusable_gpu", "serve on its CPU"],
            "broken-nvidia-driver",
            container,
            before,
        )
    finally:
        subprocess.run(["docker", "exec", container, "rm", "-f", fake], check=True)
