# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the unit tests; the collection is made importable by tests/support.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import COLLECTIONS_ROOT, REPO_ROOT


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def collections_root() -> Path:
    return COLLECTIONS_ROOT
