# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The metric names the alert rules of a Prometheus read, and those of the Grafana dashboards' panels
(shared verifier step).

  rule_metrics.py                      stdin: the JSON of Prometheus' /api/v1/rules.
                                       stdout: JSON {"<metric>": ["<alert>", ...], ...}.
  rule_metrics.py --dashboards DIR     every *.json dashboard in DIR. stdout: JSON
                                       {"metrics": {"<metric>": ["<dashboard>: <panel>", ...]},
                                        "queries": [{"where": "<dashboard>: <panel>", "expr": "..."}]}.

A name is a PromQL identifier outside label matchers, grouping clauses, ranges and strings that is
not a function, keyword or aggregation.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear", "histogram_quantile",
    "time", "vector", "scalar", "abs", "absent", "absent_over_time", "ceil", "floor", "round", "clamp",
    "clamp_min", "clamp_max", "changes", "resets", "label_replace", "label_join", "sort", "sort_desc",
    "timestamp", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "last_over_time", "quantile_over_time", "stddev_over_time", "present_over_time", "exp", "ln", "log2",
    "log10", "sqrt", "inf", "nan",
}
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metrics(expr: str) -> set[str]:
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)          # strings
    text = re.sub(r"\{[^}]*\}", " ", text)                      # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)                     # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b", " ", text)   # numbers
    return {name for name in IDENTIFIER.findall(text) if name.lower() not in KEYWORDS}


def dashboards(directory: Path) -> dict[str, object]:
    found: dict[str, list[str]] = {}
    queries = []
    for path in sorted(directory.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board.get("panels", []):
            where = f"{board.get('title', path.stem)}: {panel.get('title', '?')}"
            for target in panel.get("targets", []):
                expr = target.get("expr", "")
                queries.append({"where": where, "expr": expr})
                for name in metrics(expr):
                    found.setdefault(name, []).append(where)
    return {"metrics": found, "queries": queries}


def main() -> int:
    if sys.argv[1:2] == ["--dashboards"]:
        json.dump(dashboards(Path(sys.argv[2])), sys.stdout, sort_keys=True)
        return 0
    data = json.load(sys.stdin)
    found: dict[str, list[str]] = {}
    for group in data["data"]["groups"]:
        for rule in group["rules"]:
            for name in metrics(rule["query"]):
                found.setdefault(name, []).append(rule.get("name", "?"))
    json.dump(found, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
