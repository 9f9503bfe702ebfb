#!/usr/bin/env python3
"""A webhook receiver for claw's `webhook` channel: checks the signature, drops resends.

    CLAW_WEBHOOK_SECRET=s3cret python examples/webhook_receiver.py --port 8099

and in config.toml:

    [channels.webhook.targets.ops]
    url = "http://127.0.0.1:8099/hook"
    secret_env = "CLAW_WEBHOOK_SECRET"

Each accepted message is printed as one JSON line on stdout. A request whose
X-Claw-Signature does not match the body is refused with 401 (claw then fails that delivery
for good: a 4xx other than 408/429 is permanent). A resend after a crash carries the same
Idempotency-Key and is acknowledged without being printed twice. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEEN: set[str] = set()  # a real receiver would keep these in its database


def make_handler(secret: bytes | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if secret is not None:
                want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(want, self.headers.get("X-Claw-Signature", "")):
                    self.send_response(401)
                    self.end_headers()
                    return
            key = self.headers.get("Idempotency-Key", "")
            if key not in SEEN:
                SEEN.add(key)
                print(json.dumps(json.loads(body), ensure_ascii=False), flush=True)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"id": key}).encode())

        def log_message(self, format: str, *args: object) -> None:
            return  # keep stdout for the messages

    return Handler


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8099)
    args = ap.parse_args()
    secret = os.environ.get("CLAW_WEBHOOK_SECRET")
    server = ThreadingHTTPServer(
        (args.host, args.port), make_handler(secret.encode() if secret else None)
    )
    print(f"listening on http://{args.host}:{server.server_port}/hook", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
