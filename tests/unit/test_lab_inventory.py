# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab inventory installs the hvac wheel that the harness caches (the requirements.txt pin)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_lab_hvac_version_is_the_pinned_one() -> None:
    pinned = re.search(r"^hvac==([0-9.]+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert pinned, "requirements.txt pins no hvac==X.Y.Z (scripts/fetch-openbao.sh caches that version)"
    lab = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "swarm.yml").read_text())
    assert str(lab["orcaqueen_hvac_version"]) == pinned.group(1)
    assert "{{ orcaqueen_hvac_version }}" in lab["vault_hvac_src"]
