#!/usr/bin/python
# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: secret_rotate
short_description: Rotate one key of a Vault / OpenBao KV v2 secret, with check-and-set and an audit record
version_added: 0.2.0
description:
  - Writes a new version of the KV v2 secret O(mount)/O(path) in which O(key) holds a new value,
    either generated (O(generate) bytes of entropy from Python's C(secrets), URL-safe, with an
    optional O(prefix)) or given (O(value), for credentials issued elsewhere).
  - The other keys of the secret are kept - the module reads the current version and writes the
    next one with check-and-set (C(cas) = the version it read), so of two concurrent rotations
    only one wins; the other fails with a clear message and writes nothing.
  - With O(min_age), a current version younger than that is left alone (C(changed=false)), so the
    task is idempotent when run on a schedule.
  - Sets the secret's C(max_versions) to O(keep_versions) and its custom metadata to
    C(rotated_at), C(rotated_by), C(reason), C(previous_version), C(rotated_key) and C(fingerprint).
    Earlier versions stay readable (grace period; C(bao kv rollback) restores one).
  - Appends one JSON line per rotation to O(audit_log) (time, who, path, key, previous and new
    version, reason, fingerprint - never the value).
  - The value is never returned, logged or written to the audit record; RV(fingerprint) (the first
    12 hex characters of its sha256) identifies it.
  - Everything is validated (path, key, O(min_age), audit file, the token's capabilities, seal
    status) before anything is written. A sealed or unreachable server, a TLS failure, a missing
    permission or a check-and-set conflict fails the task and writes nothing.
author:
  - orcaqueen.swarm maintainers (@orcaqueen)
extends_documentation_fragment:
  - orcaqueen.swarm.vault
options:
  mount:
    description:
      - Mount path of the KV version 2 secrets engine.
    type: str
    default: secret
  path:
    description:
      - Path of the secret inside O(mount), for example C(swarm/litellm/master_key).
      - Segments of letters, digits, C(.), C(_) and C(-), separated by C(/); no leading or trailing C(/).
    type: str
    required: true
  key:
    description:
      - The key inside the secret that gets the new value.
    type: str
    required: true
  generate:
    description:
      - Generate the value - this many bytes of entropy (at least 32), URL-safe base64 encoded.
      - Mutually exclusive with O(value); one of them is required.
    type: int
  prefix:
    description:
      - Text put before a generated value, for example C(sk-) for LiteLLM keys.
    type: str
    default: ''
  value:
    description:
      - The new value, for a credential issued elsewhere. Never logged.
      - When it equals the current value nothing is written.
    type: str
  min_age:
    description:
      - Skip the rotation while the current version is younger than this duration - a number
        followed by C(w), C(d), C(h), C(m) or C(s), combinable (V(30d), V(12h), V(1d12h)).
      - V(0) (the default) always rotates. An invalid duration fails before anything is read or written.
    type: str
    default: '0'
  force:
    description:
      - Rotate even when the current version is younger than O(min_age).
    type: bool
    default: false
  grace:
    description:
      - How long the value being replaced stays accepted - a duration as in O(min_age).
      - With a grace, the new version also holds the old value in C(<key>_previous) and the end of the
        window (Unix seconds, as text) in C(<key>_previous_until). A consumer that accepts both (the
        vLLM proxy, through the template its vault agent renders) keeps serving clients that still
        send the old value until then; the agent drops it at its first render after that time.
      - V(0) (the default) ends any earlier window - both fields are removed - so the old value stops
        working as soon as the consumers have the new version (a leaked key).
    type: str
    default: '0'
  keep_versions:
    description:
      - How many versions the secret keeps (KV C(max_versions)); the previous ones are the grace
        period in which services may still use the old value and a rollback target.
    type: int
    default: 10
  reason:
    description:
      - Why the secret is rotated; stored in the metadata and the audit record.
    type: str
    default: scheduled rotation
  rotated_by:
    description:
      - Who rotates; stored in the metadata and the audit record. Defaults to the user running the module.
    type: str
  audit_log:
    description:
      - File on the host running the module to which one JSON line per rotation is appended
        (created with mode C(0640)). Checked for writability before anything is written to Vault.
    type: path
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Connects, checks seal status and capabilities and reads the current version; reports
      whether it would rotate and the version it would write, and writes nothing (no audit record).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - C(docs/rotation.md) of the collection describes the module, C(playbooks/rotate-keys.yml),
    the audit format, the grace period and rollback.
  - The token needs C(read) and C(create)/C(update) on C(<mount>/data/<path>) and C(create)/C(update)
    on C(<mount>/metadata/<path>).
seealso:
  - name: KV secrets engine version 2 (OpenBao)
    description: Versions, check-and-set and metadata of KV v2.
    link: https://openbao.org/docs/secrets/kv/kv-v2/
"""

EXAMPLES = r"""
- name: Rotate the LiteLLM master key at most once every 30 days
  orcaqueen.swarm.secret_rotate:
    url: "{{ lookup('ansible.builtin.env', 'VAULT_ADDR') }}"
    ca_cert: "{{ lookup('ansible.builtin.env', 'VAULT_CACERT') }}"
    path: swarm/litellm/master_key
    key: value
    generate: 32
    prefix: sk-
    min_age: 30d
    reason: monthly rotation
    audit_log: /var/log/orcaqueen/rotation.jsonl
  delegate_to: localhost
  register: litellm_key

- name: Store a token issued by another system, with AppRole auth
  orcaqueen.swarm.secret_rotate:
    url: https://oracle:8200
    auth_method: approle
    role_id: "{{ rotation_role_id }}"
    secret_id: "{{ rotation_secret_id }}"
    path: swarm/vllm/hf_token
    key: token
    value: "{{ new_hf_token }}"
    reason: token reissued
  delegate_to: localhost
"""

RETURN = r"""
rotated:
  description: Whether a new version was written (or, in check mode, would be).
  returned: always
  type: bool
  sample: true
version:
  description: The version that holds the new value (check mode - the one that would); the current version when skipped.
  returned: always
  type: int
  sample: 4
previous_version:
  description: The version that was current before; V(null) when the secret did not exist.
  returned: always
  type: int
  sample: 3
grace_until:
  description: End of the window in which the old value is still accepted (Unix seconds); V(null) without O(grace).
  returned: always
  type: int
  sample: 1796000000
fingerprint:
  description:
    - First 12 hex characters of the sha256 of the value now current; V(null) in check mode with O(generate).
  returned: always
  type: str
  sample: 3f2a9c0d41b7
age_seconds:
  description: Age of the version that was current before the task; V(null) when the secret did not exist.
  returned: always
  type: int
  sample: 2678400
reason:
  description: Why the key was rotated or skipped.
  returned: always
  type: str
  sample: older than min_age
mount:
  description: The KV v2 mount.
  returned: always
  type: str
  sample: secret
path:
  description: The secret path.
  returned: always
  type: str
  sample: swarm/litellm/master_key
key:
  description: The rotated key.
  returned: always
  type: str
  sample: value
"""

import datetime
import getpass
import os
import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.orcaqueen.swarm.plugins.module_utils import _rotation as rot
from ansible_collections.orcaqueen.swarm.plugins.module_utils._vault import (
    HAS_HVAC,
    HVAC_IMPORT_ERROR,
    VAULT_ARGUMENT_SPEC,
    VAULT_REQUIRED_IF,
    KvSecret,
    VaultClient,
    VaultConfig,
    VaultError,
)

ARGUMENT_SPEC: dict[str, t.Any] = dict(
    VAULT_ARGUMENT_SPEC,
    mount=dict(type="str", default="secret"),
    path=dict(type="str", required=True),
    key=dict(type="str", required=True, no_log=False),
    generate=dict(type="int"),
    prefix=dict(type="str", default=""),
    value=dict(type="str", no_log=True),
    min_age=dict(type="str", default="0"),
    force=dict(type="bool", default=False),
    grace=dict(type="str", default="0"),
    keep_versions=dict(type="int", default=10),
    reason=dict(type="str", default="scheduled rotation"),
    rotated_by=dict(type="str"),
    audit_log=dict(type="path"),
)

WRITE = {"create", "update", "root", "sudo"}


def build_module() -> AnsibleModule:
    return AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("generate", "value")],
        required_one_of=[("generate", "value")],
        required_if=VAULT_REQUIRED_IF,
        supports_check_mode=True,
    )


def validate(params: dict[str, t.Any]) -> dict[str, t.Any]:
    """Check every input before anything is read or written; returns the normalised values."""
    checked = {
        "mount": rot.validate_mount(params["mount"]),
        "path": rot.validate_path(params["path"]),
        "key": rot.validate_key(params["key"]),
        "min_age": rot.parse_duration(params["min_age"]),
        "grace": rot.parse_duration(params["grace"]),
    }
    if params["generate"] is not None:
        rot.generate_value(params["generate"], params["prefix"])  # validates length and prefix
    if params["keep_versions"] < 1:
        raise rot.RotationError(f"keep_versions must be at least 1, got {params['keep_versions']}")
    if not params["reason"].strip():
        raise rot.RotationError("reason must not be empty")
    return checked


def check_capabilities(client: VaultClient, mount: str, path: str) -> None:
    data_path, meta_path = f"{mount}/data/{path}", f"{mount}/metadata/{path}"
    caps = client.capabilities([data_path, meta_path])
    missing = []
    data_caps, meta_caps = set(caps[data_path]), set(caps[meta_path])
    if "root" not in data_caps and ("read" not in data_caps or not data_caps & WRITE):
        missing.append(f"read and create/update on {data_path} (has: {', '.join(sorted(data_caps)) or 'none'})")
    if "root" not in meta_caps and not meta_caps & WRITE:
        missing.append(f"create/update on {meta_path} (has: {', '.join(sorted(meta_caps)) or 'none'})")
    if missing:
        raise VaultError(
            "permission denied: the token needs " + "; and ".join(missing) + "; nothing was written", "permission"
        )


def grace_fields(data: dict[str, t.Any], key: str, old: t.Any, grace: int, now: datetime.datetime) -> int | None:
    """Keep the old value beside the new one until now + grace, or drop an earlier window (grace 0)."""
    previous, until = f"{key}_previous", f"{key}_previous_until"
    data.pop(previous, None)
    data.pop(until, None)
    if not grace or old is None:
        return None
    end = int(now.timestamp()) + grace
    data[previous], data[until] = old, str(end)
    return end


def run(module: AnsibleModule) -> dict[str, t.Any]:
    params = module.params
    checked = validate(params)
    mount, path, key = checked["mount"], checked["path"], checked["key"]
    if not params["validate_certs"]:
        module.warn("validate_certs is false: the Vault server's TLS certificate is NOT verified")
    client = VaultClient(VaultConfig.from_params(params))
    client.connect()
    check_capabilities(client, mount, path)
    current: KvSecret | None = client.kv2_read(mount, path)
    exists = current is not None and key in current.data
    previous_version = current.version if current is not None else None
    result: dict[str, t.Any] = dict(
        changed=False,
        rotated=False,
        mount=mount,
        path=path,
        key=key,
        previous_version=previous_version,
        version=previous_version,
        fingerprint=None,
        age_seconds=None,
        grace_until=None,
    )
    current_value = current.data.get(key) if current is not None and exists else None
    if current_value is not None:
        module.no_log_values.add(str(current_value))
        result["fingerprint"] = rot.fingerprint(str(current_value))

    now = rot.now_utc()
    created = rot.parse_vault_time(current.created_time) if current is not None else None
    rotate, why, age = rot.decide(exists, created, checked["min_age"], params["force"], now)
    result.update(age_seconds=age, reason=why)
    if rotate and params["value"] is not None and current_value == params["value"]:
        rotate, result["reason"] = False, "the given value is already current"
    if not rotate:
        return result

    result.update(changed=True, rotated=True, version=(previous_version or 0) + 1)
    if module.check_mode:
        if params["value"] is not None:
            result["fingerprint"] = rot.fingerprint(params["value"])
        else:
            result["fingerprint"] = None
        return result

    audit_fd = rot.open_audit(params["audit_log"]) if params["audit_log"] else None
    try:
        new_value = (
            params["value"] if params["value"] is not None else rot.generate_value(params["generate"], params["prefix"])
        )
        module.no_log_values.add(new_value)
        new_fingerprint = rot.fingerprint(new_value)
        data = dict(current.data) if current is not None else {}
        data[key] = new_value
        grace_until = grace_fields(data, key, current_value, checked["grace"], now)
        result["grace_until"] = grace_until
        version = client.kv2_write(mount, path, data, cas=previous_version or 0)
        who = params["rotated_by"] or getpass.getuser()
        try:
            client.kv2_update_metadata(
                mount,
                path,
                params["keep_versions"],
                rot.custom_metadata(now, who, params["reason"], previous_version, key, new_fingerprint),
            )
        except VaultError as exc:
            raise VaultError(
                f"version {version} of {mount}/{path} was written (fingerprint {new_fingerprint}) but its "
                f"metadata was not updated: {exc}",
                exc.kind,
            ) from exc
        result.update(version=version, fingerprint=new_fingerprint)
        if audit_fd is not None:
            record = rot.audit_record(
                when=now,
                who=who,
                url=params["url"],
                mount=mount,
                path=path,
                key=key,
                previous_version=previous_version,
                version=version,
                reason=params["reason"],
                fingerprint_value=new_fingerprint,
            )
            rot.write_audit(audit_fd, record)
    finally:
        if audit_fd is not None:
            os.close(audit_fd)
    return result


def main() -> None:
    module = build_module()
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"), exception=HVAC_IMPORT_ERROR)
    try:
        result = run(module)
    except rot.RotationError as exc:
        module.fail_json(msg=str(exc))
    except VaultError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
