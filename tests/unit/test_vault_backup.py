# Copyright (c) 2026, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/vault/files/vault-backup.py: retention, the BackupTooOld gauges and refusals before any work.

The snapshot itself (a real OpenBao raft snapshot streamed into the real `age`, then restored into a
wiped server) runs in the `swarm` scenario (molecule/swarm/verify_vault_backup.yml); `age` and a raft
server are not on the controller.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles/vault/files/vault-backup.py"
SPEC = importlib.util.spec_from_file_location("vault_backup", SCRIPT)
backup = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(backup)


def touch(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_bytes(b"age-encryption.org/v1\n")


def test_prune_keeps_the_newest_and_leaves_other_files(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "vault-20261201T023000Z.snap.age",
        "vault-20261203T023000Z.snap.age",
        "vault-20261202T023000Z.snap.age",
        "vault-20261204T023000Z.snap.age",
        ".partial-77.snap.age",
        "notes.txt",
    )
    deleted = backup.prune(str(tmp_path), 2)
    assert deleted == ["vault-20261201T023000Z.snap.age", "vault-20261202T023000Z.snap.age"]
    assert sorted(os.listdir(tmp_path)) == [
        ".partial-77.snap.age",
        "notes.txt",
        "vault-20261203T023000Z.snap.age",
        "vault-20261204T023000Z.snap.age",
    ]
    assert backup.prune(str(tmp_path), 5) == []


def test_metric_writes_both_gauges(tmp_path: Path) -> None:
    assert backup.main(["metric", "--textfile-dir", str(tmp_path), "--name", "vault", "--max-age", "93600"]) == 0
    text = (tmp_path / "vault.prom").read_text()
    assert 'orcaqueen_backup_max_age_seconds{backup="vault"} 93600\n' in text
    assert "# TYPE orcaqueen_backup_last_success_timestamp_seconds gauge\n" in text
    assert oct((tmp_path / "vault.prom").stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["vault.prom"], "a temporary file was left behind"


def test_metric_without_a_collector_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent"
    assert backup.main(["metric", "--textfile-dir", str(missing), "--name", "vault", "--max-age", "60"]) == 0
    assert not missing.exists()
    assert "no gauges written" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["metric", "--textfile-dir", "/tmp", "--name", "vault} 1\nx", "--max-age", "60"], "invalid backup name"),
        (["create", "--keep", "0"], "--keep must be at least 1"),
        (["create", "--keep", "3", "--url", "http://127.0.0.1:8200"], "--url must be https://"),
    ],
)
def test_refusals(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if argv[0] == "create":
        argv = [
            *argv,
            *(["--url", "https://127.0.0.1:8200"] if "--url" not in argv else []),
            *["--ca", "ca.crt", "--token-file", str(tmp_path / "t"), "--recipients-file", "r", "--dir", str(tmp_path)],
        ]
    assert backup.main(argv) == 1
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("vault-*.snap.age"))


def test_create_refuses_an_empty_token_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "backup.token"
    token.write_text("\n")
    monkeypatch.setattr(backup.shutil, "which", lambda name: "/usr/bin/age")
    argv = ["create", "--url", "https://127.0.0.1:8200", "--ca", "ca.crt", "--token-file", str(token)]
    argv += ["--recipients-file", "r", "--dir", str(tmp_path), "--keep", "2"]
    assert backup.main(argv) == 1
    assert "is empty: run the vault role" in capsys.readouterr().err
