"""Bad Vault input fails before any change, with a message that names the fix.

Each case runs a playbook that applies ``orcaqueen.swarm.vault`` to a real systemd container
(started from the locally built image) with one mistake in its inventory: an even number of
Vault servers, no password file for the controller key store, a variable that would turn TLS
off, a policy path outside ``swarm/``, a wildcard bind without the opt-in. The test checks that
the run fails, that the message names the variable, that no task reported a change, that the
container's filesystem is exactly as before (``docker diff``) and that nothing was written on
the controller (no CA, no key store).
"""

from __future__ import annotations

import copy
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
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

PLAYBOOK = """\
- name: Vault servers
  hosts: orchestrator
  become: true
  gather_facts: true
  roles:
    - role: orcaqueen.swarm.vault
"""


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    with systemd_node("vault-badinput", "vault-badinput", "vault-badinput") as name:
        # Gather facts once, so that only the role's own effects could show in a case's diff.
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_CACHE_PLUGIN="memory")
        setup = subprocess.run(
            ["ansible", "all", "-i", f"{name},", "-c", "community.docker.docker", "-m", "ansible.builtin.setup"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            check=False,
        )
        assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-2000:]
        yield name


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Controller-side paths: a real key store password file, and where the CA/store would go."""
    base = tmp_path_factory.mktemp("vault-controller")
    password_file = base / "store-password"
    password_file.write_text(secrets.token_urlsafe(32))
    password_file.chmod(0o600)
    backup_key = base / "backup_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(backup_key)], check=True)
    return {
        "password_file": password_file,
        "pki_dir": base / "pki",
        "store": base / "store",
        "backup_recipient": Path(f"{backup_key}.pub"),
    }


def _inventory(container: str, controller: dict[str, Path]) -> dict[str, Any]:
    """A valid inventory: one Vault server (the container) with every required setting."""
    return {
        "swarm": {
            "vars": {
                **connection_vars(container),
                "swarm_listen_address": "{{ ansible_facts.default_ipv4.address }}",
                "pki_dir": str(controller["pki_dir"]),
                "pki_ca_passphrase": secrets.token_urlsafe(24),
                "vault_init_password_file": str(controller["password_file"]),
                "vault_secrets_dir": str(controller["store"]),
                "vault_version": "2.7.2",
                "vault_archive_src": "/nonexistent/bao",
                "vault_archive_sha256": "0" * 64,
                "vault_backup_age_recipients": [controller["backup_recipient"].read_text().strip()],
            },
            "children": {"orchestrator": {"hosts": {"vault1": None}}},
        }
    }


def _run(inventory: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "vault.yml"
    playbook.write_text(PLAYBOOK)
    return run_playbook(inventory, playbook, tmp_path)


def _vars(inv: dict[str, Any]) -> dict[str, Any]:
    return inv["swarm"]["vars"]


def _two_servers(inv: dict[str, Any]) -> None:
    inv["swarm"]["children"]["orchestrator"]["hosts"]["vault2"] = None


def _no_password_file(inv: dict[str, Any]) -> None:
    del _vars(inv)["vault_init_password_file"]


def _tls_off(inv: dict[str, Any]) -> None:
    _vars(inv)["vault_tls_disable"] = True


def _policy_outside_swarm(inv: dict[str, Any]) -> None:
    _vars(inv)["vault_policy_extra_read_paths"] = {"prometheus": ["sys/raw/*"]}


def _wildcard_bind(inv: dict[str, Any]) -> None:
    _vars(inv)["vault_listen_address"] = "0.0.0.0"


def _backups_without_recipients(inv: dict[str, Any]) -> None:
    del _vars(inv)["vault_backup_age_recipients"]


def _backup_recipient_is_a_private_key(inv: dict[str, Any]) -> None:
    # The shape of an age identity (never a real one): refused, and only its first 12 characters shown.
    _vars(inv)["vault_backup_age_recipients"] = ["AGE-SECRET-KEY-1" + "Q" * 58]


def _release_for_another_machine(inv: dict[str, Any]) -> None:
    # A release per machine architecture that has no build for this host's (x86_64) machine.
    _vars(inv)["vault_archive_src"] = {"aarch64": "/nonexistent/bao-arm64.tar.gz"}
    _vars(inv)["vault_archive_sha256"] = {"aarch64": "0" * 64}


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], list[str]]] = {
    # id: (mutation, words the error message must contain)
    "even-number-of-servers": (_two_servers, ["odd number", "vault group 'orchestrator' has 2 host(s)"]),
    "missing-key-store-password-file": (_no_password_file, ["vault_init_password_file", "not set"]),
    "tls-turned-off": (_tls_off, ["TLS cannot be turned off", "vault_tls_disable"]),
    "policy-path-outside-swarm": (_policy_outside_swarm, ["swarm/", "sys/raw/*"]),
    "wildcard-bind-without-opt-in": (_wildcard_bind, ["0.0.0.0", "vault_allow_wildcard_bind"]),
    "backups-without-recipients": (
        _backups_without_recipients,
        ["vault_backup_age_recipients", "vault_backup_enabled: false"],
    ),
    "backup-recipient-is-a-private-key": (_backup_recipient_is_a_private_key, ["PUBLIC keys", "AGE-SECRET-K..."]),
    "release-for-another-machine": (
        _release_for_another_machine,
        ["vault_archive_src has no entry for x86_64", "entries: aarch64"],
    ),
}


def test_control_inventory_passes_preflight(container: str, controller: dict[str, Path], tmp_path: Path) -> None:
    """Control: the valid inventory gets past every preflight check and stops only at the release,
    whose path in this test does not exist (no OpenBao is installed here)."""
    result = _run(_inventory(container, controller), tmp_path)
    output = result.stdout + result.stderr
    for task in ("Odd number of servers", "Key store password file", "No variable that turns TLS off"):
        assert f"Vault | Preflight | {task}" in output, output[-3000:]
    assert "Component | Release | Copy from the controller - vault" in output, output[-3000:]
    assert result.returncode != 0 and "/nonexistent/bao" in output, output[-3000:]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_before_any_change(
    case: str, container: str, controller: dict[str, Path], tmp_path: Path
) -> None:
    mutate, expected = CASES[case]
    inventory = copy.deepcopy(_inventory(container, controller))
    mutate(inventory)
    shutil.rmtree(controller["pki_dir"], ignore_errors=True)
    shutil.rmtree(controller["store"], ignore_errors=True)
    before = filesystem_changes(container)

    result = _run(inventory, tmp_path)

    assert_refused_without_change(result, expected, case, container, before)
    assert "Q" * 58 not in result.stdout + result.stderr, f"{case}: a key given as a recipient was printed"
    assert not controller["pki_dir"].exists(), f"{case}: the CA was created on the controller"
    assert not controller["store"].exists(), f"{case}: the key store directory was created"
