# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A release setting for one machine: ``vault_archive_src | orcaqueen.swarm.for_machine('aarch64')``.

A swarm mixes architectures (an ARM64 orchestrator, x86_64 GPU hosts), so a binary release's source
and checksum may be given per machine architecture. The documentation is in ``for_machine.yml``.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Mapping

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - only without ansible-core (plain unit use)

    class AnsibleFilterError(Exception):  # type: ignore[no-redef]
        """Stand-in when ansible-core is absent."""


# The names of `uname -m` (Ansible's ansible_facts.architecture and gpu_facts' machine) for the
# architectures the swarm runs on, and the names release files commonly use for them.
_ALIASES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
_MACHINE = re.compile(r"^[a-z0-9_]+$")


def _canonical(name: str) -> str:
    return _ALIASES.get(name, name)


def for_machine(value: t.Any, machine: t.Any, name: str = "the release setting") -> t.Any:
    """``value`` when it is one setting for every machine; its entry for ``machine`` when it is a mapping
    of machine architecture (x86_64/amd64, aarch64/arm64) to setting. A mapping without an entry for the
    machine fails, naming the machine and the entries there are."""
    if not isinstance(value, Mapping):
        return value
    if machine in (None, ""):
        raise AnsibleFilterError(
            f"for_machine: {name} is given per machine architecture, "
            "but this host's machine is not known (gather facts first)"
        )
    if not isinstance(machine, str) or not _MACHINE.match(machine):
        raise AnsibleFilterError(
            f"for_machine: {name}: the machine must be an architecture name like x86_64, got {machine!r}"
        )
    entries: dict[str, t.Any] = {}
    for key, setting in value.items():
        if not isinstance(key, str) or not _MACHINE.match(key):
            raise AnsibleFilterError(f"for_machine: {name}: {key!r} is not a machine architecture (x86_64, aarch64)")
        canonical = _canonical(key)
        if canonical in entries:
            raise AnsibleFilterError(f"for_machine: {name}: {canonical} is given twice ({key!r} names it again)")
        entries[canonical] = setting
    wanted = _canonical(machine)
    if wanted not in entries:
        have = ", ".join(sorted(entries)) or "none"
        raise AnsibleFilterError(f"for_machine: {name} has no entry for {wanted} (entries: {have})")
    return entries[wanted]


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"for_machine": for_machine}
