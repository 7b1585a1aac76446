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
notes:
  - "Entry keys - C(service), C(groups) (node groups or C(swarm)), C(ports) (list of C(port), C(proto) tcp/udp),
    C(tls) (yes, yes+auth, ssh, no), C(from) (principals - node groups, C(swarm), C(admin), C(client),
    C(prometheus), C(self)), C(description)."
"""

EXAMPLES = r"""
- name: Print the matrix
  ansible.builtin.debug:
    msg: "{{ lookup('orcaqueen.swarm.service_matrix') }}"

- name: Only the Vault entries
  ansible.builtin.debug:
    msg: "{{ query('orcaqueen.swarm.service_matrix', 'vault_api', 'vault_cluster') }}"
"""

RETURN = r"""
_raw:
  description:
    - The matrix entries. Use C(query()) or C(lookup(..., wantlist=true)) so that a single selected
      entry still comes back as a list.
  type: list
  elements: dict
  sample:
    - service: vault_api
      groups: [orchestrator]
      ports: [{port: 8200, proto: tcp}]
      tls: "yes"
      from: [swarm, admin]
      description: Vault/OpenBao API
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
            if terms:
                matrix = [sm.get_service(matrix, str(name)) for name in terms]
        except ValueError as exc:
            raise AnsibleLookupError(f"service_matrix: {exc}") from exc
        return matrix
