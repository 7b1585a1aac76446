# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/vault_agent/files/vault_agent_health.py: the agent health metrics for the textfile collector.

The Vault CLI is a stand-in shell script here (the real agent and Vault run in the `vault` and `swarm`
scenarios, where the swarm verifier reads these metrics from Prometheus).
"""

from __future__ import annotations

import importlib.util
import json
import stat
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles/vault_agent/files/vault_agent_health.py"
SPEC = importlib.util.spec_from_file_location("vault_agent_health", SCRIPT)
health = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(health)

LOOKUP = {"data": {"ttl": 86107, "period": 86400, "last_renewal_time": 1796642235, "creation_time": 1796600000}}


def fake_cli(tmp_path: Path, accepted_token: str) -> Path:
    """A CLI that answers `token lookup -format=json` for one token only, like Vault would."""
    cli = tmp_path / "bao"
    cli.write_text(
        "#!/bin/sh\n"
        f'[ "$1 $2 $3" = "token lookup -format=json" ] && [ "$VAULT_TOKEN" = "{accepted_token}" ] '
        f"&& [ -n \"$VAULT_ADDR\" ] && [ -n \"$VAULT_CACERT\" ] || {{ echo 'permission denied' >&2; exit 2; }}\n"
        f"echo '{json.dumps(LOOKUP)}'\n"
    )
    cli.chmod(cli.stat().st_mode | stat.S_IXUSR)
    return cli


def run(tmp_path: Path, token: str, accepted: str = "s.good") -> dict[str, int]:
    out = tmp_path / "textfile"
    out.mkdir(exist_ok=True)
    (tmp_path / "token").write_text(token + "\n")
    code = health.main([
        "--binary", str(fake_cli(tmp_path, accepted)), "--addr", "https://127.0.0.1:8200",
        "--ca-cert", str(tmp_path / "ca.pem"), "--token-file", str(tmp_path / "token"),
        "--textfile-dir", str(out), "--unit", "orcaqueen-no-such-unit.service",
    ])
    assert code == 0
    assert [p.name for p in out.iterdir()] == ["vault_agent.prom"], "one file, no temporary left behind"
    assert oct((out / "vault_agent.prom").stat().st_mode & 0o777) == "0o644"
    text = (out / "vault_agent.prom").read_text()
    assert not token or token not in text
    values = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            name, value = line.split()
            values[name.removeprefix("orcaqueen_vault_agent_")] = int(value)
    return values


def test_valid_token(tmp_path):
    values = run(tmp_path, "s.good")
    assert values["token_valid"] == 1
    assert values["token_ttl_seconds"] == 86107
    assert values["token_period_seconds"] == 86400
    assert values["token_last_renewal_timestamp_seconds"] == 1796642235
    assert values["up"] == 0  # the unit does not exist here
    assert values["check_timestamp_seconds"] > 1_700_000_000


def test_refused_token(tmp_path):
    values = run(tmp_path, "s.revoked")
    assert values["token_valid"] == 0
    assert values["token_ttl_seconds"] == 0
    assert "token_last_renewal_timestamp_seconds" not in values


def test_empty_token_file(tmp_path):
    assert run(tmp_path, "")["token_valid"] == 0


def test_no_textfile_dir(tmp_path, capsys):
    code = health.main([
        "--binary", "/nonexistent", "--addr", "https://127.0.0.1:8200", "--ca-cert", "/nonexistent",
        "--token-file", "/nonexistent", "--textfile-dir", str(tmp_path / "absent"),
    ])
    assert code == 0
    assert "nothing written" in capsys.readouterr().out
    assert not (tmp_path / "absent").exists()
