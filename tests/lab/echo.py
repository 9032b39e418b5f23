"""A "what is my IP" HTTPS echo service for the lab: answers the caller's address as text.

    python -m tests.lab.echo --bind 203.0.113.1 --port 8443 --cert-pem FILE --key-pem FILE

Run in the azure namespace (the lab's "internet"), it sees the onprem gateway's WAN address,
as ifconfig.me or api.ipify.org see a pfSense behind a NAT router. ``--lie IP`` makes it a
lying endpoint (the agent's quorum must outvote it).
"""

from __future__ import annotations

import argparse
import http.server
import ssl


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.lab.echo")
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert-pem", required=True)
    ap.add_argument("--key-pem", required=True)
    ap.add_argument("--lie", help="always answer this address instead")
    args = ap.parse_args(argv)

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = ((args.lie or self.client_address[0]) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer((args.bind, args.port), Echo)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert_pem, args.key_pem)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
