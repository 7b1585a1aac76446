# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The input and the node groups of every filter that reads the service matrix (filter/service_matrix.py).
    DOCUMENTATION = r"""
options:
  _input:
    description: The service matrix (lookup P(orcaqueen.swarm.service_matrix#lookup)).
    type: list
    elements: dict
    required: true
  node_groups:
    description: The node groups.
    type: list
    elements: str
    default: [orchestrator, inference, worker]
"""
