# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health of this node's vault agent, as node exporter textfile metrics.

Run by vault-agent-health.timer (installed by orcaqueen.swarm.vault_agent). It asks Vault about the
agent's own token (token lookup-self with the token the agent keeps in its sink file) and asks systemd
whether the agent runs, then replaces <textfile dir>/vault_agent.prom in one rename:

  orcaqueen_vault_agent_up                        1 when vault-agent.service is active
  orcaqueen_vault_agent_token_valid               1 when Vault accepts the agent's token
  orcaqueen_vault_agent_token_ttl_seconds         seconds the token has left (0 when not valid)
  orcaqueen_vault_agent_token_period_seconds      the token's period (0 when not periodic or unknown)
  orcaqueen_vault_agent_token_last_renewal_timestamp_seconds  Unix time of the last renewal (or creation)
  orcaqueen_vault_agent_check_timestamp_seconds   Unix time of this check

The rules in roles/prometheus/files/rules/vault_agent.yml alert on them (docs/monitoring.md). Nothing
secret is written: the token is passed to the CLI in its environment only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HELP = {
    "up": "1 when vault-agent.service is active.",
    "token_valid": "1 when Vault accepts the agent's token (token lookup-self), else 0.",
    "token_ttl_seconds": "Seconds the agent's token has left; 0 when it is not valid.",
    "token_period_seconds": "Period of the agent's token; 0 when it is not periodic or not valid.",
    "token_last_renewal_timestamp_seconds": "Unix time of the token's last renewal (its creation before one).",
    "check_timestamp_seconds": "Unix time of this check.",
}


def lookup(args: argparse.Namespace) -> dict | None:
    """The token's lookup-self data, or None when Vault does not accept it (or cannot be asked)."""
    try:
        with open(args.token_file, encoding="ascii") as handle:
            token = handle.read().strip()
    except OSError as err:
        return said(f"cannot read the token file: {err}")
    if not token:
        return said(f"{args.token_file} is empty")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "VAULT_ADDR": args.addr,
        "VAULT_CACERT": args.ca_cert,
        "VAULT_TOKEN": token,
        "VAULT_CLIENT_TIMEOUT": "10s",
    }
    try:
        result = subprocess.run(
            [args.binary, "token", "lookup", "-format=json"],
            env=env, capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return said(f"token lookup did not run: {err}")
    if result.returncode != 0:
        return said(f"token lookup refused (exit {result.returncode}): {result.stderr.strip()[-300:]}")
    try:
        return json.loads(result.stdout)["data"]
    except (ValueError, KeyError, TypeError) as err:
        return said(f"token lookup answered something else: {err}")


def said(reason: str) -> None:
    """Say on stderr (the unit's journal) why the token counts as not valid."""
    print(f"vault agent token not valid: {reason}", file=sys.stderr)


def number(value: object) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def metrics(args: argparse.Namespace, now: float) -> str:
    try:
        active = subprocess.run(
            ["systemctl", "is-active", "--quiet", args.unit], check=False, timeout=30
        ).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        active = False
    data = lookup(args)
    values = {
        "up": int(active),
        "token_valid": int(data is not None),
        "token_ttl_seconds": number(data.get("ttl")) if data else 0,
        "token_period_seconds": number(data.get("period")) if data else 0,
        "check_timestamp_seconds": int(now),
    }
    if data:
        renewed = number(data.get("last_renewal_time")) or number(data.get("creation_time"))
        if renewed:
            values["token_last_renewal_timestamp_seconds"] = renewed
    lines = []
    for key in HELP:
        if key in values:
            name = "orcaqueen_vault_agent_" + key
            lines += [f"# HELP {name} {HELP[key]}", f"# TYPE {name} gauge", f"{name} {values[key]}"]
    return "\n".join(lines) + "\n"


def write(directory: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".vault_agent.prom.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(directory, "vault_agent.prom"))
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--addr", required=True)
    parser.add_argument("--ca-cert", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--textfile-dir", required=True)
    parser.add_argument("--unit", default="vault-agent.service")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.textfile_dir):
        print(f"{args.textfile_dir} does not exist (no node exporter here yet): nothing written")
        return 0
    text = metrics(args, time.time())
    write(args.textfile_dir, text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
