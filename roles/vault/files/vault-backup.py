# Copyright (c) 2026, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Encrypted raft snapshots of a Vault/OpenBao server (installed by orcaqueen.swarm.vault; standard library
plus the `age` program).

  vault-backup create --url URL --ca FILE --token-file FILE --recipients-file FILE --dir DIR --keep N
                      [--timeout SECONDS]
      Renew the backup token (periodic: each run keeps it alive), stream GET /v1/sys/storage/raft/snapshot
      straight into `age -R FILE` (the plain snapshot never touches the disk), publish the result as
      DIR/vault-<UTC time>.snap.age only when both succeeded, then delete the oldest beyond N.
  vault-backup metric --textfile-dir DIR --name NAME --max-age SECONDS
      The gauges of the BackupTooOld alert for the node exporter's textfile collector (atomically);
      nothing when DIR does not exist.

Exit status 0 on success, 1 on a failure (with a message on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

PREFIX = "vault-"
SUFFIX = ".snap.age"
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CHUNK = 1 << 20


class Failure(Exception):
    """A failure with a message for the operator."""


def _request(url: str, ca: str, token: str, method: str, timeout: int) -> urllib.response.addinfourl:
    context = ssl.create_default_context(cafile=ca)
    request = urllib.request.Request(url, method=method, headers={"X-Vault-Token": token})
    try:
        return urllib.request.urlopen(request, context=context, timeout=timeout)
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode("utf-8", "replace")
        raise Failure(f"{method} {url}: HTTP {exc.code} {body.strip()}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise Failure(f"{method} {url}: {exc}") from exc


def snapshots(directory: str) -> list[str]:
    """The published snapshot files of DIR, oldest first (their names sort by time)."""
    return sorted(n for n in os.listdir(directory) if n.startswith(PREFIX) and n.endswith(SUFFIX))


def prune(directory: str, keep: int) -> list[str]:
    """Delete the oldest snapshots beyond KEEP; returns the names deleted."""
    names = snapshots(directory)
    old = names[: max(len(names) - keep, 0)]
    for name in old:
        os.unlink(os.path.join(directory, name))
    return old


def create(args: argparse.Namespace) -> None:
    if args.keep < 1:
        raise Failure("--keep must be at least 1")
    if not args.url.startswith("https://"):
        raise Failure(f"--url must be https:// (got {args.url})")
    age = shutil.which("age")
    if not age:
        raise Failure("the age program is missing (Debian package age)")
    with open(args.token_file, encoding="utf-8") as handle:
        token = handle.read().strip()
    if not token:
        raise Failure(f"{args.token_file} is empty: run the vault role (site.yml --tags vault_backup)")
    base = args.url.rstrip("/")
    with _request(f"{base}/v1/auth/token/renew-self", args.ca, token, "POST", args.timeout) as answer:
        ttl = json.load(answer).get("auth", {}).get("lease_duration", 0)

    final = os.path.join(args.dir, time.strftime(f"{PREFIX}%Y%m%dT%H%M%SZ{SUFFIX}", time.gmtime()))
    partial = os.path.join(args.dir, f".partial-{os.getpid()}{SUFFIX}")
    started = time.monotonic()
    try:
        with (
            _request(f"{base}/v1/sys/storage/raft/snapshot", args.ca, token, "GET", args.timeout) as answer,
            subprocess.Popen(
                [age, "--encrypt", "-R", args.recipients_file, "-o", partial],
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ) as encrypt,
        ):
            assert encrypt.stdin is not None  # for the type checker
            size = 0
            try:
                while chunk := answer.read(CHUNK):
                    size += len(chunk)
                    encrypt.stdin.write(chunk)
            finally:
                encrypt.stdin.close()
            error = encrypt.stderr.read().decode("utf-8", "replace") if encrypt.stderr else ""
            if encrypt.wait() != 0:
                raise Failure(f"age failed: {error.strip()}")
        if size == 0:
            raise Failure("Vault sent an empty snapshot")
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, final)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    deleted = prune(args.dir, args.keep)
    print(
        f"snapshot {final}: {size} bytes from Vault, {os.path.getsize(final)} encrypted, "
        f"{time.monotonic() - started:.1f} s; backup token renewed ({ttl} s); "
        f"deleted {len(deleted)} older; kept {len(snapshots(args.dir))} of at most {args.keep}"
    )


def metric(args: argparse.Namespace) -> None:
    if not PLAIN_NAME.match(args.name):
        raise Failure(f"invalid backup name {args.name!r}")
    if not os.path.isdir(args.textfile_dir):
        print(f"{args.textfile_dir} does not exist (no node exporter textfile collector): no gauges written")
        return
    lines = [
        (
            "orcaqueen_backup_last_success_timestamp_seconds",
            "Unix time of the last successful backup.",
            f"{time.time():.0f}",
        ),
        ("orcaqueen_backup_max_age_seconds", "Schedule interval plus grace; older means overdue.", str(args.max_age)),
    ]
    text = "".join(
        f'# HELP {name} {text}\n# TYPE {name} gauge\n{name}{{backup="{args.name}"}} {value}\n'
        for name, text, value in lines
    )
    target = os.path.join(args.textfile_dir, f"{args.name}.prom")
    temporary = f"{target}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)
    print(f"wrote {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vault-backup", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create")
    make.add_argument("--url", required=True)
    make.add_argument("--ca", required=True)
    make.add_argument("--token-file", required=True)
    make.add_argument("--recipients-file", required=True)
    make.add_argument("--dir", required=True)
    make.add_argument("--keep", type=int, required=True)
    make.add_argument("--timeout", type=int, default=300)
    gauge = commands.add_parser("metric")
    gauge.add_argument("--textfile-dir", required=True)
    gauge.add_argument("--name", required=True)
    gauge.add_argument("--max-age", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        {"create": create, "metric": metric}[args.command](args)
    except (Failure, OSError) as exc:
        print(f"vault-backup {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
