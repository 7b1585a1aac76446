# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check a Qdrant configuration written by orcaqueen.swarm.qdrant (the role's `validate:` command).

  qdrant-config-check [--allow-wildcard-bind] (--cluster | --single) FILE

Qdrant has no configuration check of its own. The role writes the file as JSON after a block of
`#` comment lines; JSON is valid YAML 1.2 and means the same data to Qdrant's YAML parser. This
program parses it with the standard library and checks what the role guarantees: the sections
and their types, ports 1-65535 and distinct, absolute paths, TLS on for the API and for p2p,
telemetry off, no API key in the file (the keys come from vault-agent's environment file), no
wildcard bind unless allowed, and cluster mode as expected. Exit 0 when valid; otherwise every
problem on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from typing import Any

LOG_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}
KEY_NAMES = {"api_key", "read_only_api_key", "alt_api_key"}


def load(path: str) -> Any:
    """The JSON document after the leading comment lines."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise SystemExit(f"{path}: cannot read it: {exc.strerror}") from exc
    first = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), len(lines))
    body = "\n".join(lines[first:])
    try:
        return json.loads(body)
    except ValueError as exc:
        raise SystemExit(f"{path}: not valid JSON/YAML after the comments: {exc}") from exc


def _get(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check(config: Any, cluster: bool, allow_wildcard: bool) -> list[str]:
    if not isinstance(config, dict):
        return ["the document is not a mapping"]
    problems: list[str] = []
    for section in ("storage", "service", "cluster", "tls"):
        if not isinstance(config.get(section), dict):
            problems.append(f"section {section} is missing or not a mapping")
    if problems:
        return problems

    if config.get("log_level") not in LOG_LEVELS:
        problems.append(f"log_level must be one of {sorted(LOG_LEVELS)}")
    if config.get("telemetry_disabled") is not True:
        problems.append("telemetry_disabled must be true")

    for dotted in ("storage.storage_path", "storage.snapshots_path", "tls.cert", "tls.key", "tls.ca_cert"):
        value = _get(config, dotted)
        if not isinstance(value, str) or not value.startswith("/"):
            problems.append(f"{dotted} must be an absolute path")
    if _get(config, "storage.storage_path") == _get(config, "storage.snapshots_path"):
        problems.append("storage.storage_path and storage.snapshots_path must differ")

    ports = {}
    for dotted in ("service.http_port", "service.grpc_port", "cluster.p2p.port"):
        value = _get(config, dotted)
        if not _is_int(value) or not 0 < value < 65536:
            problems.append(f"{dotted} must be a port 1-65535")
        else:
            ports[dotted] = value
    if len(set(ports.values())) != len(ports):
        problems.append(f"ports must differ: {ports}")

    host = _get(config, "service.host")
    try:
        address = ipaddress.ip_address(host)
    except (TypeError, ValueError):
        problems.append(f"service.host must be an IP address, got {host!r}")
    else:
        if address.is_unspecified and not allow_wildcard:
            problems.append(
                f"service.host is {host}: every address; bind to one (or allow it with qdrant_allow_wildcard_bind)"
            )

    for dotted in ("service.enable_tls", "cluster.p2p.enable_tls"):
        if _get(config, dotted) is not True:
            problems.append(f"{dotted} must be true (TLS cannot be turned off)")
    if _get(config, "cluster.enabled") is not cluster:
        problems.append(f"cluster.enabled must be {str(cluster).lower()} for this host list")

    present = sorted(KEY_NAMES & set(config["service"]))
    if present:
        problems.append(
            f"service.{', service.'.join(present)} must not be in the file"
            " (the keys come from vault-agent's environment file)"
        )

    collection = _get(config, "storage.collection") or {}
    numbers = {
        k: collection.get(k) for k in ("shard_number_per_node", "replication_factor", "write_consistency_factor")
    }
    for name, value in numbers.items():
        if not _is_int(value) or value < 1:
            problems.append(f"storage.collection.{name} must be an integer >= 1")
    if (
        all(_is_int(v) for v in numbers.values())
        and numbers["write_consistency_factor"] > numbers["replication_factor"]
    ):
        problems.append("storage.collection.write_consistency_factor must not exceed replication_factor")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="qdrant-config-check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--cluster", action="store_true", help="the host list has several hosts: distributed mode")
    mode.add_argument("--single", action="store_true", help="one host: no distributed mode")
    parser.add_argument("--allow-wildcard-bind", action="store_true")
    parser.add_argument("file")
    args = parser.parse_args(argv)
    problems = check(load(args.file), args.cluster, args.allow_wildcard_bind)
    for problem in problems:
        print(f"{args.file}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{args.file}: valid Qdrant configuration")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
