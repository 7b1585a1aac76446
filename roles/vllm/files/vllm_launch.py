# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start one vLLM model server from its JSON settings (orcaqueen.swarm.vllm).

    <release>/bin/python vllm_launch.py /etc/orcaqueen/vllm/<model>.json

(no shebang: the unit always runs it with the release's interpreter)

The API key (and a Hugging Face token, when there is one) is read from the file vault_agent
renders for the service user (tmpfs, mode 0400); the settings name only its path. The key is in
no argv, no unit file and no `ps` output: vLLM reads it from VLLM_API_KEY, which only the service
user and root can see. (systemd's LoadCredential= would be the other way; inside containers its
fallback copy is not readable by the service user, so the role does not rely on it.)
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: vllm_launch.py SETTINGS.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        settings = json.load(handle)
    with open(settings["api_key_file"], encoding="utf-8") as handle:
        key = handle.read().strip()
    if len(key) < 16:
        print(f"{settings['api_key_file']} is empty or shorter than 16 characters", file=sys.stderr)
        return 2
    os.environ["VLLM_API_KEY"] = key
    token = settings.get("hf_token_file")
    if token and os.path.exists(token):
        with open(token, encoding="utf-8") as handle:
            os.environ["HF_TOKEN"] = handle.read().strip()
    for name, value in settings.get("environment", {}).items():
        os.environ[name] = str(value)
    args = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", *settings["argv"]]
    os.execv(sys.executable, args)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
