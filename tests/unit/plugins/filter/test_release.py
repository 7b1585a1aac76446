# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""for_machine: one release setting for every host, or the host's entry of a per-architecture mapping."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.orcaqueen.swarm.plugins.filter.release import for_machine

PER_ARCH = {"x86_64": "/srv/bao-amd64.tar.gz", "arm64": "/srv/bao-arm64.tar.gz"}


def test_one_value_serves_every_machine() -> None:
    assert for_machine("/srv/bao", "aarch64") == "/srv/bao"
    assert for_machine("", "x86_64") == ""


@pytest.mark.parametrize(
    ("machine", "want"),
    [
        ("x86_64", "/srv/bao-amd64.tar.gz"),
        ("aarch64", "/srv/bao-arm64.tar.gz"),
        ("amd64", "/srv/bao-amd64.tar.gz"),
        ("arm64", "/srv/bao-arm64.tar.gz"),
    ],
)
def test_each_machine_gets_its_own_entry(machine: str, want: str) -> None:
    assert for_machine(PER_ARCH, machine) == want


def test_a_missing_machine_is_refused_with_the_entries_there_are() -> None:
    with pytest.raises(AnsibleFilterError, match=r"vault_archive_src has no entry for aarch64 \(entries: x86_64\)"):
        for_machine({"amd64": "/srv/bao"}, "aarch64", "vault_archive_src")


@pytest.mark.parametrize(
    ("value", "machine", "message"),
    [
        ({"x86_64": "a", "amd64": "b"}, "x86_64", "x86_64 is given twice"),
        ({"x86 64": "a"}, "x86_64", "is not a machine architecture"),
        (PER_ARCH, "", "this host's machine is not known"),
        (PER_ARCH, "x86 64", "must be an architecture name"),
    ],
)
def test_bad_mappings_are_refused(value: dict[str, str], machine: str, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        for_machine(value, machine)
