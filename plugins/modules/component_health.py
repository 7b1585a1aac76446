#!/usr/bin/python
# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: component_health
short_description: Wait until a swarm component answers its health probe, or stop early on a crash loop
version_added: 0.2.0
description:
  - The health gate of every component (the C(gate) entry point of the internal C(component) role, and
    the vLLM role's model check). It probes O(url) (or runs O(argv)) every O(interval) seconds until the
    probe passes or O(timeout) seconds have gone by.
  - While it waits it watches the systemd O(units). A unit that systemd has restarted O(crash_restarts)
    times since the wait began, or that is in the C(failed) state, will not heal by waiting, so the module
    fails at once with the unit's last journal lines, so that the caller rolls back without waiting
    out the timeout.
  - It changes nothing on the host.
author:
  - orcaqueen.swarm maintainers (@orcaqueen)
options:
  url:
    description:
      - URL to probe with a GET. Exactly one of O(url) and O(argv) is required.
      - The certificate of an C(https) URL is verified (against O(ca_path) when given).
    type: str
  argv:
    description:
      - Command to run instead of a URL probe, for a program without an HTTP health endpoint. The probe
        passes when it exits 0 (and its standard output contains O(contains) when given).
    type: list
    elements: str
  ca_path:
    description: CA bundle that verifies the server certificate of O(url).
    type: path
  client_cert:
    description: Client certificate (PEM) for a server that requires one.
    type: path
  client_key:
    description: Key of O(client_cert).
    type: path
  url_username:
    description: User name for HTTP basic authentication.
    type: str
  url_password:
    description: Password for HTTP basic authentication.
    type: str
  status_code:
    description: HTTP status codes that count as healthy.
    type: list
    elements: int
    default: [200]
  contains:
    description: Text the answer (body of O(url), standard output of O(argv)) must contain.
    type: str
  units:
    description:
      - systemd units of the component, watched for a crash loop while the module waits.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait in all before giving up.
    type: int
    default: 40
  interval:
    description: Seconds between two probes.
    type: int
    default: 2
  crash_restarts:
    description:
      - Restarts of one of O(units) during the wait that count as a crash loop. V(0) switches the
        crash-loop check off (a unit in the C(failed) state still ends the wait).
    type: int
    default: 3
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: It only reads; in check mode it probes as it does otherwise.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - The probe of O(url) runs on the managed host, so a loopback or tailnet address of the host works.
seealso:
  - module: orcaqueen.swarm.deploy_state
"""

EXAMPLES = r"""
- name: The exporter answers over TLS with its basic auth user (a crash loop fails at once)
  orcaqueen.swarm.component_health:
    url: https://100.64.0.3:9100/metrics
    ca_path: /etc/node_exporter/tls/ca.pem
    url_username: prometheus
    url_password: "{{ node_exporter_web_password }}"
    contains: node_exporter_build_info
    units: [node_exporter.service]
    timeout: 60
  no_log: true

- name: A program without an HTTP endpoint answers a command
  orcaqueen.swarm.component_health:
    argv: [/opt/tailscale/current/tailscale, status, --json]
    contains: BackendState
    units: [tailscaled.service]
"""

RETURN = r"""
elapsed:
  description: Seconds the module waited until the probe passed.
  returned: success
  type: float
  sample: 4.1
attempts:
  description: Number of probes run.
  returned: always
  type: int
  sample: 3
status:
  description: HTTP status of the last probe of O(url) (V(-1) when no answer came).
  returned: when O(url) is given
  type: int
  sample: 200
reason:
  description: Why the wait ended without a healthy answer (a crash loop, a failed unit or the timeout).
  returned: failure
  type: str
  sample: "node_exporter.service was restarted 3 times while starting"
"""

import time
import typing as t

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.urls import open_url


def run(module: AnsibleModule, argv: list[str]) -> tuple[int, str, str]:
    """run_command that reports a missing program as rc 127 instead of failing the module."""
    try:
        return module.run_command(argv, handle_exceptions=False)
    except OSError as exc:
        return 127, "", str(exc)


def unit_restarts(module: AnsibleModule, unit: str) -> tuple[int, str]:
    """NRestarts and ActiveState of a systemd unit (0 and '' when systemctl cannot tell)."""
    rc, out = run(module, ["systemctl", "show", "-p", "NRestarts", "-p", "ActiveState", unit])[:2]
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line) if rc == 0 else {}
    restarts = values.get("NRestarts", "0").strip()
    return (int(restarts) if restarts.isdigit() else 0), values.get("ActiveState", "").strip()


def journal_tail(module: AnsibleModule, units: list[str]) -> str:
    argv = ["journalctl", "--no-pager", "-o", "cat", "-n", "25"]
    for unit in units:
        argv += ["-u", unit]
    out = run(module, argv)[1]
    return out.strip()


def crash_reason(module: AnsibleModule, units: list[str], first: dict[str, int], limit: int) -> str:
    """Why waiting longer is pointless, or '' while every unit may still come up."""
    for unit in units:
        restarts, active = unit_restarts(module, unit)
        if active == "failed":
            return f"{unit} failed (systemd gave up restarting it)"
        if limit > 0 and restarts - first.get(unit, 0) >= limit:
            return f"{unit} was restarted {restarts - first.get(unit, 0)} times while starting"
    return ""


def probe_url(module: AnsibleModule) -> tuple[bool, int, str]:
    """(healthy, status, what went wrong) for one GET of the URL."""
    params = module.params
    status, body, error = -1, "", ""
    try:
        answer = open_url(
            params["url"],
            method="GET",
            timeout=10,
            validate_certs=True,
            ca_path=params["ca_path"],
            client_cert=params["client_cert"],
            client_key=params["client_key"],
            url_username=params["url_username"],
            url_password=params["url_password"],
            force_basic_auth=bool(params["url_username"]),
        )
        status = answer.getcode()
        body = answer.read().decode("utf-8", "replace")
    except HTTPError as exc:
        status = exc.code
        body = exc.read().decode("utf-8", "replace") if exc.fp else ""
    except Exception as exc:  # pylint: disable=broad-exception-caught
        error = str(exc)
    if status not in params["status_code"]:
        return False, status, error or f"HTTP {status}"
    if params["contains"] and params["contains"] not in body:
        return False, status, f"the answer does not contain {params['contains']!r}"
    return True, status, ""


def probe_argv(module: AnsibleModule) -> tuple[bool, str]:
    rc, out, err = run(module, module.params["argv"])
    if rc != 0:
        return False, f"rc {rc}: {(err or out).strip()[:300]}"
    if module.params["contains"] and module.params["contains"] not in out:
        return False, f"the output does not contain {module.params['contains']!r}"
    return True, ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str"},
            "argv": {"type": "list", "elements": "str"},
            "ca_path": {"type": "path"},
            "client_cert": {"type": "path"},
            "client_key": {"type": "path", "no_log": False},
            "url_username": {"type": "str"},
            "url_password": {"type": "str", "no_log": True},
            "status_code": {"type": "list", "elements": "int", "default": [200]},
            "contains": {"type": "str"},
            "units": {"type": "list", "elements": "str", "default": []},
            "timeout": {"type": "int", "default": 40},
            "interval": {"type": "int", "default": 2},
            "crash_restarts": {"type": "int", "default": 3},
        },
        required_one_of=[("url", "argv")],
        mutually_exclusive=[("url", "argv")],
        supports_check_mode=True,
    )
    params = module.params
    units: list[str] = params["units"]
    first = {unit: unit_restarts(module, unit)[0] for unit in units}
    start = time.monotonic()
    attempts, status, problem = 0, -1, ""
    result: dict[str, t.Any] = {"changed": False}
    while True:
        attempts += 1
        if params["url"]:
            healthy, status, problem = probe_url(module)
            result["status"] = status
        else:
            healthy, problem = probe_argv(module)
        result["attempts"] = attempts
        if healthy:
            module.exit_json(elapsed=round(time.monotonic() - start, 1), **result)
        reason = crash_reason(module, units, first, params["crash_restarts"])
        if not reason and time.monotonic() - start + params["interval"] > params["timeout"]:
            reason = f"no healthy answer within {params['timeout']} s"
        if reason:
            what = params["url"] or " ".join(params["argv"])
            message = f"{reason}; last probe of {what}: {problem}"
            if units:
                message += f"; last journal lines:\n{journal_tail(module, units)}"
            module.fail_json(msg=message, reason=reason, **result)
        time.sleep(max(params["interval"], 0))


if __name__ == "__main__":
    main()
