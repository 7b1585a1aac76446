# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Count the suite's checks: tasks of the Molecule verifiers and pytest tests.

    python scripts/count-checks.py [ROOT]

A verifier check is one task in a verifier file: molecule/*/verify*.yml, molecule/*/side_effect.yml,
the task files they include (molecule/*/tasks/*.yml) and the shared steps in tests/verify/. Blocks
count by their tasks. The pytest figure is the number of tests collected in tests/unit and
tests/integration. `make bench` prints both; folding scenarios must not lower them (docs/testing.md).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

BLOCK_KEYS = ("block", "rescue", "always")


def count_tasks(items: object) -> int:
    """Tasks in a list of tasks or plays (plays count their tasks, not themselves)."""
    if not isinstance(items, list):
        return 0
    total = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        if "hosts" in item or "import_playbook" in item:
            total += sum(count_tasks(item.get(k)) for k in ("pre_tasks", "tasks", "post_tasks", "handlers"))
        elif any(k in item for k in BLOCK_KEYS):
            total += sum(count_tasks(item.get(k)) for k in BLOCK_KEYS)
        else:
            total += 1
    return total


def verifier_files(root: Path) -> list[Path]:
    patterns = ("molecule/*/verify*.yml", "molecule/*/side_effect.yml", "molecule/*/tasks/*.yml", "tests/verify/*.yml")
    return sorted({p for pattern in patterns for p in root.glob(pattern)})


def pytest_count(root: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/unit", "tests/integration"],
        cwd=root, capture_output=True, text=True, check=False,
    ).stdout
    return sum(1 for line in out.splitlines() if "::" in line)


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    checks = sum(count_tasks(yaml.safe_load(p.read_text())) for p in verifier_files(root))
    print(f"verifier_checks\t{checks}")
    print(f"pytest_tests\t{pytest_count(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
