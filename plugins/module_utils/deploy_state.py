# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Deployment-state records of orcaqueen.swarm.

One JSON file per component under a state directory (default
``/var/lib/orcaqueen/state/<component>.json``)::

    {"schema": 1, "component": "vllm",
     "current": {"version": ..., "config_checksum": ..., "release_path": ...,
                 "extra": {...}, "deployed_at": "2025-01-01T00:00:00Z", "deployed_by": ...},
     "history": [<previous current>, <the one before>, ...]}   # newest first

This file holds the pure logic (no AnsibleModule), shared by the deploy_state module
and by later consumers (rollback, status).  Functions starting with ``_`` are private.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import tempfile
import typing as t

SCHEMA_VERSION = 1
DEFAULT_STATE_DIR = "/var/lib/orcaqueen/state"
COMPONENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
FILE_MODE = 0o640
DIR_MODE = 0o750
# Copies of each deployment's config files: <state_dir>/snapshots/<component>/<config_checksum>/.
SNAPSHOTS = "snapshots"
SNAPSHOT_MODE = 0o700
MANIFEST = "manifest.json"
# The fields of ``current`` that define a deployment; a difference in any of them is a change.
# deployed_at / deployed_by describe the run, not the deployment, and never cause a change.
COMPARED_FIELDS = ("version", "config_checksum", "release_path", "extra")

Record = dict[str, t.Any]
Mover = t.Callable[[str, str], None]


class StateError(Exception):
    """A state record cannot be read, built or written; the message says what to do."""


def validate_component(name: str) -> None:
    """Raise StateError when ``name`` is not a valid component name."""
    if not isinstance(name, str) or not COMPONENT_RE.match(name):
        raise StateError(
            f"invalid component name {name!r}: use lower-case letters, digits, '_' and '-', "
            f"starting with a letter or digit (pattern {COMPONENT_RE.pattern})"
        )


def state_path(state_dir: str, component: str) -> str:
    """Return the path of the state file of ``component``."""
    validate_component(component)
    return os.path.join(state_dir, component + ".json")


def utc_now() -> str:
    """Current UTC time as ISO 8601 with a ``Z`` suffix, second precision."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checksum_files(paths: t.Iterable[str], ignore_missing: bool = False) -> str:
    """One sha256 over several files, independent of the order they are given in.

    Paths are sorted; for each one the path, a NUL, the sha256 of its content and a
    newline are fed into the outer sha256, so renaming or editing any file changes it.
    With ``ignore_missing``, paths that are not regular files are left out (a file that
    appears later changes the checksum); otherwise a missing file is an error.
    """
    outer = hashlib.sha256()
    for path in sorted(set(paths)):
        if not os.path.isfile(path):
            if ignore_missing:
                continue
            raise StateError(
                f"config file {path} does not exist or is not a regular file; "
                "deploy it before recording the state, or drop it from config_files"
            )
        outer.update(path.encode("utf-8") + b"\0")
        outer.update(_sha256_file(path).encode("ascii") + b"\n")
    return outer.hexdigest()


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(65536), b""):
                digest.update(chunk)
    except OSError as exc:
        raise StateError(f"cannot read config file {path}: {exc}") from exc
    return digest.hexdigest()


def _normalise(value: t.Any) -> t.Any:
    """JSON round trip, so a value compares equal to what was stored."""
    try:
        return json.loads(json.dumps(value, sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise StateError(f"value {value!r} cannot be stored as JSON: {exc}") from exc


def build_current(
    version: str,
    config_checksum: str | None,
    release_path: str | None,
    extra: dict[str, t.Any] | None,
    deployed_by: str | None,
    deployed_at: str | None = None,
    link: str | None = None,
    inputs: str | None = None,
) -> Record:
    """Build the ``current`` entry of a record.

    ``link`` is the ``current`` symlink that points at ``release_path`` (what a restore
    re-points); it is stored, not compared (it follows from the role's install directory).
    ``inputs`` is the digest of what the role's converge depended on (lookup converge_inputs);
    it is stored, not compared, and lets the next run skip an unchanged converge (``in_sync``).
    """
    entry = {
        "version": version,
        "config_checksum": config_checksum,
        "release_path": release_path,
        "extra": _normalise(extra or {}),
        "deployed_at": deployed_at or utc_now(),
        "deployed_by": deployed_by,
    }
    if link:
        entry["link"] = link
    if inputs:
        entry["inputs"] = inputs
    return entry


def same_deployment(old: Record | None, new: Record) -> bool:
    """True when two ``current`` entries describe the same deployment."""
    if not old:
        return False
    return all(_normalise(old.get(field)) == _normalise(new.get(field)) for field in COMPARED_FIELDS)


def empty_record(component: str) -> Record:
    return {"schema": SCHEMA_VERSION, "component": component, "current": None, "history": []}


def merge(record: Record | None, component: str, new_current: Record, keep_history: int) -> Record:
    """Return the record after deploying ``new_current`` (the input is not modified).

    An identical deployment keeps the stored ``current`` (deployed_at is not bumped);
    a different one pushes the stored ``current`` onto ``history`` (newest first).
    ``history`` is capped at ``keep_history`` entries either way.
    """
    if keep_history < 0:
        raise StateError(f"keep_history must be 0 or more, got {keep_history}")
    base = record or empty_record(component)
    old_current = base.get("current")
    history = list(base.get("history") or [])
    if same_deployment(old_current, new_current):
        current = old_current
        if new_current.get("inputs") and old_current.get("inputs") != new_current["inputs"]:
            current = dict(old_current, inputs=new_current["inputs"])
    else:
        current = new_current
        if old_current:
            history.insert(0, old_current)
    return {
        "schema": SCHEMA_VERSION,
        "component": component,
        "current": current,
        "history": history[:keep_history],
    }


def previous_of(record: Record | None) -> Record | None:
    """What a rollback would return to: the newest history entry, or None."""
    if not record or not record.get("history"):
        return None
    return record["history"][0]


def read_record(path: str) -> Record | None:
    """Load a record; None when the file does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(
            f"cannot read state file {path}: {exc}; run with become: true, or set state_dir to a directory "
            "this user can read"
        ) from exc
    except ValueError as exc:
        raise StateError(
            f"state file {path} is not valid JSON ({exc}); move it aside and re-run the role that "
            "owns the component to record it again"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("history", []), list):
        raise StateError(
            f"state file {path} is not a deployment record; move it aside and re-run the role "
            "that owns the component to record it again"
        )
    return data


def read_all(state_dir: str) -> list[Record]:
    """Load every record in ``state_dir``, sorted by component; [] when the directory is missing."""
    if not os.path.isdir(state_dir):
        return []
    records = []
    for name in sorted(os.listdir(state_dir)):
        component, ext = os.path.splitext(name)
        if ext != ".json" or not COMPONENT_RE.match(component):
            continue
        record = read_record(os.path.join(state_dir, name))
        if record is not None:
            records.append(record)
    return records


def serialise(record: Record) -> str:
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def write_record(path: str, record: Record, mover: Mover) -> None:
    """Write ``record`` atomically: a temp file in the same directory, then ``mover(tmp, path)``.

    ``mover`` is AnsibleModule.atomic_move in the module (os.replace works too).  On any
    failure the temp file is removed and the old file, if any, is left as it was.
    """
    directory = os.path.dirname(path) or "."
    payload = serialise(record).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        mover(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if os.path.exists(tmp):  # a mover that copied instead of renaming
        os.unlink(tmp)


# ---- snapshots of the configuration and restores ------------------------------------------


def snapshot_path(state_dir: str, component: str, config_checksum: str) -> str:
    """Directory holding the copy of the config files of one deployment."""
    validate_component(component)
    if not isinstance(config_checksum, str) or not re.match(r"^[0-9a-f]{64}$", config_checksum):
        raise StateError(f"config checksum {config_checksum!r} is not a sha256 hex digest")
    return os.path.join(state_dir, SNAPSHOTS, component, config_checksum)


def has_snapshot(state_dir: str, component: str, config_checksum: str | None) -> bool:
    if not config_checksum:
        return False
    return os.path.isfile(os.path.join(snapshot_path(state_dir, component, config_checksum), MANIFEST))


def take_snapshot(
    state_dir: str, component: str, config_checksum: str, files: t.Iterable[str], refresh: bool = False
) -> bool:
    """Copy the existing ``files`` into the snapshot of ``config_checksum``; False when it exists.

    With ``refresh``, an existing snapshot is replaced when a file's mode or owner (not part of the
    checksum) changed, or the set of files did: the snapshot of the deployment in place must be
    what a restore puts back and what the fast path compares with.

    The copy is made in a temporary directory beside the target and renamed into place, so a
    snapshot is either complete or absent. Files keep their content; mode and owner are kept
    in the manifest and restored from there. The directories are 0700: config files may hold
    hashes of secrets.
    """
    target = snapshot_path(state_dir, component, config_checksum)
    files = sorted({path for path in files if os.path.isfile(path)})
    if has_snapshot(state_dir, component, config_checksum) and (not refresh or _snapshot_matches(target, files)):
        return False
    parent = os.path.dirname(target)
    for directory in (os.path.join(state_dir, SNAPSHOTS), parent):
        os.makedirs(directory, SNAPSHOT_MODE, exist_ok=True)
        os.chmod(directory, SNAPSHOT_MODE)
    tmp = tempfile.mkdtemp(prefix=".snapshot.", dir=parent)
    try:
        entries = []
        for index, path in enumerate(sorted(set(files))):
            if not os.path.isfile(path):
                continue
            info = os.stat(path)
            name = f"{index:03d}"
            shutil.copyfile(path, os.path.join(tmp, name))
            os.chmod(os.path.join(tmp, name), 0o600)
            entries.append(
                {
                    "path": path,
                    "file": name,
                    "mode": info.st_mode & 0o7777,
                    "uid": info.st_uid,
                    "gid": info.st_gid,
                    "sha256": _sha256_file(path),
                }
            )
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as handle:
            json.dump({"schema": SCHEMA_VERSION, "files": entries}, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        if os.path.isdir(target):  # an outdated snapshot, or an incomplete leftover without a manifest
            old = tempfile.mkdtemp(prefix=".outdated.", dir=parent)
            os.rename(target, os.path.join(old, "snapshot"))
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


def prune_snapshots(state_dir: str, component: str, record: Record) -> list[str]:
    """Remove the snapshots no entry of ``record`` refers to; return the removed checksums."""
    base = os.path.join(state_dir, SNAPSHOTS, component)
    if not os.path.isdir(base):
        return []
    entries = [record.get("current") or {}, *(record.get("history") or [])]
    keep = {entry.get("config_checksum") for entry in entries}
    removed = []
    for name in sorted(os.listdir(base)):
        if name not in keep:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
            removed.append(name)
    return removed


def _file_matches(path: str, entry: dict[str, t.Any]) -> bool:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    return (
        info.st_mode & 0o7777 == entry["mode"]
        and info.st_uid == entry["uid"]
        and info.st_gid == entry["gid"]
        and _sha256_file(path) == entry["sha256"]
    )


def _snapshot_matches(directory: str, files: list[str]) -> bool:
    with open(os.path.join(directory, MANIFEST), encoding="utf-8") as handle:
        entries = json.load(handle)["files"]
    return sorted(entry["path"] for entry in entries) == files and all(
        _file_matches(entry["path"], entry) for entry in entries
    )


def restore_plan(state_dir: str, component: str, config_checksum: str) -> list[dict[str, t.Any]]:
    """The manifest entries of a snapshot whose files differ from the host (content, mode or owner)."""
    directory = snapshot_path(state_dir, component, config_checksum)
    try:
        with open(os.path.join(directory, MANIFEST), encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError as exc:
        raise StateError(
            f"no snapshot of the configuration {config_checksum[:12]} of {component} in {directory}: it was "
            "recorded before snapshots existed or was pruned; deploy that version with its role instead"
        ) from exc
    return [entry for entry in manifest["files"] if not _file_matches(entry["path"], entry)]


def restore_files(state_dir: str, component: str, config_checksum: str, entries: list[dict[str, t.Any]]) -> None:
    """Put the snapshot copies of ``entries`` back, each atomically (temp file + rename)."""
    directory = snapshot_path(state_dir, component, config_checksum)
    for entry in entries:
        dest = entry["path"]
        os.makedirs(os.path.dirname(dest), 0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".restore", dir=os.path.dirname(dest))
        os.close(fd)
        try:
            shutil.copyfile(os.path.join(directory, entry["file"]), tmp)
            os.chown(tmp, entry["uid"], entry["gid"])
            os.chmod(tmp, entry["mode"])
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def link_needs_switch(link: str, release_path: str) -> bool:
    """True when ``link`` does not point at ``release_path``; an error when the release is gone."""
    if os.path.islink(link) and os.readlink(link) == release_path:
        return False
    if not os.path.isdir(release_path):
        raise StateError(
            f"release directory {release_path} is gone: cannot point {link} at it; deploy that version "
            "with its role instead"
        )
    if os.path.lexists(link) and not os.path.islink(link):
        raise StateError(f"{link} exists and is not a symlink; move it aside first")
    return True


def switch_link(link: str, release_path: str) -> None:
    """Point ``link`` at ``release_path`` atomically (a new symlink renamed over the old one)."""
    tmp = f"{link}.orcaqueen-tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(release_path, tmp)
    os.replace(tmp, link)


# systemctl is-enabled answers that count as "starts at boot".
ENABLED_STATES = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated")


def in_sync_reasons(
    state_dir: str,
    component: str,
    inputs: str | None,
    unit_states: t.Callable[[list[str]], list[str]],
    cert_expiring: t.Callable[[str], bool],
    certificates: t.Iterable[str] = (),
    health: t.Callable[[dict[str, t.Any]], list[str]] | None = None,
) -> list[str]:
    """Why the host is not as the last recorded converge left it; empty when it is.

    In sync means: a record exists whose ``inputs`` equal ``inputs``; every config file of its
    snapshot has the recorded content, mode and owner; the release link points at the recorded
    release; every recorded unit is active and enabled; no certificate in ``certificates`` expires
    within the caller's window (``cert_expiring``). ``unit_states`` returns a list of problems.
    When all of that holds, ``health`` (given the record's ``extra``) probes the running service.
    """
    record = read_record(state_path(state_dir, component))
    current = (record or {}).get("current")
    if not current:
        return [f"nothing is recorded for {component}"]
    reasons = []
    if not inputs or current.get("inputs") != inputs:
        reasons.append("its inputs (variables, inventory, facts or collection code) changed since the last converge")
    if current.get("config_checksum"):
        try:
            drifted = restore_plan(state_dir, component, current["config_checksum"])
        except StateError:
            reasons.append("no snapshot of its configuration")
        else:
            reasons.extend(
                f"{entry['path']} differs from the recorded file (content, mode or owner)" for entry in drifted
            )
    link, release = current.get("link"), current.get("release_path")
    if link and release and not (os.path.islink(link) and os.readlink(link) == release):
        reasons.append(f"{link} does not point at {release}")
    units = list((current.get("extra") or {}).get("units") or [])
    if units:
        reasons.extend(unit_states(units))
    reasons.extend(f"{path} is missing or expires soon" for path in certificates if cert_expiring(path))
    if not reasons and health is not None:
        reasons.extend(health(current.get("extra") or {}))
    return reasons
