"""A webhook receiver on 127.0.0.1 for the benchmarks: answers 200 at once and notes when
each message arrived, under a key taken from its JSON body (its text, its idempotency key)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(
        self,
        key_of: Callable[[dict[str, Any]], str],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.arrivals: dict[str, float] = {}
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived = clock()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                key = key_of(json.loads(body))
                with receiver.cond:
                    receiver.arrivals[key] = arrived
                    receiver.cond.notify_all()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def arrived(self, key: str, timeout: float) -> float | None:
        """When the message keyed `key` arrived; None if it did not within `timeout`."""
        with self.cond:
            self.cond.wait_for(lambda: key in self.arrivals, timeout)
            return self.arrivals.get(key)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
