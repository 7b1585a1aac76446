# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure logic of secret rotation (no Vault, no AnsibleModule), used by secret_rotate.

Input validation (durations, KV paths, key names), value generation, fingerprints, the
rotate-or-skip decision, the KV custom metadata and the JSON-lines audit record.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import secrets
import typing as t

MIN_ENTROPY_BYTES = 32
FINGERPRINT_CHARS = 12
AUDIT_FILE_MODE = 0o640
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:\d+[wdhms])+$")
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]*$")


class RotationError(Exception):
    """Invalid input or state for a rotation; the message says what to fix."""


def parse_duration(text: str | int | None) -> int:
    """Seconds in a duration such as ``30d``, ``12h``, ``15m``, ``1w2d``, ``90s`` or ``0``."""
    if text is None:
        return 0
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    value = str(text).strip().lower()
    if value == "0":
        return 0
    if not _DURATION.match(value):
        raise RotationError(
            f"invalid duration {text!r}: use a number followed by w, d, h, m or s, for example 30d, 12h, 15m or 1d12h"
        )
    return sum(int(number) * _UNITS[unit] for number, unit in _DURATION_PART.findall(value))


def validate_mount(mount: str) -> str:
    if not isinstance(mount, str) or not _SEGMENT.match(mount.strip("/")) or "/" in mount.strip("/"):
        raise RotationError(f"invalid KV mount {mount!r}: one path segment of letters, digits, '.', '_' or '-'")
    return mount.strip("/")


def validate_path(path: str) -> str:
    """A KV v2 secret path: segments of ``[A-Za-z0-9._-]`` separated by '/', no '.' or '..' segments."""
    if not isinstance(path, str) or not path or path != path.strip() or path.startswith("/") or path.endswith("/"):
        raise RotationError(
            f"invalid secret path {path!r}: no leading or trailing '/' or spaces, e.g. swarm/litellm/master_key"
        )
    for segment in path.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise RotationError(
                f"invalid secret path {path!r}: segment {segment!r} must start with a letter or digit and hold only "
                "letters, digits, '.', '_' or '-' (no empty, '.' or '..' segments)"
            )
    return path


def validate_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise RotationError(f"invalid key {key!r}: letters, digits, '_', '.' or '-', not starting with '.' or '-'")
    return key


def generate_value(nbytes: int, prefix: str = "") -> str:
    """A URL-safe random value with ``nbytes`` bytes of entropy (``secrets``), after ``prefix``."""
    if nbytes < MIN_ENTROPY_BYTES:
        raise RotationError(f"generate must be at least {MIN_ENTROPY_BYTES} bytes of entropy, got {nbytes}")
    if not _PREFIX.match(prefix or ""):
        raise RotationError(f"invalid prefix {prefix!r}: letters, digits, '.', '_' or '-' only")
    return (prefix or "") + secrets.token_urlsafe(nbytes)


def fingerprint(value: str) -> str:
    """The first 12 hex characters of sha256(value): identifies a version without revealing it."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]


def parse_vault_time(text: str | None) -> datetime.datetime | None:
    """Vault timestamps (RFC 3339 with up to nanoseconds, ``Z``) as aware datetimes."""
    if not text:
        return None
    match = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$", text)
    if not match:
        raise RotationError(f"cannot parse Vault timestamp {text!r}")
    base, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    stamp = f"{base}.{micro}{'+00:00' if zone == 'Z' else zone}"
    return datetime.datetime.fromisoformat(stamp)


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def decide(
    exists: bool,
    created_time: datetime.datetime | None,
    min_age_seconds: int,
    force: bool,
    now: datetime.datetime,
) -> tuple[bool, str, int | None]:
    """(rotate?, why, age in seconds of the current version)."""
    if not exists:
        return True, "the key has no value yet", None
    age = int((now - created_time).total_seconds()) if created_time else None
    if force:
        return True, "forced", age
    if min_age_seconds and age is not None and age < min_age_seconds:
        return False, f"current version is {age}s old, younger than min_age ({min_age_seconds}s)", age
    return True, "older than min_age" if min_age_seconds else "no min_age", age


def custom_metadata(
    rotated_at: datetime.datetime,
    rotated_by: str,
    reason: str,
    previous_version: int | None,
    key: str,
    fingerprint_value: str,
) -> dict[str, str]:
    """KV v2 custom metadata (string values only) describing the latest rotation."""
    return {
        "rotated_at": rotated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rotated_by": rotated_by,
        "reason": reason,
        "previous_version": str(previous_version or 0),
        "rotated_key": key,
        "fingerprint": fingerprint_value,
    }


def audit_record(
    *,
    when: datetime.datetime,
    who: str,
    url: str,
    mount: str,
    path: str,
    key: str,
    previous_version: int | None,
    version: int,
    reason: str,
    fingerprint_value: str,
) -> dict[str, t.Any]:
    return {
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "event": "secret_rotated",
        "who": who,
        "vault": url,
        "mount": mount,
        "path": path,
        "key": key,
        "previous_version": previous_version,
        "version": version,
        "reason": reason,
        "fingerprint": fingerprint_value,
    }


def open_audit(path: str) -> int:
    """Open ``path`` for appending (created with mode 0640), before anything is written to Vault."""
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, AUDIT_FILE_MODE)
    except OSError as exc:
        raise RotationError(f"cannot open the audit log {path} for appending: {exc}; nothing was written") from exc


def write_audit(fd: int, record: dict[str, t.Any]) -> None:
    """Append one JSON line (one write() on an O_APPEND descriptor keeps concurrent lines whole)."""
    line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    os.write(fd, line.encode("utf-8"))
    os.fsync(fd)


def append_audit(path: str, record: dict[str, t.Any]) -> None:
    fd = open_audit(path)
    try:
        write_audit(fd, record)
    finally:
        os.close(fd)
