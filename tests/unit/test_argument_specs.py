# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role's meta/argument_specs.yml (entry point ``main``) agrees with its defaults/main.yml.

Checked for each ``roles/<role>/`` that has a defaults/main.yml:
  * every default is a ``main`` option, and every option has a default, except options that
    are ``required: true`` with no default;
  * every option has a ``type`` and a ``description``;
  * the spec's ``default`` equals the value in defaults/main.yml (Jinja-templated values are
    compared as the raw strings, since neither side is templated here);
  * every public variable (default or option) starts with ``<role>_``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
ROLES = sorted(p.parent.parent.name for p in ROLES_DIR.glob("*/defaults/main.yml"))


class _AnsibleYamlLoader(yaml.SafeLoader):
    """SafeLoader that keeps Ansible's !unsafe / !vault values as plain strings."""


def _raw_scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("!unsafe", "!vault", "!vault-encrypted"):
    _AnsibleYamlLoader.add_constructor(_tag, _raw_scalar)


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_AnsibleYamlLoader)


def _defaults(role: str) -> dict[str, Any]:
    data = _load(ROLES_DIR / role / "defaults" / "main.yml")
    return data or {}


def _options(role: str) -> dict[str, dict[str, Any]]:
    spec_file = ROLES_DIR / role / "meta" / "argument_specs.yml"
    assert spec_file.is_file(), f"roles/{role}: meta/argument_specs.yml is missing"
    specs = (_load(spec_file) or {}).get("argument_specs") or {}
    assert "main" in specs, f"roles/{role}/meta/argument_specs.yml: no `argument_specs: main:` entry point"
    return specs["main"].get("options") or {}


def _is_required_without_default(option: dict[str, Any]) -> bool:
    return bool(option.get("required")) and "default" not in option


def _is_templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


if not ROLES:  # pragma: no cover - keeps the test meaningful in an empty tree
    pytestmark = pytest.mark.skip(reason="no roles/*/defaults/main.yml yet")


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_an_option(role: str) -> None:
    missing = sorted(set(_defaults(role)) - set(_options(role)))
    assert not missing, f"roles/{role}: in defaults/main.yml but not in argument_specs main options: {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_a_default(role: str) -> None:
    defaults = _defaults(role)
    missing = sorted(
        name
        for name, option in _options(role).items()
        if name not in defaults and not _is_required_without_default(option)
    )
    assert not missing, (
        f"roles/{role}: argument_specs main options missing from defaults/main.yml "
        f"(add them there, or mark them `required: true` without a default): {missing}"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_type_and_description(role: str) -> None:
    bad = sorted(
        name
        for name, option in _options(role).items()
        if not isinstance(option, dict) or not option.get("type") or not option.get("description")
    )
    assert not bad, f"roles/{role}: argument_specs options without type or description: {bad}"


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_equal_defaults_file(role: str) -> None:
    defaults = _defaults(role)
    mismatches = []
    for name, option in _options(role).items():
        if name not in defaults or _is_required_without_default(option):
            continue
        expected = defaults[name]
        if "default" not in option:
            mismatches.append(f"{name}: no `default:` in the spec (defaults/main.yml has {expected!r})")
            continue
        actual = option["default"]
        if _is_templated(expected) or _is_templated(actual):
            same = str(expected).strip() == str(actual).strip()
        else:
            same = expected == actual
        if not same:
            mismatches.append(f"{name}: spec default {actual!r} != defaults/main.yml {expected!r}")
    assert not mismatches, f"roles/{role}: " + "; ".join(mismatches)


@pytest.mark.parametrize("role", ROLES)
def test_public_variables_are_prefixed(role: str) -> None:
    prefix = f"{role}_"
    names = set(_defaults(role)) | set(_options(role))
    bad = sorted(name for name in names if not name.startswith(prefix))
    assert not bad, f"roles/{role}: public variables must start with {prefix!r}: {bad}"
