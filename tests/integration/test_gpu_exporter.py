"""orcaqueen.swarm.gpu_exporter refuses bad input before it changes a host.

Each case runs the real role (``ansible-playbook``) against a real systemd container started
from the locally built image, with one mistake in its variables, and checks that the run fails
with a message that names the fix and that the container's filesystem is exactly as before
(``docker diff`` before and after), and that no release directory, unit or service user exists.

What this cannot test here: the exporter running. No machine of this project's CI has a GPU, and
the exporter's source and release binaries cannot be fetched here (the Go module proxy refuses
github.com/utkuozdemir/nvidia_gpu_exporter, and no release host is reachable). So the install,
the sandboxed unit starting, ``nvidia-smi`` inside the sandbox and the health gate (``/metrics``
over TLS with auth -> 200 with ``nvidia_smi_gpu_info``, without auth -> 401) are not exercised;
docs/gpu_exporter.md ("Testing") says so. The release archive used here is made at test time
and only its checksum matters: no case gets as far as unpacking it.
"""

from __future__ import annotations

import hashlib
import io
import platform
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from systemd_node import REPO, connection_vars, docker, filesystem_changes, run_playbook, systemd_node

NETWORK = "gpuexp-net"
VERSION = "1.3.1"
# Architecture names of the release files, by machine (the container runs on this machine's).
RELEASE_ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}
INSTALL_DIR = "/opt/gpu_exporter"
UNIT = "/etc/systemd/system/nvidia-gpu-exporter.service"


def _archive_name(arch: str) -> str:
    return f"nvidia_gpu_exporter_{VERSION}_linux_{arch}.tar.gz"


def _make_archive(path: Path) -> str:
    """A tarball laid out like a release (files at the top level); returns its sha256."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (
            ("nvidia_gpu_exporter", b"#!/bin/false\n# test archive made by tests/integration/test_gpu_exporter.py\n"),
            ("LICENSE", b"test archive\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def release_arch() -> str:
    machine = platform.machine()
    if machine not in RELEASE_ARCH:
        pytest.fail(f"no nvidia_gpu_exporter release for machine {machine}")
    return RELEASE_ARCH[machine]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, release_arch: str) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("archive") / _archive_name(release_arch)
    return path, _make_archive(path)


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with systemd_node("gpuexp", "gpuexp", NETWORK, remove_network=True) as name:
        # Warm-up: whatever merely connecting and gathering facts leaves in the container
        # is there before the first "before" snapshot.
        warmup = _run(name, tmp_path_factory.mktemp("warmup"), {}, tasks=[{"ansible.builtin.ping": None}])
        assert warmup.returncode == 0, warmup.stdout[-3000:] + warmup.stderr[-2000:]
        yield name


def _run(
    container: str,
    tmp_path: Path,
    role_vars: dict[str, Any],
    entry: str = "main",
    tasks: list[dict[str, Any]] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the role (entry point ``entry``) with ``role_vars`` on the container."""
    inventory = {
        "all": {
            "hosts": {
                "gpuhost": {
                    **connection_vars(container),
                }
            }
        }
    }
    play_tasks = tasks or [
        {
            "name": f"gpu_exporter ({entry})",
            "ansible.builtin.include_role": {"name": "orcaqueen.swarm.gpu_exporter", "tasks_from": entry},
        }
    ]
    playbook = [
        {"name": "GPU exporter test", "hosts": "gpuhost", "gather_facts": True, "vars": role_vars, "tasks": play_tasks}
    ]
    return run_playbook(inventory, playbook, tmp_path)


def _nothing_installed(container: str) -> None:
    for path in (INSTALL_DIR, UNIT, "/etc/gpu_exporter"):
        assert docker("exec", container, "test", "-e", path).returncode == 1, f"{path} exists in {container}"
    assert docker("exec", container, "getent", "passwd", "gpu-exporter").returncode == 2, "user gpu-exporter exists"


def _valid_vars(archive: tuple[Path, str]) -> dict[str, Any]:
    path, sha256 = archive
    return {
        "gpu_exporter_version": VERSION,
        "gpu_exporter_archive_src": str(path),
        "gpu_exporter_archive_sha256": sha256,
        # Generated per run; never a fixed secret.
        "gpu_exporter_web_password": secrets.token_urlsafe(24),
    }


def _assert_refused(result: subprocess.CompletedProcess[str], expected: list[str], case: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"{case}: the role accepted the bad input:\n{output[-3000:]}"
    for words in expected:
        assert words in output, f"{case}: the message lacks {words!r}:\n{output[-3000:]}"
    assert "changed: [" not in output, f"{case}: a task changed something before the error:\n{output[-3000:]}"


def test_preflight_passes_with_valid_input(container: str, archive: tuple[Path, str], tmp_path: Path) -> None:
    """Control: with the GPU check off and every setting right, preflight passes and changes nothing,
    so the failures below come from the one mistake each case makes."""
    before = filesystem_changes(container)
    result = _run(container, tmp_path, {**_valid_vars(archive), "gpu_exporter_require_gpu": False}, entry="preflight")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert filesystem_changes(container) == before
    _nothing_installed(container)


def test_host_without_gpu_is_refused(container: str, archive: tuple[Path, str], tmp_path: Path) -> None:
    """The container has no GPU: gpu_facts (run by the role) reports vendor none, preflight stops."""
    before = filesystem_changes(container)
    result = _run(container, tmp_path, _valid_vars(archive))
    _assert_refused(result, ["No NVIDIA GPU on gpuhost", "vendor 'none'", "gpu_exporter_require_gpu: false"], "no-gpu")
    assert filesystem_changes(container) == before
    _nothing_installed(container)


def test_checksum_mismatch_is_refused_before_install(container: str, archive: tuple[Path, str], tmp_path: Path) -> None:
    """A local archive whose sha256 differs from gpu_exporter_archive_sha256 never reaches the host."""
    actual = archive[1]
    expected = hashlib.sha256(b"another archive").hexdigest()
    role_vars = {**_valid_vars(archive), "gpu_exporter_require_gpu": False, "gpu_exporter_archive_sha256": expected}
    before = filesystem_changes(container)
    result = _run(container, tmp_path, role_vars)
    _assert_refused(
        result,
        [f"has sha256 {actual}", f"expected gpu_exporter_archive_sha256 {expected}", "refusing to install"],
        "sha256",
    )
    assert filesystem_changes(container) == before
    _nothing_installed(container)


def test_missing_password_names_the_vault_path(container: str, archive: tuple[Path, str], tmp_path: Path) -> None:
    role_vars = {**_valid_vars(archive), "gpu_exporter_web_password": ""}
    before = filesystem_changes(container)
    result = _run(container, tmp_path, role_vars)
    _assert_refused(result, ["gpu_exporter_web_password", "secret/swarm/gpu_exporter/web key password"], "password")
    assert filesystem_changes(container) == before
    _nothing_installed(container)


def test_archive_for_another_architecture_is_refused(
    container: str, archive: tuple[Path, str], release_arch: str, tmp_path: Path
) -> None:
    """An upstream archive name for the wrong architecture fails before anything is copied."""
    other = next(arch for arch in RELEASE_ARCH.values() if arch != release_arch)
    wrong = tmp_path / _archive_name(other)
    shutil.copyfile(archive[0], wrong)
    role_vars = {**_valid_vars(archive), "gpu_exporter_require_gpu": False, "gpu_exporter_archive_src": str(wrong)}
    before = filesystem_changes(container)
    result = _run(container, tmp_path, role_vars)
    _assert_refused(result, [_archive_name(other), f"needs {_archive_name(release_arch)}"], "arch")
    assert filesystem_changes(container) == before
    _nothing_installed(container)


def test_rendered_unit_is_valid_and_sandboxed(container: str, tmp_path: Path) -> None:
    """The role's unit templates, rendered with its own defaults and vars, pass systemd's checks.

    Runs last: it writes into the container. ``systemd-analyze verify`` requires the ExecStart
    program to exist, so an executable that only exits 1 stands at the binary's path; it is never
    started, the exporter itself cannot run here (see the module docstring).
    """
    role = REPO / "roles" / "gpu_exporter"
    # The unit as the role renders it: the shared entry point of orcaqueen.swarm.component with the
    # very vars the role's converge (tasks/converge.yml) passes to it.
    unit_call = next(
        task
        for task in yaml.safe_load((role / "tasks" / "converge.yml").read_text())
        if (task.get("ansible.builtin.import_role") or {}).get("tasks_from") == "unit"
    )
    tasks: list[dict[str, Any]] = [
        {
            "ansible.builtin.file": {
                "path": "{{ gpu_exporter_install_dir }}/current",
                "state": "directory",
                "mode": "0755",
            }
        },
        {
            "ansible.builtin.copy": {
                "dest": "{{ _gpu_exporter_binary }}",
                "content": "#!/bin/sh\n# path placeholder for systemd-analyze verify; never started\nexit 1\n",
                "mode": "0755",
            }
        },
        {"ansible.builtin.user": {"name": "{{ gpu_exporter_user }}", "system": True}},
        {
            "name": "The role's unit",
            "ansible.builtin.include_role": {"name": "orcaqueen.swarm.component", "tasks_from": "unit"},
            "vars": {**unit_call["vars"], "_component_notify": []},
        },
    ]
    role_vars = {
        **yaml.safe_load((role / "defaults" / "main.yml").read_text()),
        **yaml.safe_load((role / "vars" / "main.yml").read_text()),
        "gpu_exporter_version": VERSION,
    }
    rendered = _run(container, tmp_path, role_vars, tasks=tasks)
    assert rendered.returncode == 0, rendered.stdout[-3000:] + rendered.stderr[-2000:]

    verify = docker("exec", container, "systemd-analyze", "verify", UNIT)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr

    shown = docker(
        "exec",
        container,
        "systemctl",
        "show",
        "nvidia-gpu-exporter",
        "-p",
        "DevicePolicy",
        "-p",
        "DeviceAllow",
        "-p",
        "PrivateDevices",
        "-p",
        "User",
        "-p",
        "ExecStart",
    ).stdout
    assert "DevicePolicy=closed" in shown
    assert "PrivateDevices=no" in shown
    assert "User=gpu-exporter" in shown
    for group in ("char-nvidia-frontend rw", "char-nvidia rw", "char-nvidiactl rw"):
        assert group in shown, shown
    assert "char-nvidia-uvm" not in shown, "nvidia-uvm (CUDA) is not needed by nvidia-smi --query-gpu"
    for flag in (
        "--web.listen-address=127.0.0.1:9835",
        "--web.config.file=/etc/gpu_exporter/web.yml",
        "--nvidia-smi-command=nvidia-smi",
    ):
        assert flag in shown, shown

    security = docker("exec", container, "systemd-analyze", "security", "--no-pager", "nvidia-gpu-exporter.service")
    assert security.returncode == 0, security.stderr
    exposure = float(security.stdout.strip().splitlines()[-1].split(":")[1].split()[0])
    assert exposure <= 2.0, security.stdout[-1500:]
