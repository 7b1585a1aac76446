# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Connection options of every module that talks to Vault / OpenBao (module_utils/_vault.py).
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Address of the Vault or OpenBao server, for example C(https://oracle.tailnet.example:8200).
      - Falls back to E(VAULT_ADDR), then E(BAO_ADDR), in the environment of the module.
    type: str
    required: true
  auth_method:
    description:
      - V(token) uses O(token); V(approle) logs in once with O(role_id) and O(secret_id) and uses the
        token it gets for every further call of the task.
    type: str
    choices: [token, approle]
    default: token
  token:
    description:
      - Vault token. Falls back to E(VAULT_TOKEN), then E(BAO_TOKEN).
      - Required with O(auth_method=token). Never logged.
    type: str
  role_id:
    description:
      - AppRole role id. Required with O(auth_method=approle).
    type: str
  secret_id:
    description:
      - AppRole secret id. Required with O(auth_method=approle). Never logged.
    type: str
  approle_mount:
    description:
      - Mount path of the AppRole auth method.
    type: str
    default: approle
  ca_cert:
    description:
      - CA bundle (PEM file on the host running the module) that verifies the server certificate.
      - Falls back to E(VAULT_CACERT), then E(BAO_CACERT). Without it the system CAs are used.
    type: path
  validate_certs:
    description:
      - Verify the server's TLS certificate. This option is the only way to turn verification
        off (E(VAULT_SKIP_VERIFY) is not read), and the module warns when it is V(false).
      - Turning it off lets anyone on the path read and change the secrets; do it for a throw-away
        lab only.
    type: bool
    default: true
  namespace:
    description:
      - Vault Enterprise / OpenBao namespace, if any.
    type: str
  timeout:
    description:
      - Seconds to wait for each Vault request.
    type: int
    default: 30
notes:
  - "Requires the Python library C(hvac) on the host that runs the module (usually the controller,
    with C(delegate_to: localhost))."
  - Errors name their cause and the next step - sealed server, unreachable server, TLS verification
    failure, permission denied, check-and-set conflict.
requirements:
  - hvac >= 2.0
"""
