# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Snapshots of one Qdrant node (installed by the orcaqueen.swarm.qdrant role; standard library only).

  qdrant-snapshot create --url URL --ca FILE [--cert FILE --key FILE] --keep N [--timeout SECONDS]
      Create a full snapshot through the API, then delete the oldest full snapshots beyond N and,
      per collection, the oldest collection snapshots beyond N (a full snapshot leaves one per
      collection behind). The read-write API key comes from the environment variable
      QDRANT__SERVICE__API_KEY (vault-agent's file, read by systemd); it is never printed. --cert and
      --key present the node's certificate, for a server that requires client certificates.
  qdrant-snapshot metric --textfile-dir DIR --name NAME --max-age SECONDS
      Write the gauges of the BackupTooOld alert for the node exporter's textfile collector
      (atomically); nothing when DIR does not exist.
  qdrant-snapshot inspect --snapshot FILE
      Print JSON {"kind": "full"|"collection", "collections": [...]} for a snapshot file.
  qdrant-snapshot extract --snapshot FILE --collection NAME --dest FILE
      Copy the snapshot of one collection out of a full snapshot; prints its sha256.

Exit status 0 on success, 1 on a failure (with a message on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import ssl
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

KEY_VARIABLE = "QDRANT__SERVICE__API_KEY"
FULL_CONFIG = "config.json"
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Failure(Exception):
    """A failure with a message for the operator."""


# ---- API ------------------------------------------------------------------------------------


class Api:
    """The REST API of one node over TLS (CA-verified), with the API key from the environment."""

    def __init__(self, url: str, ca: str, timeout: int, cert: str | None = None, key_file: str | None = None) -> None:
        key = os.environ.get(KEY_VARIABLE, "")
        if not key:
            raise Failure(
                f"{KEY_VARIABLE} is not set: run through qdrant-snapshot.service (EnvironmentFile of vault-agent)"
            )
        self._base = url.rstrip("/")
        self._key = key
        self._timeout = timeout
        try:
            self._context = ssl.create_default_context(cafile=ca)
            if cert:
                self._context.load_cert_chain(cert, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise Failure(f"cannot load the CA file {ca} or the client certificate {cert}: {exc}") from exc

    def call(self, method: str, path: str, timeout: int | None = None) -> Any:
        request = urllib.request.Request(
            self._base + path,
            method=method,
            data=b"" if method in ("POST", "PUT") else None,
            headers={"api-key": self._key, "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=timeout or self._timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise Failure(f"{method} {path}: HTTP {exc.code} {_qdrant_error(exc.read())}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise Failure(f"{method} {path}: {getattr(exc, 'reason', exc)}") from exc
        try:
            return json.loads(body or b"{}").get("result")
        except ValueError as exc:
            raise Failure(f"{method} {path}: the answer is not JSON") from exc


def _qdrant_error(body: bytes) -> str:
    try:
        status = json.loads(body).get("status")
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(status, dict) and "error" in status:
        return str(status["error"])
    return str(status)


def _newest_first(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(snapshots, key=lambda s: (str(s.get("creation_time") or ""), str(s.get("name"))), reverse=True)


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def create(api: Api, keep: int, timeout: int) -> None:
    started = time.monotonic()
    created = api.call("POST", "/snapshots?wait=true", timeout=timeout) or {}
    name = created.get("name")
    if not name:
        raise Failure("POST /snapshots answered without a snapshot name")
    print(f"created full snapshot {name} ({created.get('size', '?')} bytes) in {time.monotonic() - started:.1f} s")

    full = _newest_first(api.call("GET", "/snapshots") or [])
    for old in [s for s in full[keep:] if s.get("name") != name]:
        api.call("DELETE", f"/snapshots/{_quote(old['name'])}?wait=true")
        print(f"deleted full snapshot {old['name']}")

    collections = (api.call("GET", "/collections") or {}).get("collections", [])
    for collection in sorted(c["name"] for c in collections):
        snapshots = _newest_first(api.call("GET", f"/collections/{_quote(collection)}/snapshots") or [])
        for old in snapshots[keep:]:
            api.call("DELETE", f"/collections/{_quote(collection)}/snapshots/{_quote(old['name'])}?wait=true")
            print(f"deleted snapshot {old['name']} of collection {collection}")
    kept = [s["name"] for s in _newest_first(api.call("GET", "/snapshots") or [])]
    print(f"full snapshots kept ({len(kept)} of at most {keep}): {', '.join(kept)}")


# ---- metric ------------------------------------------------------------------------------------


def metric(directory: str, name: str, max_age: int) -> None:
    if not PLAIN_NAME.match(name):
        raise Failure(f"invalid backup name {name!r}")
    if not os.path.isdir(directory):
        print(f"{directory} does not exist (no node exporter textfile collector): no gauges written")
        return
    now = time.time()
    text = (
        "# HELP orcaqueen_backup_last_success_timestamp_seconds Unix time of the last successful backup.\n"
        "# TYPE orcaqueen_backup_last_success_timestamp_seconds gauge\n"
        f'orcaqueen_backup_last_success_timestamp_seconds{{backup="{name}"}} {now:.0f}\n'
        "# HELP orcaqueen_backup_max_age_seconds Schedule interval plus grace; older means overdue.\n"
        "# TYPE orcaqueen_backup_max_age_seconds gauge\n"
        f'orcaqueen_backup_max_age_seconds{{backup="{name}"}} {max_age}\n'
    )
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, os.path.join(directory, f"{name}.prom"))
    except OSError:
        os.unlink(temporary)
        raise
    print(f"wrote {os.path.join(directory, name + '.prom')}")


# ---- snapshot files ------------------------------------------------------------------------------


def _full_mapping(archive: tarfile.TarFile) -> dict[str, str] | None:
    """collections_mapping of a full snapshot, None for any other tar (a collection snapshot)."""
    try:
        member = archive.getmember(FULL_CONFIG)
    except KeyError:
        return None
    handle = archive.extractfile(member)
    if handle is None:
        return None
    try:
        data = json.loads(handle.read())
    except ValueError:
        return None
    mapping = data.get("collections_mapping") if isinstance(data, dict) else None
    return mapping if isinstance(mapping, dict) else None


def _open(path: str) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (OSError, tarfile.TarError) as exc:
        raise Failure(f"{path} is not a Qdrant snapshot (a tar file): {exc}") from exc


def inspect(path: str) -> None:
    with _open(path) as archive:
        mapping = _full_mapping(archive)
    if mapping is None:
        print(json.dumps({"kind": "collection", "collections": []}))
    else:
        print(json.dumps({"kind": "full", "collections": sorted(mapping)}))


def extract(path: str, collection: str, dest: str) -> None:
    with _open(path) as archive:
        mapping = _full_mapping(archive)
        if mapping is None:
            raise Failure(f"{path} is not a full snapshot (no {FULL_CONFIG} with collections_mapping)")
        if collection not in mapping:
            raise Failure(
                f"the full snapshot {path} has no collection {collection!r};"
                f" it has: {', '.join(sorted(mapping)) or 'none'}"
            )
        member_name = mapping[collection]
        if not PLAIN_NAME.match(member_name):
            raise Failure(f"unexpected member name {member_name!r} in {path}")
        source = archive.extractfile(archive.getmember(member_name))
        if source is None:
            raise Failure(f"{member_name} in {path} is not a file")
        digest = hashlib.sha256()
        fd, temporary = tempfile.mkstemp(prefix=".restore.", dir=os.path.dirname(os.path.abspath(dest)))
        try:
            with os.fdopen(fd, "wb") as target:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    digest.update(chunk)
                    target.write(chunk)
            os.replace(temporary, dest)
        except OSError:
            os.unlink(temporary)
            raise
    print(json.dumps({"member": member_name, "dest": dest, "sha256": digest.hexdigest()}))


# ---- command line ------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qdrant-snapshot", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("create")
    sub.add_argument("--url", required=True)
    sub.add_argument("--ca", required=True)
    sub.add_argument("--cert")
    sub.add_argument("--key")
    sub.add_argument("--timeout", type=int, default=3600)
    sub.add_argument("--keep", type=int, required=True)
    sub = commands.add_parser("metric")
    sub.add_argument("--textfile-dir", required=True)
    sub.add_argument("--name", required=True)
    sub.add_argument("--max-age", type=int, required=True)
    sub = commands.add_parser("inspect")
    sub.add_argument("--snapshot", required=True)
    sub = commands.add_parser("extract")
    sub.add_argument("--snapshot", required=True)
    sub.add_argument("--collection", required=True)
    sub.add_argument("--dest", required=True)
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "create":
            if args.keep < 1:
                raise Failure("--keep must be 1 or more")
            create(Api(args.url, args.ca, 60, args.cert, args.key), args.keep, args.timeout)
        elif args.command == "metric":
            metric(args.textfile_dir, args.name, args.max_age)
        elif args.command == "inspect":
            inspect(args.snapshot)
        else:
            extract(args.snapshot, args.collection, args.dest)
    except Failure as exc:
        print(f"qdrant-snapshot {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
