# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure rotation logic (module_utils/_rotation.py) and secret_rotate's input validation."""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

import pytest
from ansible_collections.orcaqueen.swarm.plugins.module_utils import _rotation as rot
from ansible_collections.orcaqueen.swarm.plugins.module_utils._vault import VaultConfig
from ansible_collections.orcaqueen.swarm.plugins.modules import secret_rotate

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * 86400),
        ("12h", 43200),
        ("15m", 900),
        ("90s", 90),
        ("1w", 604800),
        ("1d12h", 129600),
        ("0", 0),
        (None, 0),
        (3600, 3600),
        (" 2D ", 172800),
    ],
)
def test_durations(text: str | int | None, seconds: int) -> None:
    assert rot.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "30 days", "d", "-1d", "1.5h", "1y", "12h30", "", "P30D", True])
def test_bad_durations(text: str) -> None:
    with pytest.raises(rot.RotationError, match="invalid duration"):
        rot.parse_duration(text)


@pytest.mark.parametrize("path", ["swarm/litellm/master_key", "a", "swarm/vllm/hf.token", "x-1/y_2"])
def test_good_paths(path: str) -> None:
    assert rot.validate_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/swarm/x",
        "swarm/x/",
        "swarm//x",
        "swarm/../x",
        "swarm/./x",
        "swarm/x y",
        "swarm/ä",
        " swarm/x",
        "swarm/x?y",
        "swarm/*",
        "swarm/.hidden",
        "swarm/-x",
    ],
)
def test_bad_paths(path: str) -> None:
    with pytest.raises(rot.RotationError, match="invalid secret path"):
        rot.validate_path(path)


@pytest.mark.parametrize("key", ["value", "api_key", "token.v2", "_x"])
def test_good_keys(key: str) -> None:
    assert rot.validate_key(key) == key


@pytest.mark.parametrize("key", ["", "a b", ".x", "-x", "a/b", "a=b"])
def test_bad_keys(key: str) -> None:
    with pytest.raises(rot.RotationError, match="invalid key"):
        rot.validate_key(key)


@pytest.mark.parametrize("mount", ["secret", "kv", "/secret/"])
def test_good_mounts(mount: str) -> None:
    assert rot.validate_mount(mount) == mount.strip("/")


@pytest.mark.parametrize("mount", ["", "a/b", "a b", ".."])
def test_bad_mounts(mount: str) -> None:
    with pytest.raises(rot.RotationError, match="invalid KV mount"):
        rot.validate_mount(mount)


def test_generate_value() -> None:
    values = {rot.generate_value(32, "sk-") for _i in range(50)}
    assert len(values) == 50
    for value in values:
        assert value.startswith("sk-") and len(value) == 3 + 43
        assert all(c.isalnum() or c in "-_" for c in value)


@pytest.mark.parametrize(("nbytes", "prefix"), [(31, ""), (0, ""), (32, "sk /"), (32, "a\nb")])
def test_generate_rejects(nbytes: int, prefix: str) -> None:
    with pytest.raises(rot.RotationError):
        rot.generate_value(nbytes, prefix)


def test_fingerprint() -> None:
    assert rot.fingerprint("abc") == hashlib.sha256(b"abc").hexdigest()[:12]
    assert len(rot.fingerprint("x")) == 12


def test_vault_time() -> None:
    parsed = rot.parse_vault_time("2025-01-31T12:00:00.123456789Z")
    assert parsed == datetime.datetime(2025, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)
    assert rot.parse_vault_time("2025-01-31T12:00:00Z") == datetime.datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert rot.parse_vault_time(None) is None
    with pytest.raises(rot.RotationError):
        rot.parse_vault_time("yesterday")


def test_decide() -> None:
    now = datetime.datetime(2025, 2, 1, tzinfo=UTC)
    young = now - datetime.timedelta(days=2)
    old = now - datetime.timedelta(days=40)
    assert rot.decide(False, None, 0, False, now)[0] is True
    assert rot.decide(True, young, 30 * 86400, False, now)[:2] == (
        False,
        "current version is 172800s old, younger than min_age (2592000s)",
    )
    assert rot.decide(True, young, 30 * 86400, True, now)[0] is True
    assert rot.decide(True, old, 30 * 86400, False, now) == (True, "older than min_age", 40 * 86400)
    assert rot.decide(True, young, 0, False, now)[0] is True


def test_audit_record_and_file(tmp_path: Path) -> None:
    when = datetime.datetime(2025, 2, 1, 8, 30, tzinfo=UTC)
    record = rot.audit_record(
        when=when,
        who="alice",
        url="https://oracle:8200",
        mount="secret",
        path="swarm/a",
        key="value",
        previous_version=3,
        version=4,
        reason="monthly",
        fingerprint_value="0123456789ab",
    )
    log = tmp_path / "audit.jsonl"
    rot.append_audit(str(log), record)
    rot.append_audit(str(log), record)
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0]) == record
    assert record["time"] == "2025-02-01T08:30:00Z" and "value" not in {k for k in record if k != "key"}
    assert log.stat().st_mode & 0o777 == 0o640


def test_audit_log_unwritable_is_clear(tmp_path: Path) -> None:
    with pytest.raises(rot.RotationError, match="cannot open the audit log"):
        rot.open_audit(str(tmp_path / "missing-dir" / "audit.jsonl"))


def test_custom_metadata_is_strings() -> None:
    meta = rot.custom_metadata(datetime.datetime(2025, 2, 1, tzinfo=UTC), "bob", "leak", None, "value", "abc")
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["previous_version"] == "0"


# --------------------------------------------------------------------------- module-level validation
def params(**overrides: object) -> dict[str, object]:
    base = {
        "mount": "secret",
        "path": "swarm/a",
        "key": "value",
        "min_age": "30d",
        "grace": "15m",
        "generate": 32,
        "prefix": "",
        "value": None,
        "keep_versions": 10,
        "reason": "scheduled rotation",
    }
    base.update(overrides)
    return base


def test_module_validate_ok() -> None:
    assert secret_rotate.validate(params()) == {
        "mount": "secret",
        "path": "swarm/a",
        "key": "value",
        "min_age": 30 * 86400,
        "grace": 900,
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_age": "soon"}, "invalid duration"),
        ({"grace": "later"}, "invalid duration"),
        ({"path": "a//b"}, "invalid secret path"),
        ({"generate": 8}, "at least 32"),
        ({"keep_versions": 0}, "keep_versions"),
        ({"reason": " "}, "reason"),
    ],
)
def test_module_validate_rejects(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(rot.RotationError, match=message):
        secret_rotate.validate(params(**overrides))


def test_secret_options_are_no_log() -> None:
    spec = secret_rotate.ARGUMENT_SPEC
    assert spec["value"]["no_log"] is True and spec["token"]["no_log"] is True and spec["secret_id"]["no_log"] is True
    assert spec["validate_certs"]["default"] is True


def test_tls_verification_only_off_when_asked() -> None:
    assert VaultConfig(url="https://x").verify is True
    assert VaultConfig(url="https://x", ca_cert="/ca.pem").verify == "/ca.pem"
    assert VaultConfig(url="https://x", ca_cert="/ca.pem", validate_certs=False).verify is False
    assert "s3cr3t-t0k" not in repr(VaultConfig(url="https://x", token="s3cr3t-t0k"))
