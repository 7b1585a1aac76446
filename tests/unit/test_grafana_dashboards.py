# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Grafana dashboards shipped in roles/grafana/files/dashboards/ are valid and consistent.

* every file parses as JSON and is a dashboard (uid, title, panels);
* uids are unique and stable (``orcaqueen-`` prefix);
* every data source a dashboard or panel or query refers to is provisioned by
  roles/grafana/templates/datasources.yml.j2 (same uid);
* every panel has at least one query with an expression, and panel ids are unique per dashboard.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROLE = Path(__file__).resolve().parents[2] / "roles" / "grafana"
DASHBOARDS = sorted((ROLE / "files" / "dashboards").glob("*.json"))
EXPECTED = {"swarm-overview", "gpu", "vllm", "gateway", "vault"}


def _provisioned_uids() -> set[str]:
    text = (ROLE / "templates" / "datasources.yml.j2").read_text(encoding="utf-8")
    return set(re.findall(r"^\s+uid:\s*([A-Za-z0-9_-]+)\s*$", text, flags=re.MULTILINE))


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    assert isinstance(data, dict), f"{path.name}: not a JSON object"
    return data


def _datasource_refs(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            yield from _datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _datasource_refs(item)


def test_expected_dashboards_are_shipped() -> None:
    assert {p.stem for p in DASHBOARDS} >= EXPECTED


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_shape(path: Path) -> None:
    data = _load(path)
    assert str(data.get("uid", "")).startswith("orcaqueen-"), f"{path.name}: uid must start with orcaqueen-"
    assert len(data["uid"]) <= 40, f"{path.name}: Grafana uids are at most 40 characters"
    assert data.get("title"), f"{path.name}: no title"
    panels = data.get("panels")
    assert isinstance(panels, list) and panels, f"{path.name}: no panels"
    ids = [panel.get("id") for panel in panels]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids {ids}"
    for panel in panels:
        targets = panel.get("targets") or []
        title = panel.get("title")
        assert targets and all(t.get("expr") for t in targets), f"{path.name}: panel {title!r} has no query"


def test_uids_are_unique() -> None:
    uids = [_load(path)["uid"] for path in DASHBOARDS]
    assert len(uids) == len(set(uids)), f"duplicate dashboard uids: {uids}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_datasources_are_provisioned(path: Path) -> None:
    provisioned = _provisioned_uids()
    assert provisioned, "no data source uid found in roles/grafana/templates/datasources.yml.j2"
    refs = list(_datasource_refs(_load(path)))
    assert refs, f"{path.name}: no data source reference"
    for ref in refs:
        assert isinstance(ref, dict), f"{path.name}: data source by name ({ref!r}); refer to it by uid"
        uid = ref.get("uid")
        assert uid in provisioned, f"{path.name}: data source uid {uid!r} not in {sorted(provisioned)}"
        assert ref.get("type") == "prometheus", f"{path.name}: unexpected data source type {ref.get('type')!r}"


def test_panel_metrics_for_the_swarm_check() -> None:
    """tests/verify/rule_metrics.py --dashboards (the swarm verifier's input): every panel query, and
    the metric names it reads without functions, labels, ranges or grouping clauses."""
    script = Path(__file__).resolve().parents[2] / "tests" / "verify" / "rule_metrics.py"
    spec = importlib.util.spec_from_file_location("rule_metrics", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = module.dashboards(ROLE / "files" / "dashboards")
    panels = sum(len(panel.get("targets", [])) for path in DASHBOARDS for panel in _load(path)["panels"])
    assert len(found["queries"]) == panels
    assert "vllm:kv_cache_usage_perc" in found["metrics"]
    assert found["metrics"]["vllm:time_to_first_token_seconds_bucket"] == [
        "vLLM: Time to first token p50 / p95",
        "vLLM: Time to first token p50 / p95",
    ]
    assert not {"rate", "sum", "le", "instance", "idle", "time"} & set(found["metrics"])


# --- the dashboards' types: tsc --strict against @grafana/schema --------------------------------------
# No Grafana server can be had on these machines (docs/testing.md), so the shape Grafana expects is
# checked with Grafana's own published types: each dashboard becomes `const d: Dashboard = <json>` and
# TypeScript's compiler checks it strictly (wrong types, and keys the schema does not know, are errors).
# The versions are locked with their hashes in tests/dashboards/package-lock.json; `npm ci` installs them
# into .cache/ (the registry configured for npm on the machine).
TYPECHECK = Path(__file__).resolve().parents[1] / "dashboards"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "dashboards-typecheck"


def _typecheck_project() -> Path:
    npm = shutil.which("npm")
    assert npm, "npm is needed to type-check the dashboards (Node.js 18 or later); install it and run again"
    CACHE.mkdir(parents=True, exist_ok=True)
    lock = (TYPECHECK / "package-lock.json").read_bytes()
    stamp = CACHE / "node_modules" / ".orcaqueen-lock"
    if not stamp.is_file() or stamp.read_bytes() != lock:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(TYPECHECK / name, CACHE / name)
        run = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=CACHE, capture_output=True, text=True, timeout=600, check=False,
        )
        assert run.returncode == 0, f"npm ci failed:\n{run.stdout}\n{run.stderr}"
        stamp.write_bytes(lock)
    return CACHE


def _tsc(project: Path, sources: dict[str, dict[str, Any]], workdir: Path) -> dict[str, list[str]]:
    """Type-check each dashboard as a TypeScript module; the errors per source name."""
    for name, data in sources.items():
        text = json.dumps(data, indent=1)
        (workdir / f"{name}.ts").write_text(
            f"import type {{ Dashboard }} from '@grafana/schema';\nexport const dashboard: Dashboard = {text};\n",
            encoding="utf-8",
        )
    (workdir / "tsconfig.json").write_text(json.dumps({
        "compilerOptions": {
            "strict": True, "noEmit": True, "target": "ES2022", "module": "ESNext",
            "moduleResolution": "bundler", "typeRoots": [], "baseUrl": ".",
            "paths": {"@grafana/schema": [str(project / "node_modules" / "@grafana" / "schema")]},
        },
        "include": [f"{name}.ts" for name in sources],
    }), encoding="utf-8")
    run = subprocess.run(
        [shutil.which("node") or "node", str(project / "node_modules" / "typescript" / "bin" / "tsc"),
         "-p", str(workdir / "tsconfig.json"), "--pretty", "false"],
        cwd=workdir, capture_output=True, text=True, timeout=300, check=False,
    )
    errors: dict[str, list[str]] = {name: [] for name in sources}
    for line in run.stdout.splitlines():
        match = re.match(r"^(?:.*/)?([^/(]+)\.ts\(\d+,\d+\): error ", line)
        if match and match.group(1) in errors:
            errors[match.group(1)].append(line)
        elif line.strip():
            errors.setdefault("(tsc)", []).append(line)
    assert run.returncode in (0, 2), f"tsc did not run:\n{run.stdout}\n{run.stderr}"
    assert (run.returncode == 0) == (not any(errors.values())), f"tsc exit {run.returncode}:\n{run.stdout}"
    return errors


@pytest.fixture(scope="module")
def typecheck(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    project = _typecheck_project()
    sources = {path.stem.replace("-", "_"): _load(path) for path in DASHBOARDS}
    # The same check must fail on a dashboard with a wrong type and an unknown key: proof that it can.
    broken = json.loads(json.dumps(_load(DASHBOARDS[0])))
    broken["refresh"] = 5
    broken["panels"][0]["titel"] = broken["panels"][0].pop("title", "x")
    sources["broken_on_purpose"] = broken
    return _tsc(project, sources, tmp_path_factory.mktemp("dashboards-ts"))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_types_against_grafana_schema(path: Path, typecheck: dict[str, list[str]]) -> None:
    errors = typecheck[path.stem.replace("-", "_")]
    assert not errors, f"{path.name} does not type-check against @grafana/schema:\n" + "\n".join(errors)
    assert not typecheck.get("(tsc)"), "\n".join(typecheck["(tsc)"])


def test_dashboard_typecheck_fails_on_a_broken_dashboard(typecheck: dict[str, list[str]]) -> None:
    errors = "\n".join(typecheck["broken_on_purpose"])
    assert "TS2322" in errors, errors  # refresh: number where the schema says string
    assert '"titel"' in errors and "TS2353" in errors, errors  # a key Grafana's schema does not know
