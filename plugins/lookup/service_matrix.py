# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: service_matrix
short_description: The swarm's service matrix (who may connect to which service on which port)
version_added: 0.3.0
description:
  - Returns the service matrix of the design (one list of entries) that the
    P(orcaqueen.swarm.tailnet_policy#filter) and P(orcaqueen.swarm.service_firewall_rules#filter)
    filters take, validated.
  - When the variable C(swarm_service_matrix) is defined (inventory), it replaces the built-in matrix
    (after validation), so an operator changes the table in one place.
  - With terms, only the named services are returned (an unknown name is an error).
  - With O(port_var), the port that the matrix gives that role variable (one integer); the roles' port
    defaults read it this way, so a port is written once, in the matrix.
author:
  - orcaqueen.swarm maintainers (@orcaqueen)
options:
  _terms:
    description: Service names to return (default - all).
    type: list
    elements: str
    required: false
  builtin:
    description: Ignore C(swarm_service_matrix) and return the built-in matrix.
    type: bool
    default: false
  port_var:
    description:
      - Return the port whose C(port_var) is this variable name (for example C(node_exporter_port)) instead of
        entries. With C(lookup()) the result is the integer itself.
    type: str
    version_added: 0.4.0
notes:
  - "Entry keys - C(service), C(groups) (node groups or C(swarm)), C(ports) (list of C(port), C(proto) tcp/udp,
    C(port_var) the role variable that holds it), C(tls) (yes, yes+auth, ssh, no), C(from) (principals - node groups,
    C(swarm), C(admin), C(client), C(prometheus), C(self)), C(description), C(enabled_by) (C(var), C(default) - the
    host variable that says whether a host of the groups runs it), C(scrape) (C(job), C(port_var), C(path),
    C(params), C(scheme) https, C(auth) none/basic/bearer, C(secret), C(username), C(ca) bootstrap/service,
    C(address_var)), C(health) (C(path), C(ca)) and C(secrets)."
  - "Secret keys - C(name), C(path) (default C(swarm/<service>/<name>)), C(field) (default C(value)), C(generate)
    (C(length) 16-512, C(prefix)), C(delivery) (C(agent) - vault_agent renders C(template), a C(<dir>/<file>) below
    its secrets directory; C(play) - site.yml reads it at deploy time), C(unit) (the systemd unit using it),
    C(reload) (reloaded or restarted), C(grace) (how long a rotated-out value stays accepted, V(0) or a duration like
    V(15m); only with C(reload=reloaded)) and C(readers) (roles that also read it at deploy time)."
  - Every key is checked; an unknown key, a duplicate port variable, job or secret path is an error.
    See docs/tailnet.md.
"""

EXAMPLES = r"""
- name: Print the matrix
  ansible.builtin.debug:
    msg: "{{ lookup('orcaqueen.swarm.service_matrix') }}"

- name: The port of node_exporter (roles/node_exporter/defaults/main.yml reads it this way)
  ansible.builtin.debug:
    msg: "{{ lookup('orcaqueen.swarm.service_matrix', port_var='node_exporter_port') }}"

- name: Only the Vault entries
  ansible.builtin.debug:
    msg: "{{ query('orcaqueen.swarm.service_matrix', 'vault_api', 'vault_cluster') }}"
"""

RETURN = r"""
_raw:
  description:
    - The matrix entries (normalized - every key present). Use C(query()) or C(lookup(..., wantlist=true)) so
      that a single selected entry still comes back as a list.
    - With O(port_var), a list holding one integer (C(lookup()) returns the integer).
  type: list
  elements: dict
  sample:
    - service: vault_api
      groups: [orchestrator]
      ports: [{port: 8200, proto: tcp, port_var: vault_api_port}]
      tls: "yes"
      from: [swarm, admin]
      description: Vault/OpenBao API
      enabled_by: null
      scrape: {job: vault, port_var: null, path: /v1/sys/metrics, params: {format: [prometheus]}, scheme: https,
               auth: none, secret: null, username: null, ca: bootstrap, address_var: swarm_listen_address}
      health: null
      pki: false
      secrets: []
"""


import typing as t  # noqa: E402 (ansible-test: imports after the documentation)

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402
from ansible_collections.orcaqueen.swarm.plugins.module_utils import _service_matrix as sm  # noqa: E402


class LookupModule(LookupBase):
    """lookup('orcaqueen.swarm.service_matrix')."""

    def run(self, terms: list[t.Any], variables: dict[str, t.Any] | None = None, **kwargs: t.Any) -> list[t.Any]:
        self.set_options(var_options=variables, direct=kwargs)
        matrix: t.Any = sm.default_matrix()
        if not self.get_option("builtin") and variables and "swarm_service_matrix" in variables:
            matrix = self._templar.template(variables["swarm_service_matrix"])
        try:
            matrix = sm.validate_matrix(matrix)
            port_var = self.get_option("port_var")
            if port_var:
                if terms:
                    raise ValueError("give either service names or port_var, not both")
                return [sm.port_of(matrix, str(port_var))]
            if terms:
                matrix = [sm.get_service(matrix, str(name)) for name in terms]
        except ValueError as exc:
            raise AnsibleLookupError(f"service_matrix: {exc}") from exc
        return matrix
