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
