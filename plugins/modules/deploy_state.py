#!/usr/bin/python
# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_state
short_description: Record, query or remove the deployment state of a swarm component
version_added: 0.1.0
description:
  - Keeps one JSON record per component under O(state_dir) (C(<state_dir>/<component>.json)) holding
    the C(current) deployment (version, config checksum, release directory, extra data, time, user)
    and a capped C(history) of earlier deployments, newest first.
  - Every role of the collection records what it deployed with this module; C(playbooks/status.yml)
    prints the records and rollback returns a component to RV(previous).
  - Recording the same version, config checksum, release path and extra data again changes nothing
    (the file is not rewritten and C(deployed_at) keeps its value). Any difference moves the old
    C(current) to the front of C(history).
  - Files are written atomically (temporary file in the same directory, then a rename) with mode
    C(0640); the directory is created with mode C(0750).
  - With O(snapshot=true) a copy of O(config_files) is kept per deployment under
    C(<state_dir>/snapshots/<component>/<config_checksum>/) (mode C(0700)); snapshots that no entry
    of the record refers to any more are removed.
  - O(state=restore) puts a recorded deployment back, that is the config files from its snapshot (content,
    mode and owner) and the C(current) link (O(link)) to its release directory, each atomically.
    O(restore_to=current) returns to the recorded deployment (the last one that passed its health
    gate, which is what a failed change is rolled back to); O(restore_to=previous) returns to the newest entry
    of the history and records it as the deployment in place. The caller restarts RV(units).
  - O(state=check) tells whether the host is still as the last recorded converge left it (RV(in_sync)) and,
    if not, why (RV(reasons)), the recorded health probe (C(extra.health_argv) must exit 0, C(extra.health_url)
    must answer over TLS with C(extra.health_ca)) included. It changes nothing. A role skips its converge when
    it is in sync; see O(inputs).
author:
  - orcaqueen.swarm maintainers (@orcaqueen)
options:
  component:
    description:
      - Name of the component, for example C(common), C(vault), C(vllm).
      - Must match C(^[a-z0-9][a-z0-9_-]*$).
      - Required with O(state=present), O(state=absent), O(state=restore) and O(state=check).
        With O(state=query) and no component, every record in O(state_dir) is returned in RV(records).
    type: str
  state:
    description:
      - V(present) records a deployment, V(query) reads records and never changes anything,
        V(absent) removes the record of O(component), V(restore) puts a recorded deployment back
        (see O(restore_to)), V(check) compares the host with the record (see RV(in_sync)) and never changes anything.
    type: str
    choices: [present, query, absent, restore, check]
    default: present
  version:
    description:
      - Version of what was deployed (release, image tag, collection version).
      - Required with O(state=present).
    type: str
  config_checksum:
    description:
      - Checksum of the configuration, computed by the caller.
      - Mutually exclusive with O(config_files).
    type: str
  config_files:
    description:
      - Files on the managed host whose contents make up the configuration.
      - The module computes one sha256 over them (paths sorted; for each, the path and the sha256
        of its content), so the order given does not matter. A missing file is an error unless
        O(ignore_missing_files=true).
      - Mutually exclusive with O(config_checksum).
    type: list
    elements: path
  ignore_missing_files:
    description:
      - Leave files of O(config_files) that do not exist out of the checksum instead of failing,
        for example the files of a feature that is switched off, or all of them in check mode on a fresh host.
    type: bool
    default: false
  release_path:
    description:
      - The versioned release directory the component runs from, if it has one.
    type: path
  link:
    description:
      - The symlink that points at O(release_path) (C(<install_dir>/current)). Stored with the
        deployment, not compared; O(state=restore) re-points it.
    type: path
  snapshot:
    description:
      - Keep a copy of O(config_files) for this deployment, so that O(state=restore) can put them back.
    type: bool
    default: false
  restore_to:
    description:
      - With O(state=restore), V(current) (the recorded deployment) or V(previous) (the newest history entry).
    type: str
    choices: [current, previous]
    default: previous
  extra:
    description:
      - Any further data worth keeping with the deployment (units, ports, image digests).
      - Compared as JSON; a difference is a new deployment. Never put secrets here.
    type: dict
  deployed_by:
    description:
      - Who ran the deployment, for example the controller user. Stored, not compared.
    type: str
  inputs:
    description:
      - Digest of everything the role's converge depended on (lookup P(orcaqueen.swarm.converge_inputs#lookup)).
      - With O(state=present) it is stored with the deployment in place, not compared (a new digest updates
        the record without making a new deployment, and is not reported as a change). With O(state=check), a
        different digest is not in sync.
    type: str
  force:
    description:
      - With O(state=check), report the host as not in sync whatever it looks like (a full converge was asked for).
    type: bool
    default: false
  certificates:
    description:
      - With O(state=check), certificate files (PEM) that must exist and stay valid for O(certificate_min_validity)
        seconds more; one that does not is not in sync (the role renews it).
    type: list
    elements: path
    default: []
  certificate_min_validity:
    description:
      - Seconds each of O(certificates) must still be valid for, usually the role's renewal window.
    type: int
    default: 0
  state_dir:
    description:
      - Directory holding the records.
    type: path
    default: /var/lib/orcaqueen/state
  keep_history:
    description:
      - How many earlier deployments to keep in C(history).
    type: int
    default: 5
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Reports what would change (and the record as it would be) and writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Shows the record before and after.
notes:
  - Run with privilege escalation; the records are owned by the user the module runs as (root).
  - How the records work and how a role records itself is described in C(docs/state.md) of the collection.
"""

EXAMPLES = r"""
- name: Record the deployed vLLM release
  orcaqueen.swarm.deploy_state:
    component: vllm
    version: "0.6.3"
    config_files:
      - /etc/vllm/vllm.env
      - /etc/systemd/system/vllm.service
    release_path: /opt/vllm/releases/0.6.3
    extra:
      units: [vllm.service]
      ports: [8000]
    deployed_by: "{{ lookup('ansible.builtin.env', 'USER') }}"

- name: Read the record of one component
  orcaqueen.swarm.deploy_state:
    component: vllm
    state: query
  register: vllm_state

- name: Show what a rollback would go back to
  ansible.builtin.debug:
    msg: "{{ vllm_state.previous.version | default('nothing recorded before') }}"

- name: Read every record on the host
  orcaqueen.swarm.deploy_state:
    state: query
  register: all_state

- name: Roll vLLM back to the deployment before the current one (then restart its units)
  orcaqueen.swarm.deploy_state:
    component: vllm
    state: restore
    restore_to: previous
  register: vllm_restore

- name: Is node_exporter as its last converge left it (then its role skips the converge)?
  orcaqueen.swarm.deploy_state:
    component: node_exporter
    state: check
    inputs: "{{ lookup('orcaqueen.swarm.converge_inputs', 'node_exporter', 'pki') }}"
    certificates: [/etc/node_exporter/tls/node_exporter.crt]
    certificate_min_validity: 86400
  register: node_exporter_check

- name: Forget a component that was removed
  orcaqueen.swarm.deploy_state:
    component: old-exporter
    state: absent
"""

RETURN = r"""
record:
  description:
    - The record of O(component) after the task (with check mode, as it would be).
    - V(null) when the component has no record (query of an unknown component, or after O(state=absent)).
  returned: when O(component) is given
  type: dict
  contains:
    schema:
      description: Format version of the record.
      type: int
      sample: 1
    component:
      description: Component name.
      type: str
      sample: vllm
    current:
      description: The deployment now in place.
      type: dict
      sample:
        version: "0.6.3"
        config_checksum: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        release_path: /opt/vllm/releases/0.6.3
        extra: {units: [vllm.service], ports: [8000]}
        deployed_at: "2025-01-31T12:00:00Z"
        deployed_by: alice
    history:
      description: Earlier deployments (same fields as RV(record.current)), newest first, at most O(keep_history).
      type: list
      elements: dict
previous:
  description:
    - The newest entry of the history, that is what a rollback would return to; V(null) if there is none.
  returned: when O(component) is given
  type: dict
  sample:
    version: "0.6.2"
    config_checksum: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
    release_path: /opt/vllm/releases/0.6.2
    extra: {}
    deployed_at: "2025-01-20T09:30:00Z"
    deployed_by: alice
records:
  description: Every record in O(state_dir), sorted by component.
  returned: O(state=query) without O(component)
  type: list
  elements: dict
restored:
  description: The deployment that O(state=restore) put back (same fields as RV(record.current)).
  returned: O(state=restore)
  type: dict
files:
  description: Config files that O(state=restore) rewrote (or, in check mode, would rewrite).
  returned: O(state=restore)
  type: list
  elements: str
in_sync:
  description:
    - Whether the host is as the last recorded converge left it, that is a record exists whose O(inputs) are the
      same, every config file of its snapshot has the recorded content, mode and owner, the release link points
      at the recorded release, every unit of C(extra.units) is active and enabled, and every one of
      O(certificates) is valid for O(certificate_min_validity) seconds more.
  returned: O(state=check)
  type: bool
reasons:
  description: Why the host is not in sync, one line each (empty when RV(in_sync)).
  returned: O(state=check)
  type: list
  elements: str
  sample: ["/etc/node_exporter/web.yml differs from the recorded file (content, mode or owner)"]
inputs:
  description: The O(inputs) it compared with, for the deployment record of the converge that follows.
  returned: O(state=check)
  type: str
component:
  description: The component it checked.
  returned: O(state=check)
  type: str
link_switched:
  description: Whether O(state=restore) re-pointed the release link.
  returned: O(state=restore)
  type: bool
units:
  description: The systemd units recorded with the restored deployment (C(extra.units)), to restart.
  returned: O(state=restore)
  type: list
  elements: str
path:
  description: The state file of the component.
  returned: when O(component) is given
  type: str
  sample: /var/lib/orcaqueen/state/vllm.json
"""

import os
import typing as t
from urllib.error import HTTPError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.orcaqueen.swarm.plugins.module_utils.deploy_state import (
    DIR_MODE,
    ENABLED_STATES,
    FILE_MODE,
    StateError,
    build_current,
    checksum_files,
    in_sync_reasons,
    link_needs_switch,
    merge,
    previous_of,
    prune_snapshots,
    read_all,
    read_record,
    restore_files,
    restore_plan,
    state_path,
    switch_link,
    take_snapshot,
    utc_now,
    validate_component,
    write_record,
)

ARGUMENT_SPEC: dict[str, t.Any] = dict(
    component=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "query", "absent", "restore", "check"]),
    version=dict(type="str"),
    config_checksum=dict(type="str"),
    config_files=dict(type="list", elements="path"),
    ignore_missing_files=dict(type="bool", default=False),
    release_path=dict(type="path"),
    link=dict(type="path"),
    snapshot=dict(type="bool", default=False),
    restore_to=dict(type="str", default="previous", choices=["current", "previous"]),
    extra=dict(type="dict"),
    deployed_by=dict(type="str"),
    inputs=dict(type="str"),
    force=dict(type="bool", default=False),
    certificates=dict(type="list", elements="path", default=[]),
    certificate_min_validity=dict(type="int", default=0),
    state_dir=dict(type="path", default="/var/lib/orcaqueen/state"),
    keep_history=dict(type="int", default=5),
)


def build_module() -> AnsibleModule:
    return AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("config_checksum", "config_files")],
        required_if=[
            ("state", "present", ("component", "version")),
            ("state", "absent", ("component",)),
            ("state", "restore", ("component",)),
            ("state", "check", ("component",)),
        ],
        supports_check_mode=True,
    )


def ensure_dir(module: AnsibleModule, path: str) -> bool:
    """Create ``path`` (mode 0750) or fix its mode; True when something changed."""
    if not os.path.isdir(path):
        if not module.check_mode:
            os.makedirs(path, DIR_MODE)
            os.chmod(path, DIR_MODE)
        return True
    if os.stat(path).st_mode & 0o7777 != DIR_MODE:
        if not module.check_mode:
            os.chmod(path, DIR_MODE)
        return True
    return False


def ensure_file_mode(module: AnsibleModule, path: str) -> bool:
    if os.stat(path).st_mode & 0o7777 == FILE_MODE:
        return False
    if not module.check_mode:
        os.chmod(path, FILE_MODE)
    return True


def result_for(record: dict[str, t.Any] | None, path: str, changed: bool) -> dict[str, t.Any]:
    return dict(changed=changed, record=record, previous=previous_of(record), path=path)


def run_present(module: AnsibleModule, params: dict[str, t.Any]) -> dict[str, t.Any]:
    path = state_path(params["state_dir"], params["component"])
    checksum = params["config_checksum"]
    if params["config_files"]:
        checksum = checksum_files(params["config_files"], params["ignore_missing_files"])
    new_current = build_current(
        params["version"],
        checksum,
        params["release_path"],
        params["extra"],
        params["deployed_by"],
        link=params["link"],
        inputs=params["inputs"],
    )
    old = read_record(path)
    new = merge(old, params["component"], new_current, params["keep_history"])
    changed = ensure_dir(module, params["state_dir"])
    snapshot = params["snapshot"] and bool(params["config_files"]) and new["current"]["config_checksum"]
    if snapshot and not module.check_mode:
        # A missing snapshot of the deployment in place is taken as well (records made before
        # snapshots existed); it is not a change of the deployment.
        checksum = new["current"]["config_checksum"]
        take_snapshot(params["state_dir"], params["component"], checksum, params["config_files"], refresh=True)
    if new != old:
        # A new inputs digest alone (the fast path's memory of this converge) is written, not reported as a change.
        changed = changed or not only_inputs_differ(old, new)
        if not module.check_mode:
            write_record(path, new, module.atomic_move)
            ensure_file_mode(module, path)
    elif ensure_file_mode(module, path):
        changed = True
    if snapshot and not module.check_mode:
        prune_snapshots(params["state_dir"], params["component"], new)
    result = result_for(new, path, changed)
    result["diff"] = dict(before=old or {}, after=new, before_header=path, after_header=path)
    return result


def _without_inputs(record: dict[str, t.Any]) -> dict[str, t.Any]:
    return dict(record, current={k: v for k, v in record["current"].items() if k != "inputs"})


def only_inputs_differ(old: dict[str, t.Any] | None, new: dict[str, t.Any]) -> bool:
    if not old or not old.get("current"):
        return False
    return _without_inputs(old) == _without_inputs(new)


def run_absent(module: AnsibleModule, params: dict[str, t.Any]) -> dict[str, t.Any]:
    path = state_path(params["state_dir"], params["component"])
    old = read_record(path)
    if old is None:
        return result_for(None, path, False)
    if not module.check_mode:
        os.unlink(path)
    result = result_for(None, path, True)
    result["diff"] = dict(before=old, after={}, before_header=path, after_header=path)
    return result


def run_restore(module: AnsibleModule, params: dict[str, t.Any]) -> dict[str, t.Any]:
    component = params["component"]
    path = state_path(params["state_dir"], component)
    old = read_record(path)
    if not old or not old.get("current"):
        raise StateError(f"nothing is recorded for {component} in {path}: there is nothing to restore")
    target = old["current"] if params["restore_to"] == "current" else previous_of(old)
    if target is None:
        raise StateError(
            f"{component} has no earlier deployment in {path} (its history is empty): there is nothing to roll back to"
        )
    entries = []
    if target.get("config_checksum"):
        entries = restore_plan(params["state_dir"], component, target["config_checksum"])
    link = target.get("link") or params["link"]
    switch = bool(link and target.get("release_path")) and link_needs_switch(link, target["release_path"])
    new = old
    if params["restore_to"] == "previous":
        back = dict(target, deployed_at=utc_now(), deployed_by=params["deployed_by"] or target.get("deployed_by"))
        new = merge(old, component, back, params["keep_history"])
    if not module.check_mode:
        if entries:
            restore_files(params["state_dir"], component, target["config_checksum"], entries)
        if switch:
            switch_link(link, target["release_path"])
        if new is not old:
            write_record(path, new, module.atomic_move)
    result = result_for(new, path, bool(entries) or switch or new is not old)
    result.update(
        restored=target,
        files=[entry["path"] for entry in entries],
        link_switched=switch,
        units=list((target.get("extra") or {}).get("units") or []),
    )
    return result


def unit_problems(module: AnsibleModule, units: list[str]) -> list[str]:
    """One line per recorded unit that is not active, or would not start at boot."""
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        return ["systemctl is not available to check " + ", ".join(units)]
    problems = []
    for verb, good in (("is-active", ("active",)), ("is-enabled", ENABLED_STATES)):
        # One call for all units; systemctl prints one answer per unit, in order.
        _rc, out, _err = module.run_command([systemctl, verb, "--", *units])
        answers = (out.splitlines() + ["unknown"] * len(units))[: len(units)]
        pairs = zip(units, answers, strict=True)
        problems.extend(f"{unit} is {answer} ({verb})" for unit, answer in pairs if answer not in good)
    return problems


def cert_expiring(module: AnsibleModule, path: str) -> bool:
    if not os.path.isfile(path):
        return True
    openssl = module.get_bin_path("openssl")
    if not openssl:
        return True
    seconds = str(max(module.params["certificate_min_validity"], 0))
    rc, _out, _err = module.run_command([openssl, "x509", "-noout", "-checkend", seconds, "-in", path])
    return rc != 0


def health_problems(module: AnsibleModule, extra: dict[str, t.Any]) -> list[str]:
    """The recorded health probe: C(health_argv) must exit 0; C(health_url) must answer over TLS
    (any HTTP status below 500 - a 401 without credentials is an answer)."""
    problems = []
    argv = extra.get("health_argv")
    if argv:
        rc, _out, err = module.run_command([str(arg) for arg in argv])
        if rc != 0:
            problems.append(f"its health probe {' '.join(map(str, argv))} failed (rc {rc}): {err.strip()[:200]}")
    url = extra.get("health_url")
    if url:
        try:
            open_url(url, ca_path=extra.get("health_ca") or None, timeout=10, validate_certs=True)
        except HTTPError as exc:
            if exc.code >= 500:
                problems.append(f"{url} answered {exc.code}")
        except Exception as exc:  # any other failure means it does not answer
            problems.append(f"{url} does not answer: {exc}")
    return problems


def run_check(module: AnsibleModule, params: dict[str, t.Any]) -> dict[str, t.Any]:
    path = state_path(params["state_dir"], params["component"])
    reasons = in_sync_reasons(
        params["state_dir"],
        params["component"],
        params["inputs"],
        lambda units: unit_problems(module, units),
        lambda cert: cert_expiring(module, cert),
        params["certificates"],
        lambda extra: health_problems(module, extra),
    )
    if params["force"]:
        reasons.insert(0, "a full converge was asked for")
    return dict(
        changed=False,
        in_sync=not reasons,
        reasons=reasons,
        path=path,
        component=params["component"],
        inputs=params["inputs"],
    )


def run_query(params: dict[str, t.Any]) -> dict[str, t.Any]:
    if params["component"] is None:
        return dict(changed=False, records=read_all(params["state_dir"]))
    path = state_path(params["state_dir"], params["component"])
    return result_for(read_record(path), path, False)


def run(module: AnsibleModule) -> dict[str, t.Any]:
    params = module.params
    if params["component"] is not None:
        validate_component(params["component"])
    if params["state"] == "present":
        return run_present(module, params)
    if params["state"] == "absent":
        return run_absent(module, params)
    if params["state"] == "restore":
        return run_restore(module, params)
    if params["state"] == "check":
        return run_check(module, params)
    return run_query(params)


def main() -> None:
    module = build_module()
    try:
        result = run(module)
    except StateError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(
            msg="cannot update the deployment state in {}: {}; run with become: true "
            "or set state_dir to a writable directory".format(module.params["state_dir"], exc)
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
