# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The grafana role makes the admin password in Vault the live one (issue: rotation that really rotates).

grafana.ini's ``admin_password`` applies only when Grafana creates its database, so a rotated password
would change nothing by itself. The role's health checks (roles/grafana/tasks/verify.yml) log in with
the password from Vault and, when Grafana refuses it, reset it with Grafana's CLI.

MOCK (docs/testing.md): no Grafana server can be had on these machines (not packaged, no vendor
repository reachable). This test runs the role's real tasks with Ansible against a stand-in that
speaks the four things those tasks use - HTTPS with a CA, ``/api/health``, basic-auth ``/api/user``
and the data source health URL - and a stand-in for ``grafana cli admin reset-admin-password
--password-from-stdin`` that writes the stand-in's password store. What it proves is the role's
logic: no reset while the password logs in, one reset (password on stdin, never in argv or in the
output) when it does not, and a failed run when the reset does not take.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from support import self_signed_ca

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
DATASOURCE_UID = "orcaqueen-prometheus"

# The stand-in for Grafana's CLI: checks its arguments as the role passes them, reads the password
# from stdin and stores it where the stand-in server reads it. FAIL in the environment makes it exit 1.
FAKE_CLI = """\
import json, os, sys
store, argv = sys.argv[1], sys.argv[2:]
assert argv[-3:] == ["admin", "reset-admin-password", "--password-from-stdin"], argv
password = sys.stdin.read()
assert password and password not in " ".join(sys.argv), "the password must come on stdin only"
with open(store + ".calls", "a") as log:
    log.write(json.dumps(argv) + "\\n")
if os.environ.get("FAKE_GRAFANA_CLI_FAIL"):
    sys.exit("Failed to update user password")
with open(store, "w") as out:
    out.write(password)
print("Admin password changed successfully \\u2714")
"""


class _Grafana(BaseHTTPRequestHandler):
    store: Path
    logins: list[int]

    def log_message(self, format: str, *args: object) -> None:
        return

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/api/health":
            self._reply(200, {"database": "ok", "version": "stand-in"})
            return
        header = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(b"admin:" + self.store.read_bytes()).decode()
        ok = header == expected
        type(self).logins.append(200 if ok else 401)
        if not ok:
            self._reply(401, {"message": "invalid username or password"})
        elif self.path == "/api/user":
            self._reply(200, {"login": "admin", "isGrafanaAdmin": True})
        elif self.path == f"/api/datasources/uid/{DATASOURCE_UID}/health":
            self._reply(200, {"status": "OK", "message": "Successfully queried the Prometheus API."})
        else:
            self._reply(404, {"message": "not found"})


class Stand:
    def __init__(self, url: str, tls_dir: Path, store: Path, cli: Path, handler: type[_Grafana]) -> None:
        self.url, self.tls_dir, self.store, self.cli, self.handler = url, tls_dir, store, cli, handler

    def calls(self) -> list[list[str]]:
        log = Path(str(self.store) + ".calls")
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def grafana(tmp_path: Path) -> Iterator[Stand]:
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    crt, key = self_signed_ca(tls_dir, "grafana stand-in", ip="127.0.0.1")
    store = tmp_path / "grafana-admin-password"
    store.write_text(secrets.token_urlsafe(24))  # the password Grafana was created with
    cli = tmp_path / "fake_grafana_cli.py"
    cli.write_text(FAKE_CLI)
    handler = type("Handler", (_Grafana,), {"store": store, "logins": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(crt, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Stand(f"https://127.0.0.1:{server.server_address[1]}", tls_dir, store, cli, handler)
    server.shutdown()
    server.server_close()


def converge_checks(
    stand: Stand, tmp_path: Path, password: str, fail: bool = False
) -> subprocess.CompletedProcess[str]:
    """The grafana role's health checks (tasks_from verify), as its health gate runs them."""
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.include_role": {
                        "name": "orcaqueen.swarm.grafana",
                        "tasks_from": "verify",
                        "rolespec_validate": False,
                    }
                }
            ],
        }
    ]
    playbook = tmp_path / "grafana-verify.yml"
    playbook.write_text(yaml.safe_dump(play))
    extra = tmp_path / "grafana-vars.json"
    extra.write_text(
        json.dumps(
            {
                "grafana_admin_password": password,
                "grafana_listen_address": "127.0.0.1",
                "grafana_port": int(stand.url.rsplit(":", 1)[1]),
                "_grafana_tls_dir": str(stand.tls_dir),
                "_grafana_admin_reset_argv": [
                    sys.executable,
                    str(stand.cli),
                    str(stand.store),
                    "--homepath",
                    "/usr/share/grafana",
                    "admin",
                    "reset-admin-password",
                    "--password-from-stdin",
                ],
            }
        )
    )
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STRATEGY="linear", ANSIBLE_NOCOLOR="1")
    if fail:
        env["FAKE_GRAFANA_CLI_FAIL"] = "1"
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, str(playbook), "-e", f"@{extra}", "-v"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_password_in_vault_becomes_the_live_one(grafana: Stand, tmp_path: Path) -> None:
    rotated = secrets.token_urlsafe(24)  # made per run, never a fixed secret
    first = converge_checks(grafana, tmp_path, rotated)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-4000:]
    assert grafana.store.read_text() == rotated, "the CLI did not set the password from Vault"
    assert len(grafana.calls()) == 1
    assert "changed=1" in output, output[-2000:]
    assert rotated not in output, "the password appears in the run's output"
    # refused once (the old password was live), then accepted by the data source check
    assert grafana.handler.logins == [401, 200], grafana.handler.logins

    # A second run with the same password logs in at once: no reset, nothing changed.
    grafana.handler.logins.clear()
    second = converge_checks(grafana, tmp_path, rotated)
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    assert len(grafana.calls()) == 1, "a reset ran although the password logged in"
    assert "changed=0" in second.stdout, second.stdout[-2000:]
    assert grafana.handler.logins == [200, 200], grafana.handler.logins


def test_a_reset_that_does_not_take_fails_the_checks(grafana: Stand, tmp_path: Path) -> None:
    created = grafana.store.read_text()
    rotated = secrets.token_urlsafe(24)
    run = converge_checks(grafana, tmp_path, rotated, fail=True)
    output = run.stdout + run.stderr
    assert run.returncode != 0, "the checks passed although Grafana still refuses the password from Vault"
    assert grafana.store.read_text() == created
    assert rotated not in output, "the password appears in the run's output"
