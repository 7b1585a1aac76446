# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Vault / OpenBao client of the ``secret_rotate`` module (private to the collection).

Only for what community.hashi_vault lacks: ``secret_rotate`` needs KV v2 custom metadata, its
``min_age`` check, grace versions and capability checks in one idempotent step with one login.
Roles reach Vault through the community.hashi_vault modules on the first Vault server instead
(docs/architecture.md, "Vault access").

* logs in once (token, or AppRole ``role_id``/``secret_id``) and reuses the token for every
  call the module makes;
* verifies TLS by default (``ca_cert`` names the CA bundle); the only way to turn verification
  off is ``validate_certs: false``, which the modules document and warn about. ``VAULT_SKIP_VERIFY``
  is deliberately not read;
* turns every failure into a :class:`VaultError` whose ``kind`` is one of ``sealed``,
  ``unreachable``, ``tls``, ``permission``, ``auth``, ``not_found``, ``cas_conflict``, ``invalid``, ``server``
  and whose message says what to do next.

The connection options are documented once in ``plugins/doc_fragments/vault.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import traceback
import typing as t

try:
    import hvac
    import hvac.exceptions
    import requests.exceptions

    HAS_HVAC = True
    HVAC_IMPORT_ERROR: str | None = None
except ImportError:
    HAS_HVAC = False
    HVAC_IMPORT_ERROR = traceback.format_exc()

from ansible.module_utils.basic import env_fallback

# Shared options (documented in plugins/doc_fragments/vault.py).
VAULT_ARGUMENT_SPEC: dict[str, t.Any] = dict(
    url=dict(type="str", required=True, fallback=(env_fallback, ["VAULT_ADDR", "BAO_ADDR"])),
    auth_method=dict(type="str", choices=["token", "approle"], default="token"),
    token=dict(type="str", no_log=True, fallback=(env_fallback, ["VAULT_TOKEN", "BAO_TOKEN"])),
    role_id=dict(type="str"),
    secret_id=dict(type="str", no_log=True),
    approle_mount=dict(type="str", default="approle"),
    ca_cert=dict(type="path", fallback=(env_fallback, ["VAULT_CACERT", "BAO_CACERT"])),
    validate_certs=dict(type="bool", default=True),
    namespace=dict(type="str"),
    timeout=dict(type="int", default=30),
)
VAULT_REQUIRED_IF: list[tuple[str, str, tuple[str, ...]]] = [
    ("auth_method", "token", ("token",)),
    ("auth_method", "approle", ("role_id", "secret_id")),
]


class VaultError(Exception):
    """A Vault call failed; ``kind`` classifies it, the message says what to do."""

    def __init__(self, message: str, kind: str = "server") -> None:
        super().__init__(message)
        self.kind = kind


@dataclasses.dataclass
class VaultConfig:
    url: str
    auth_method: str = "token"
    token: str | None = dataclasses.field(default=None, repr=False)
    role_id: str | None = None
    secret_id: str | None = dataclasses.field(default=None, repr=False)
    approle_mount: str = "approle"
    ca_cert: str | None = None
    validate_certs: bool = True
    namespace: str | None = None
    timeout: int = 30

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> VaultConfig:
        return cls(**{f.name: params.get(f.name) for f in dataclasses.fields(cls) if params.get(f.name) is not None})

    @property
    def verify(self) -> bool | str:
        """What requests gets as ``verify``: the CA file, True (system CAs) or - only when asked - False."""
        if not self.validate_certs:
            return False
        return self.ca_cert or True


@dataclasses.dataclass
class KvSecret:
    data: dict[str, t.Any] = dataclasses.field(repr=False)
    version: int
    created_time: str | None


class VaultClient:
    """A logged-in client, created once per module run; every call goes through :meth:`_guard`."""

    def __init__(self, config: VaultConfig) -> None:
        if not HAS_HVAC:
            raise VaultError("the Python library hvac is required on the host that runs the module", "invalid")
        self.config = config
        self._client: t.Any = hvac.Client(
            url=config.url, verify=config.verify, timeout=config.timeout, namespace=config.namespace
        )
        self._logged_in = False

    # ------------------------------------------------------------------ errors
    @contextlib.contextmanager
    def _guard(self, what: str) -> t.Iterator[None]:
        url = self.config.url
        try:
            yield
        except requests.exceptions.SSLError as exc:
            hint = (
                f"the CA file {self.config.ca_cert} does not verify its certificate"
                if self.config.ca_cert
                else "set ca_cert (or VAULT_CACERT) to the CA that signed the server certificate"
            )
            raise VaultError(
                f"TLS verification failed talking to {url} while trying to {what}: {hint} ({exc})", "tls"
            ) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise VaultError(
                f"Vault at {url} is unreachable while trying to {what}: check the address, that the server "
                f"runs and that the network allows it ({type(exc).__name__})",
                "unreachable",
            ) from exc
        except hvac.exceptions.VaultDown as exc:
            raise VaultError(
                f"Vault at {url} is sealed: unseal it (bao/vault operator unseal) and retry", "sealed"
            ) from exc
        except hvac.exceptions.Forbidden as exc:
            raise VaultError(
                f"permission denied to {what}: the token's policies do not allow it (or the token is invalid "
                "or expired); grant the capability in the policy or use another token",
                "permission",
            ) from exc
        except hvac.exceptions.InvalidPath as exc:
            raise VaultError(
                f"not found while trying to {what}: check that the KV v2 mount exists and the path is right ({exc})",
                "not_found",
            ) from exc
        except hvac.exceptions.Unauthorized as exc:
            raise VaultError(f"authentication failed while trying to {what}: {exc}", "auth") from exc
        except hvac.exceptions.InvalidRequest as exc:
            text = str(exc)
            if "check-and-set" in text:
                raise VaultError(
                    f"check-and-set conflict while trying to {what}: another writer created a new version "
                    "since it was read; nothing was written, run the rotation again",
                    "cas_conflict",
                ) from exc
            raise VaultError(f"Vault rejected the request to {what}: {text}", "invalid") from exc
        except hvac.exceptions.VaultError as exc:
            raise VaultError(f"Vault error while trying to {what}: {type(exc).__name__}: {exc}", "server") from exc

    # ------------------------------------------------------------------ session
    def connect(self) -> None:
        """Check the server is reachable and unsealed, then log in (once)."""
        with self._guard("read the seal status"):
            status = self._client.sys.read_seal_status()
        if status.get("sealed"):
            raise VaultError(
                f"Vault at {self.config.url} is sealed: unseal it (bao/vault operator unseal) and retry", "sealed"
            )
        self.login()

    def login(self) -> None:
        if self._logged_in:
            return
        if self.config.auth_method == "approle":
            with self._guard(f"log in with AppRole at auth/{self.config.approle_mount}"):
                self._client.auth.approle.login(
                    role_id=self.config.role_id,
                    secret_id=self.config.secret_id,
                    mount_point=self.config.approle_mount,
                )
        else:
            if not self.config.token:
                raise VaultError("no Vault token: set token (or VAULT_TOKEN), or use auth_method=approle", "auth")
            self._client.token = self.config.token
        self._logged_in = True

    def capabilities(self, paths: list[str]) -> dict[str, list[str]]:
        """The token's capabilities on each API path (``sys/capabilities-self``)."""
        self.login()
        with self._guard("read the token's capabilities"):
            response = self._client.adapter.post("/v1/sys/capabilities-self", json={"paths": paths})
        data = response.get("data", response) if isinstance(response, dict) else {}
        return {path: list(data.get(path, [])) for path in paths}

    # ------------------------------------------------------------------ KV v2
    def kv2_read(self, mount: str, path: str) -> KvSecret | None:
        """The latest version of a KV v2 secret; None when it does not exist (or is deleted)."""
        self.login()
        try:
            with self._guard(f"read {mount}/{path}"):
                response = self._client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=mount, raise_on_deleted_version=False
                )
        except VaultError as exc:
            if exc.kind == "not_found":
                return None
            raise
        data = response.get("data") or {}
        metadata = data.get("metadata") or {}
        if data.get("data") is None:
            # Latest version deleted or destroyed: its number still counts for check-and-set.
            return KvSecret(
                data={}, version=int(metadata.get("version") or 0), created_time=metadata.get("created_time")
            )
        return KvSecret(
            data=dict(data["data"]), version=int(metadata["version"]), created_time=metadata.get("created_time")
        )

    def kv2_write(self, mount: str, path: str, data: dict[str, t.Any], cas: int) -> int:
        """Write a new version with check-and-set ``cas`` (0: only if absent); returns the new version."""
        self.login()
        with self._guard(f"write {mount}/{path}"):
            response = self._client.secrets.kv.v2.create_or_update_secret(
                path=path, secret=data, cas=cas, mount_point=mount
            )
        return int(response["data"]["version"])

    def kv2_update_metadata(
        self, mount: str, path: str, max_versions: int | None, custom_metadata: dict[str, str]
    ) -> None:
        self.login()
        with self._guard(f"update the metadata of {mount}/{path}"):
            self._client.secrets.kv.v2.update_metadata(
                path=path, mount_point=mount, max_versions=max_versions, custom_metadata=custom_metadata
            )
