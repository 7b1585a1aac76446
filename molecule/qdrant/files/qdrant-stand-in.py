#!/usr/bin/python3
# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A STAND-IN for Qdrant, made by molecule/qdrant/verify_releases.yml: it is NOT Qdrant.

No Qdrant release can be fetched on these machines. This program lets the role's release, unit,
health gate, rollback and playbooks/rollback.yml run against something that starts under the
role's unit and sandbox and answers what the gate asks: `--version`, then HTTPS with the
configuration's certificate on its host and http_port - /readyz, /collections behind the API keys
of vault-agent's environment file (none: 401), and / naming the release it was started from.
"""

import http.server
import json
import os
import ssl
import sys

VERSION = "0.0.0"

if sys.argv[1:2] == ["--version"]:
    print(f"qdrant {VERSION}")
    sys.exit(0)

ARGS = sys.argv[1:]
with open(ARGS[ARGS.index("--config-path") + 1], encoding="utf-8") as handle:
    CONFIG = json.loads("".join(line for line in handle if not line.startswith("#")))
KEYS = {os.environ.get("QDRANT__SERVICE__API_KEY"), os.environ.get("QDRANT__SERVICE__READ_ONLY_API_KEY")} - {None, ""}
RELEASE = os.path.realpath(sys.argv[0])


class Handler(http.server.BaseHTTPRequestHandler):
    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/readyz":
            self._send(200, {"status": "ready"})
        elif self.path == "/":
            self._send(
                200, {"title": "qdrant stand-in (molecule/qdrant), NOT Qdrant", "version": VERSION, "release": RELEASE}
            )
        elif self.headers.get("api-key") not in KEYS:
            self._send(401, {"status": {"error": "Must provide an API key or an Authorization bearer token"}})
        elif self.path == "/collections":
            self._send(200, {"result": {"collections": []}, "status": "ok"})
        else:
            self._send(404, {"status": {"error": "not served by the stand-in"}})

    def log_message(self, *args: object) -> None:
        pass


SERVER = http.server.ThreadingHTTPServer((CONFIG["service"]["host"], int(CONFIG["service"]["http_port"])), Handler)
CONTEXT = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
CONTEXT.load_cert_chain(CONFIG["tls"]["cert"], CONFIG["tls"]["key"])
SERVER.socket = CONTEXT.wrap_socket(SERVER.socket, server_side=True)
SERVER.serve_forever()
