# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of orcaqueen.swarm.component_health, run as Ansible runs it (a subprocess), against a real
HTTP server on loopback and real commands.

The crash-loop checks need systemd, which does not run inside this test process: there a stand-in
`systemctl` (a shell script first on PATH) reports the restart counter and state. The real thing is
shown by the Molecule scenarios, whose broken releases crash-loop under systemd and are rolled back
by the health gate in seconds (docs/testing.md).
"""

from __future__ import annotations

import http.server
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import support
from ansible_collections.orcaqueen.swarm.plugins.modules import component_health as module

MODULE_PATH = Path(module.__file__)


class Handler(http.server.BaseHTTPRequestHandler):
    """GET /ok -> 200 'ready', /denied -> 401, anything else -> 503."""

    def do_GET(self) -> None:
        status, body = {"/ok": (200, b"ready"), "/denied": (401, b"no")}.get(self.path, (503, b"starting"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def run(tmp_path: Path):
    def _run(args: dict[str, Any]) -> dict[str, Any]:
        return support.run_module(MODULE_PATH, tmp_path, args)

    return _run


def test_a_healthy_url_passes_at_the_first_probe(run, server: str) -> None:
    result = run({"url": f"{server}/ok", "contains": "ready"})
    assert not result.get("failed"), result
    assert result["status"] == 200 and result["attempts"] == 1 and result["changed"] is False


def test_a_status_listed_as_healthy_passes(run, server: str) -> None:
    result = run({"url": f"{server}/denied", "status_code": [200, 401]})
    assert not result.get("failed"), result
    assert result["status"] == 401


def test_an_unhealthy_url_fails_after_the_timeout(run, server: str) -> None:
    start = time.monotonic()
    result = run({"url": f"{server}/starting", "timeout": 3, "interval": 1})
    assert result["failed"] and result["reason"] == "no healthy answer within 3 s"
    assert "HTTP 503" in result["msg"] and result["attempts"] >= 2
    assert time.monotonic() - start < 10


def test_a_missing_text_is_unhealthy(run, server: str) -> None:
    result = run({"url": f"{server}/ok", "contains": "not there", "timeout": 1, "interval": 1})
    assert result["failed"] and "does not contain 'not there'" in result["msg"]


def test_nothing_listening_is_unhealthy(run) -> None:
    result = run({"url": "http://127.0.0.1:9/health", "timeout": 1, "interval": 1})
    assert result["failed"] and result["status"] == -1


def test_a_command_probe(run) -> None:
    ok = run({"argv": ["sh", "-c", "echo BackendState Running"], "contains": "Running"})
    assert not ok.get("failed"), ok
    bad = run({"argv": ["sh", "-c", "echo oops >&2; exit 3"], "timeout": 1, "interval": 1})
    assert bad["failed"] and "rc 3: oops" in bad["msg"]


def test_url_and_argv_are_exclusive_and_one_is_required(run, server: str) -> None:
    assert "mutually exclusive" in run({"url": f"{server}/ok", "argv": ["true"]})["msg"]
    assert "one of the following is required" in run({"units": ["x.service"]})["msg"]


def fake_systemctl(bin_dir: Path, state_file: Path) -> None:
    """A `systemctl show` stand-in: each call adds one restart; the state comes from state_file."""
    bin_dir.mkdir()
    script = bin_dir / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f"n=$(cat {state_file}.n 2>/dev/null || echo 0); n=$((n + $(cat {state_file}.step)))\n"
        f"echo $n > {state_file}.n\n"
        f"echo NRestarts=$n; echo ActiveState=$(cat {state_file})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (bin_dir / "journalctl").write_text("#!/bin/sh\necho 'last line of the unit'\n")
    (bin_dir / "journalctl").chmod(0o755)


@pytest.mark.parametrize(
    ("state", "step", "reason"),
    [
        ("activating", "1", "x.service was restarted 3 times while starting"),
        ("failed", "0", "x.service failed (systemd gave up restarting it)"),
    ],
)
def test_a_crash_loop_or_a_failed_unit_ends_the_wait_early(
    run, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str, step: str, reason: str
) -> None:
    marker = tmp_path / "unit-state"
    marker.write_text(state)
    Path(f"{marker}.step").write_text(step)
    fake_systemctl(tmp_path / "bin", marker)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    start = time.monotonic()
    result = run({"url": f"{server}/starting", "units": ["x.service"], "timeout": 60, "interval": 1})
    assert result["failed"] and result["reason"] == reason
    assert "last line of the unit" in result["msg"]
    assert time.monotonic() - start < 15


def test_a_unit_that_keeps_running_waits_for_the_probe(
    run, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "unit-state"
    marker.write_text("active")
    Path(f"{marker}.step").write_text("0")
    fake_systemctl(tmp_path / "bin", marker)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    result = run({"url": f"{server}/ok", "units": ["x.service"]})
    assert not result.get("failed"), result
