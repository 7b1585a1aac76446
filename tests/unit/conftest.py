# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make ``ansible_collections.orcaqueen.swarm`` importable from the working tree.

The repository is the collection; ``.collections/ansible_collections/orcaqueen/swarm`` links
back to it.  If that link is missing (a plain copy of the tree), a temporary one is made.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _collections_root() -> Path:
    linked = REPO_ROOT / ".collections"
    if (linked / "ansible_collections" / "orcaqueen" / "swarm" / "galaxy.yml").exists():
        return linked
    # Inside an ansible_collections/<ns>/<name> tree already (ansible-test copies)?
    if REPO_ROOT.parent.parent.name == "ansible_collections":
        return REPO_ROOT.parent.parent.parent
    tmp = Path(tempfile.mkdtemp(prefix="orcaqueen-collections-"))
    (tmp / "ansible_collections" / "orcaqueen").mkdir(parents=True)
    os.symlink(REPO_ROOT, tmp / "ansible_collections" / "orcaqueen" / "swarm")
    return tmp


COLLECTIONS_ROOT = _collections_root()
if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def collections_root() -> Path:
    return COLLECTIONS_ROOT
