# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one systemd sandbox of the swarm: ``overrides | orcaqueen.swarm.systemd_sandbox``.

Every unit the collection writes (the component role's drop-ins and whole units, vLLM's model
and proxy units, Qdrant's, Vault's, the agents') gets these settings; a unit differs from them
only through the overrides it names. The documentation is in ``systemd_sandbox.yml``.
"""

from __future__ import annotations

import re
import typing as t

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - only without ansible-core (plain unit use)

    class AnsibleFilterError(Exception):  # type: ignore[no-redef]
        """Stand-in when ansible-core is absent."""


# Ordered as they are written. A value that is a list becomes one line per element.
SANDBOX: tuple[tuple[str, str | list[str]], ...] = (
    ("NoNewPrivileges", "yes"),
    ("CapabilityBoundingSet", ""),
    ("AmbientCapabilities", ""),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("MemoryDenyWriteExecute", "yes"),
    ("RemoveIPC", "yes"),
    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ("SystemCallArchitectures", "native"),
    ("SystemCallFilter", ["@system-service", "~@privileged @resources"]),
    ("SystemCallErrorNumber", "EPERM"),
    ("UMask", "0027"),
)
RESTART: tuple[tuple[str, str], ...] = (("Restart", "on-failure"), ("RestartSec", "5"))
_KEY = re.compile(r"^[A-Z][A-Za-z0-9]+$")


def _value(key: str, value: t.Any) -> list[str]:
    values = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for one in values:
        if isinstance(one, bool):
            one = "yes" if one else "no"
        if not isinstance(one, (str, int)):
            raise AnsibleFilterError(f"systemd_sandbox: {key} must be a string, number or list of them, got {one!r}")
        text = str(one)
        if "\n" in text or "\r" in text:
            raise AnsibleFilterError(f"systemd_sandbox: the value of {key} must be one line")
        out.append(text)
    return out


def sandbox_settings(overrides: t.Any = None, restart: bool = False) -> list[tuple[str, list[str]]]:
    """The settings in writing order, after ``overrides`` (None drops a setting; new keys go last)."""
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise AnsibleFilterError(f"systemd_sandbox: overrides must be a dict, got {type(overrides).__name__}")
    for key in overrides:
        if not isinstance(key, str) or not _KEY.match(key):
            raise AnsibleFilterError(f"systemd_sandbox: {key!r} is not a systemd setting name")
    base = (RESTART if restart else ()) + SANDBOX
    known = {entry[0] for entry in base}
    settings = [(key, overrides.get(key, value)) for key, value in base]
    settings += [(key, value) for key, value in overrides.items() if key not in known]
    return [(key, _value(key, value)) for key, value in settings if value is not None]


def systemd_sandbox(overrides: t.Any = None, restart: bool = False) -> str:
    """[Service] lines of the shared sandbox (and the restart policy with ``restart``)."""
    return "\n".join(f"{key}={one}" for key, values in sandbox_settings(overrides, restart) for one in values)


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"systemd_sandbox": systemd_sandbox}
