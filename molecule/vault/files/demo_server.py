"""Test consumer of the vault agent in molecule/vault: HTTPS on 127.0.0.1:8443, basic auth.

Reads the files vault-agent renders (password, certificate, key) once at start; the agent's
reload_command restarts it when they change.
"""

import base64
import hmac
import http.server
import ssl

SECRETS = "/run/orcaqueen/secrets/demo"

with open(f"{SECRETS}/password", encoding="utf-8") as handle:
    EXPECTED = "Basic " + base64.b64encode(b"demo:" + handle.read().encode()).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if hmac.compare_digest(self.headers.get("Authorization", ""), EXPECTED):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok\n")
        else:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="demo"')
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(f"{SECRETS}/tls.crt", f"{SECRETS}/tls.key")
server = http.server.ThreadingHTTPServer(("127.0.0.1", 8443), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
