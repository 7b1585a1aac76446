# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Count the suite's checks: tasks of the Molecule verifiers and pytest tests.

    python scripts/count-checks.py [ROOT]

A verifier check is one task the verifiers run: the tasks of molecule/*/verify*.yml and
molecule/*/side_effect.yml, where an include or import of a task file (molecule/*/tasks/*.yml, the shared
steps of tests/verify/) counts as the tasks of that file, once per place that includes it (a step shared by
two verifiers is two checks, as before it was shared). Blocks count by their tasks. The pytest figure is the number of tests collected in tests/unit and
tests/integration. `make bench` prints both; folding scenarios must not lower them (docs/testing.md).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

BLOCK_KEYS = ("block", "rescue", "always")


INCLUDE_KEYS = ("ansible.builtin.include_tasks", "ansible.builtin.import_tasks", "include_tasks", "import_tasks")


def _included(item: dict, here: Path) -> Path | None:
    """The task file an include/import task names, when it is a literal path that exists."""
    for key in INCLUDE_KEYS:
        if key in item:
            ref = item[key]
            ref = ref.get("file") if isinstance(ref, dict) else ref
            if isinstance(ref, str) and "{{" not in ref and (here / ref).is_file():
                return (here / ref).resolve()
    return None


def count_tasks(items: object, here: Path | None = None) -> int:
    """Tasks in a list of tasks or plays (plays count their tasks, not themselves); an include of a task
    file counts as that file's tasks."""
    if not isinstance(items, list):
        return 0
    total = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        if "hosts" in item or "import_playbook" in item:
            total += sum(count_tasks(item.get(k), here) for k in ("pre_tasks", "tasks", "post_tasks", "handlers"))
        elif any(k in item for k in BLOCK_KEYS):
            total += sum(count_tasks(item.get(k), here) for k in BLOCK_KEYS)
        elif here is not None and (path := _included(item, here)) is not None:
            total += count_tasks(yaml.safe_load(path.read_text()), path.parent)
        else:
            total += 1
    return total


def verifier_files(root: Path) -> list[Path]:
    patterns = ("molecule/*/verify*.yml", "molecule/*/side_effect.yml")
    return sorted({p for pattern in patterns for p in root.glob(pattern)})


def pytest_count(root: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/unit", "tests/integration"],
        cwd=root, capture_output=True, text=True, check=False,
    ).stdout
    return sum(1 for line in out.splitlines() if "::" in line)


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    checks = sum(count_tasks(yaml.safe_load(p.read_text()), p.parent) for p in verifier_files(root))
    print(f"verifier_checks\t{checks}")
    print(f"pytest_tests\t{pytest_count(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
