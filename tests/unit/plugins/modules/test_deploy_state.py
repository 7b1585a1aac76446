# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of orcaqueen.swarm.deploy_state: the pure functions, the module in-process, and the
module as Ansible runs it (a subprocess reading ANSIBLE_MODULE_ARGS JSON from a file)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import support
from ansible.module_utils.testing import patch_module_args
from ansible_collections.orcaqueen.swarm.plugins.module_utils import deploy_state as ds
from ansible_collections.orcaqueen.swarm.plugins.modules import deploy_state as module

MODULE_PATH = Path(module.__file__)


# --------------------------------------------------------------------------- helpers
def run_module(tmp_path: Path, collections_root: Path, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    """Run the module the way Ansible does: `python module.py args.json` (tests/support.py)."""
    assert collections_root == support.COLLECTIONS_ROOT
    return support.run_module(MODULE_PATH, tmp_path, args, check)


def present(state_dir: Path, version: str = "1.0.0", **extra_args: Any) -> dict[str, Any]:
    return {"component": "vllm", "version": version, "state_dir": str(state_dir), **extra_args}


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "lib" / "orcaqueen" / "state"


@pytest.fixture
def run(tmp_path: Path, collections_root: Path):
    work = tmp_path / "args"
    work.mkdir()

    def _run(args: dict[str, Any], check: bool = False) -> dict[str, Any]:
        return run_module(work, collections_root, args, check)

    return _run


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------- pure functions
@pytest.mark.parametrize("name", ["", "Vllm", "-x", "_x", "a/b", "a.b", "../etc", "a b", "ä"])
def test_bad_component_names_are_rejected(name: str) -> None:
    with pytest.raises(ds.StateError, match="invalid component name"):
        ds.validate_component(name)


@pytest.mark.parametrize("name", ["common", "vault_agent", "node-exporter", "0x", "a"])
def test_good_component_names(name: str) -> None:
    ds.validate_component(name)


def test_checksum_files_ignores_order_and_sees_edits(tmp_path: Path) -> None:
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    a.write_text("alpha\n")
    b.write_text("beta\n")
    first = ds.checksum_files([str(a), str(b)])
    assert first == ds.checksum_files([str(b), str(a)])
    assert len(first) == 64
    b.write_text("beta changed\n")
    assert ds.checksum_files([str(a), str(b)]) != first


def test_checksum_files_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ds.StateError, match="does not exist"):
        ds.checksum_files([str(tmp_path / "missing")])


def test_checksum_files_can_leave_missing_files_out(tmp_path: Path) -> None:
    present_file = tmp_path / "a.conf"
    present_file.write_text("alpha\n")
    alone = ds.checksum_files([str(present_file)])
    assert ds.checksum_files([str(present_file), str(tmp_path / "later.conf")], ignore_missing=True) == alone
    (tmp_path / "later.conf").write_text("now here\n")
    assert ds.checksum_files([str(present_file), str(tmp_path / "later.conf")], ignore_missing=True) != alone


def test_merge_same_deployment_keeps_deployed_at() -> None:
    first = ds.build_current("1", "c", None, {"ports": [8000]}, "alice", deployed_at="2020-01-01T00:00:00Z")
    record = ds.merge(None, "vllm", first, 5)
    again = ds.build_current("1", "c", None, {"ports": [8000]}, "bob")
    merged = ds.merge(record, "vllm", again, 5)
    assert merged == record
    assert merged["current"]["deployed_at"] == "2020-01-01T00:00:00Z"
    assert ds.previous_of(merged) is None


def test_merge_change_pushes_history_and_caps() -> None:
    record = None
    for version in ["1", "2", "3", "4"]:
        record = ds.merge(record, "vllm", ds.build_current(version, None, None, None, None), 2)
    assert record["current"]["version"] == "4"
    assert [h["version"] for h in record["history"]] == ["3", "2"]
    assert ds.previous_of(record)["version"] == "3"


@pytest.mark.parametrize(
    "field,value", [("version", "2"), ("config_checksum", "d"), ("release_path", "/opt/x/2"), ("extra", {"a": 2})]
)
def test_every_compared_field_is_a_change(field: str, value: Any) -> None:
    base = {"version": "1", "config_checksum": "c", "release_path": "/opt/x/1", "extra": {"a": 1}}
    old = ds.build_current(base["version"], base["config_checksum"], base["release_path"], base["extra"], None)
    base[field] = value
    new = ds.build_current(base["version"], base["config_checksum"], base["release_path"], base["extra"], None)
    assert not ds.same_deployment(old, new)


def test_negative_keep_history_is_an_error() -> None:
    with pytest.raises(ds.StateError, match="keep_history"):
        ds.merge(None, "vllm", ds.build_current("1", None, None, None, None), -1)


def test_write_record_failure_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "vllm.json"
    old = ds.merge(None, "vllm", ds.build_current("1", None, None, None, None), 5)
    ds.write_record(str(path), old, os.replace)
    before = path.read_bytes()

    def broken_mover(src: str, dest: str) -> None:
        raise OSError("disk full")

    new = ds.merge(old, "vllm", ds.build_current("2", None, None, None, None), 5)
    with pytest.raises(OSError, match="disk full"):
        ds.write_record(str(path), new, broken_mover)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_write_record_sets_mode(tmp_path: Path) -> None:
    path = tmp_path / "vllm.json"
    ds.write_record(str(path), ds.empty_record("vllm"), os.replace)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert json.loads(path.read_text())["component"] == "vllm"


def test_read_record_of_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "vllm.json"
    path.write_text('{"component": "vllm", "curr')
    with pytest.raises(ds.StateError, match="move it aside"):
        ds.read_record(str(path))


def test_read_all_skips_foreign_files(tmp_path: Path) -> None:
    ds.write_record(str(tmp_path / "b.json"), ds.empty_record("b"), os.replace)
    ds.write_record(str(tmp_path / "a.json"), ds.empty_record("a"), os.replace)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".a.json.123.tmp").write_text("partial")
    assert [r["component"] for r in ds.read_all(str(tmp_path))] == ["a", "b"]
    assert ds.read_all(str(tmp_path / "missing")) == []


# --------------------------------------------------------------------------- module in-process
def run_in_process(args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    payload = dict(args, _ansible_check_mode=check)
    with patch_module_args(payload):
        ansible_module = module.build_module()
    return module.run(ansible_module)


def test_in_process_present_then_query(state_dir: Path) -> None:
    first = run_in_process(present(state_dir, extra={"units": ["vllm.service"]}))
    assert first["changed"] is True
    assert first["previous"] is None
    second = run_in_process(present(state_dir, extra={"units": ["vllm.service"]}))
    assert second["changed"] is False
    query = run_in_process({"component": "vllm", "state": "query", "state_dir": str(state_dir)})
    assert query["record"] == second["record"]


def test_in_process_check_mode_writes_nothing(state_dir: Path) -> None:
    result = run_in_process(present(state_dir), check=True)
    assert result["changed"] is True
    assert result["record"]["current"]["version"] == "1.0.0"
    assert not state_dir.exists()


# --------------------------------------------------------------------------- module as a subprocess
def test_present_is_idempotent_and_does_not_touch_the_file(state_dir: Path, run) -> None:
    first = run(present(state_dir, config_checksum="abc", release_path="/opt/vllm/releases/1.0.0"))
    assert first["changed"] is True, first
    path = state_dir / "vllm.json"
    assert first["path"] == str(path)
    stat_before, bytes_before = path.stat(), path.read_bytes()

    second = run(present(state_dir, config_checksum="abc", release_path="/opt/vllm/releases/1.0.0"))
    assert second["changed"] is False, second
    assert path.read_bytes() == bytes_before
    assert path.stat().st_mtime_ns == stat_before.st_mtime_ns
    assert second["record"]["current"]["deployed_at"] == first["record"]["current"]["deployed_at"]
    assert leftovers(state_dir) == []


def test_modes(state_dir: Path, run) -> None:
    run(present(state_dir))
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE((state_dir / "vllm.json").stat().st_mode) == 0o640
    os.chmod(state_dir / "vllm.json", 0o644)
    assert run(present(state_dir))["changed"] is True
    assert stat.S_IMODE((state_dir / "vllm.json").stat().st_mode) == 0o640


def test_new_version_moves_current_to_history(state_dir: Path, run) -> None:
    run(present(state_dir, "1.0.0"))
    result = run(present(state_dir, "1.1.0"))
    assert result["changed"] is True
    assert result["record"]["current"]["version"] == "1.1.0"
    assert result["previous"]["version"] == "1.0.0"
    on_disk = json.loads((state_dir / "vllm.json").read_text())
    assert on_disk == result["record"]
    assert on_disk["schema"] == 1


def test_history_cap(state_dir: Path, run) -> None:
    for n in range(8):
        result = run(present(state_dir, f"1.{n}.0", keep_history=3))
    assert [h["version"] for h in result["record"]["history"]] == ["1.6.0", "1.5.0", "1.4.0"]
    # default cap is 5
    result = run(present(state_dir, "2.0.0"))
    assert len(result["record"]["history"]) == 4
    for n in range(3):
        result = run(present(state_dir, f"3.{n}.0"))
    assert len(result["record"]["history"]) == 5


def test_lower_cap_trims_existing_history(state_dir: Path, run) -> None:
    for n in range(4):
        run(present(state_dir, f"1.{n}.0"))
    result = run(present(state_dir, "1.3.0", keep_history=1))
    assert result["changed"] is True
    assert [h["version"] for h in result["record"]["history"]] == ["1.2.0"]


def test_checksum_from_files(state_dir: Path, tmp_path: Path, run) -> None:
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "a.conf").write_text("a=1\n")
    (conf / "b.conf").write_text("b=1\n")
    files = [str(conf / "b.conf"), str(conf / "a.conf")]
    first = run(present(state_dir, config_files=files))
    assert first["record"]["current"]["config_checksum"] == ds.checksum_files(files)
    assert run(present(state_dir, config_files=list(reversed(files))))["changed"] is False
    (conf / "a.conf").write_text("a=2\n")
    changed = run(present(state_dir, config_files=files))
    assert changed["changed"] is True
    assert changed["previous"]["config_checksum"] == first["record"]["current"]["config_checksum"]


def test_missing_config_file_fails(state_dir: Path, tmp_path: Path, run) -> None:
    result = run(present(state_dir, config_files=[str(tmp_path / "nope.conf")]))
    assert result["failed"] is True
    assert "does not exist" in result["msg"]
    assert not (state_dir / "vllm.json").exists()


def test_missing_config_file_ignored_when_asked(state_dir: Path, tmp_path: Path, run) -> None:
    result = run(present(state_dir, config_files=[str(tmp_path / "nope.conf")], ignore_missing_files=True))
    assert result["changed"] is True
    assert (state_dir / "vllm.json").exists()


def test_checksum_and_files_are_exclusive(state_dir: Path, tmp_path: Path, run) -> None:
    result = run(present(state_dir, config_checksum="x", config_files=[str(tmp_path)]))
    assert result["failed"] is True
    assert "mutually exclusive" in result["msg"]


def test_check_mode_writes_nothing(state_dir: Path, run) -> None:
    result = run(present(state_dir), check=True)
    assert result["changed"] is True
    assert not state_dir.exists()

    run(present(state_dir, "1.0.0"))
    before = (state_dir / "vllm.json").read_bytes()
    result = run(present(state_dir, "2.0.0"), check=True)
    assert result["changed"] is True
    assert result["record"]["current"]["version"] == "2.0.0"
    assert result["previous"]["version"] == "1.0.0"
    assert (state_dir / "vllm.json").read_bytes() == before
    assert run(present(state_dir, "1.0.0"), check=True)["changed"] is False

    absent = run({"component": "vllm", "state": "absent", "state_dir": str(state_dir)}, check=True)
    assert absent["changed"] is True
    assert (state_dir / "vllm.json").exists()


def test_query_missing_component(state_dir: Path, run) -> None:
    result = run({"component": "ghost", "state": "query", "state_dir": str(state_dir)})
    assert result["changed"] is False
    assert result["record"] is None
    assert result["previous"] is None
    assert not state_dir.exists()


def test_query_all(state_dir: Path, run) -> None:
    assert run({"state": "query", "state_dir": str(state_dir)})["records"] == []
    run(present(state_dir, "1"))
    run({**present(state_dir, "1"), "component": "common"})
    result = run({"state": "query", "state_dir": str(state_dir)})
    assert result["changed"] is False
    assert [r["component"] for r in result["records"]] == ["common", "vllm"]


def test_bad_component_name_fails(state_dir: Path, run) -> None:
    result = run({**present(state_dir), "component": "../../etc/passwd"})
    assert result["failed"] is True
    assert "invalid component name" in result["msg"]
    assert not state_dir.exists()


def test_present_requires_version(state_dir: Path, run) -> None:
    result = run({"component": "vllm", "state_dir": str(state_dir)})
    assert result["failed"] is True
    assert "version" in result["msg"]


def test_absent(state_dir: Path, run) -> None:
    run(present(state_dir))
    result = run({"component": "vllm", "state": "absent", "state_dir": str(state_dir)})
    assert result["changed"] is True
    assert not (state_dir / "vllm.json").exists()
    assert run({"component": "vllm", "state": "absent", "state_dir": str(state_dir)})["changed"] is False


def test_unwritable_state_dir_fails_with_advice(tmp_path: Path, run) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should go")
    result = run(present(blocker / "state"))
    assert result["failed"] is True
    assert "become" in result["msg"]


# --------------------------------------------------------------------------- snapshots and restore
def deploy(state_dir: Path, root: Path, version: str, config: str, run) -> dict[str, Any]:
    """A release directory, its `current` link and one config file, recorded with a snapshot."""
    release = root / "releases" / version
    release.mkdir(parents=True, exist_ok=True)
    (release / "bin").write_text(version)
    link = root / "current"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(release)
    conf = root / "etc" / "app.conf"
    conf.parent.mkdir(exist_ok=True)
    conf.write_text(config)
    os.chmod(conf, 0o640)
    return run(
        present(
            state_dir,
            version,
            config_files=[str(conf)],
            release_path=str(release),
            link=str(link),
            snapshot=True,
            extra={"units": ["app.service"]},
        )
    )


def restore(state_dir: Path, to: str, run, check: bool = False) -> dict[str, Any]:
    return run({"component": "vllm", "state": "restore", "restore_to": to, "state_dir": str(state_dir)}, check)


def test_snapshot_is_kept_per_deployment_and_pruned_with_the_history(state_dir: Path, tmp_path: Path, run) -> None:
    root = tmp_path / "opt"
    for n in range(4):
        deploy(state_dir, root, f"1.0.{n}", f"setting={n}\n", run)
    record = run({"component": "vllm", "state": "query", "state_dir": str(state_dir)})["record"]
    kept = sorted(p.name for p in (state_dir / "snapshots" / "vllm").iterdir())
    expected = sorted(e["config_checksum"] for e in [record["current"]] + record["history"])
    assert kept == expected
    (root / "etc" / "app.conf").write_text("setting=9\n")
    run(present(state_dir, "9.9.9", config_files=[str(root / "etc" / "app.conf")], snapshot=True, keep_history=1))
    assert len(list((state_dir / "snapshots" / "vllm").iterdir())) == 2
    assert stat.S_IMODE((state_dir / "snapshots").stat().st_mode) == 0o700


def test_restore_previous_brings_back_link_and_config_and_records_it(state_dir: Path, tmp_path: Path, run) -> None:
    root = tmp_path / "opt"
    deploy(state_dir, root, "1.0.0", "old\n", run)
    deploy(state_dir, root, "2.0.0", "new\n", run)
    check = restore(state_dir, "previous", run, check=True)
    assert check["changed"] is True and check["link_switched"] is True
    assert (root / "etc" / "app.conf").read_text() == "new\n"  # check mode wrote nothing
    result = restore(state_dir, "previous", run)
    assert result["changed"] is True, result
    assert result["restored"]["version"] == "1.0.0"
    assert result["units"] == ["app.service"]
    assert result["files"] == [str(root / "etc" / "app.conf")]
    assert os.readlink(root / "current") == str(root / "releases" / "1.0.0")
    assert (root / "etc" / "app.conf").read_text() == "old\n"
    assert stat.S_IMODE((root / "etc" / "app.conf").stat().st_mode) == 0o640
    assert result["record"]["current"]["version"] == "1.0.0"
    assert result["record"]["history"][0]["version"] == "2.0.0"
    # Restoring what is in place again changes nothing.
    assert restore(state_dir, "current", run)["changed"] is False


def test_restore_current_undoes_an_unrecorded_change(state_dir: Path, tmp_path: Path, run) -> None:
    root = tmp_path / "opt"
    deploy(state_dir, root, "1.0.0", "good\n", run)
    # A failed upgrade: new release linked and config written, never recorded (its gate failed).
    (root / "releases" / "2.0.0").mkdir()
    (root / "current").unlink()
    (root / "current").symlink_to(root / "releases" / "2.0.0")
    (root / "etc" / "app.conf").write_text("broken\n")
    result = restore(state_dir, "current", run)
    assert result["changed"] is True and result["link_switched"] is True
    assert (root / "etc" / "app.conf").read_text() == "good\n"
    assert os.readlink(root / "current") == str(root / "releases" / "1.0.0")
    assert result["record"]["current"]["version"] == "1.0.0"
    assert result["record"]["history"] == []


def test_restore_without_history_or_record_says_so(state_dir: Path, tmp_path: Path, run) -> None:
    assert "nothing is recorded" in restore(state_dir, "previous", run)["msg"]
    deploy(state_dir, tmp_path / "opt", "1.0.0", "x\n", run)
    failed = restore(state_dir, "previous", run)
    assert failed.get("failed") is True
    assert "nothing to roll back to" in failed["msg"]


def test_restore_of_a_removed_release_fails_before_changing_anything(state_dir: Path, tmp_path: Path, run) -> None:
    root = tmp_path / "opt"
    deploy(state_dir, root, "1.0.0", "old\n", run)
    deploy(state_dir, root, "2.0.0", "new\n", run)
    (root / "releases" / "1.0.0" / "bin").unlink()
    (root / "releases" / "1.0.0").rmdir()
    failed = restore(state_dir, "previous", run)
    assert failed.get("failed") is True
    assert "is gone" in failed["msg"]
    assert (root / "etc" / "app.conf").read_text() == "new\n"
    assert os.readlink(root / "current") == str(root / "releases" / "2.0.0")


# --------------------------------------------------------------------------- state=check (the fast path)
def check(state_dir: Path, inputs: str = "digest-1", **args: Any) -> dict[str, Any]:
    return {"component": "vllm", "state": "check", "inputs": inputs, "state_dir": str(state_dir), **args}


def test_check_without_record_is_not_in_sync(state_dir: Path, run) -> None:
    result = run(check(state_dir))
    assert result["changed"] is False
    assert result["in_sync"] is False
    assert result["reasons"] == ["nothing is recorded for vllm"]


def test_check_follows_inputs_files_and_link(state_dir: Path, tmp_path: Path, run) -> None:
    conf = tmp_path / "vllm.env"
    conf.write_text("PORT=8000\n")
    release = tmp_path / "releases" / "1.0.0"
    release.mkdir(parents=True)
    link = tmp_path / "current"
    link.symlink_to(release)
    record = present(state_dir, config_files=[str(conf)], snapshot=True, release_path=str(release), link=str(link))
    first = run({**record, "inputs": "digest-1"})
    assert first["record"]["current"]["inputs"] == "digest-1"
    assert run(check(state_dir)) == {**run(check(state_dir)), "in_sync": True, "reasons": []}

    # New inputs: not in sync; recording them updates the deployment in place (no history entry),
    # which is bookkeeping, not a change of the host.
    assert "inputs" in run(check(state_dir, "digest-2"))["reasons"][0]
    second = run({**record, "inputs": "digest-2"})
    assert second["changed"] is False
    assert json.loads((state_dir / "vllm.json").read_text())["current"]["inputs"] == "digest-2"
    assert second["record"]["history"] == []
    assert second["record"]["current"]["deployed_at"] == first["record"]["current"]["deployed_at"]
    assert run({**record, "inputs": "digest-2"})["changed"] is False
    assert run(check(state_dir, "digest-2"))["in_sync"] is True

    # Drift of a config file's content or mode, and a moved link, are each seen.
    conf.write_text("PORT=9000\n")
    assert run(check(state_dir, "digest-2"))["reasons"] == [
        f"{conf} differs from the recorded file (content, mode or owner)"
    ]
    conf.write_text("PORT=8000\n")
    os.chmod(conf, 0o600 if stat.S_IMODE(conf.stat().st_mode) != 0o600 else 0o644)
    assert run(check(state_dir, "digest-2"))["in_sync"] is False
    run({**record, "inputs": "digest-2"})
    assert run(check(state_dir, "digest-2"))["in_sync"] is True
    other = tmp_path / "releases" / "0.9.0"
    other.mkdir()
    link.unlink()
    link.symlink_to(other)
    assert run(check(state_dir, "digest-2"))["reasons"] == [f"{link} does not point at {release}"]


def test_check_missing_certificate_is_not_in_sync(state_dir: Path, tmp_path: Path, run) -> None:
    run({**present(state_dir), "inputs": "digest-1"})
    result = run(check(state_dir, certificates=[str(tmp_path / "absent.crt")], certificate_min_validity=60))
    assert result["in_sync"] is False
    assert result["reasons"] == [f"{tmp_path / 'absent.crt'} is missing or expires soon"]


def test_in_sync_reasons_reports_units_it_is_given() -> None:
    def units(names: list[str]) -> list[str]:
        return [f"{name} is inactive (is-active)" for name in names]

    # pure function, no host: a record in a temporary directory is not needed for the "nothing recorded" branch
    assert ds.in_sync_reasons("/nonexistent", "vllm", "x", units, lambda _p: False) == ["nothing is recorded for vllm"]


def test_in_sync_reasons_with_units(state_dir: Path, run) -> None:
    run({**present(state_dir, extra={"units": ["vllm.service", "vllm-agent.service"]}), "inputs": "d"})
    seen: list[list[str]] = []

    def units(names: list[str]) -> list[str]:
        seen.append(names)
        return ["vllm.service is failed (is-active)"]

    reasons = ds.in_sync_reasons(str(state_dir), "vllm", "d", units, lambda _p: False)
    assert reasons == ["vllm.service is failed (is-active)"]
    assert seen == [["vllm.service", "vllm-agent.service"]]


def test_check_runs_the_recorded_health_probe(state_dir: Path, tmp_path: Path, run) -> None:
    flag = tmp_path / "healthy"
    flag.write_text("")
    run({**present(state_dir, extra={"health_argv": ["test", "-e", str(flag)]}), "inputs": "d"})
    assert run(check(state_dir, "d"))["in_sync"] is True
    flag.unlink()
    result = run(check(state_dir, "d"))
    assert result["in_sync"] is False
    assert result["reasons"][0].startswith(f"its health probe test -e {flag} failed (rc 1)")


def test_check_health_url_that_does_not_answer(state_dir: Path, run) -> None:
    run({**present(state_dir, extra={"health_url": "https://127.0.0.1:9/"}), "inputs": "d"})
    result = run(check(state_dir, "d"))
    assert result["in_sync"] is False
    assert result["reasons"][0].startswith("https://127.0.0.1:9/ does not answer")


def test_force_is_never_in_sync(state_dir: Path, run) -> None:
    run({**present(state_dir), "inputs": "d"})
    assert run(check(state_dir, "d"))["in_sync"] is True
    assert run(check(state_dir, "d", force=True))["reasons"] == ["a full converge was asked for"]
