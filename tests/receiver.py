"""A real HTTP webhook receiver on a loopback port, recording what it is sent."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from server import free_port


class Receiver:
    """Answers POSTs with `status` (after `delay` seconds) and keeps every request it got."""

    def __init__(self, port: int | None = None, status: int = 200, delay: float = 0.0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.status = status
        self.delay = delay
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        """Listen (the port may have been refused until now)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "raw": body.decode(),
                            "json": json.loads(body),
                        }
                    )
                time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting (timeout tests)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # socketserver's 5 refuses bursts of parallel deliveries

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening: later deliveries find the port closed."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, event_type: str | None = None) -> list[dict]:
        """Bodies received so far, optionally of one event type."""
        with self._lock:
            bodies = [r["json"] for r in self.requests]
        return [b for b in bodies if event_type is None or b["type"] == event_type]

    def wait_for(
        self, count: int, timeout: float = 30.0, event_type: str | None = None
    ) -> list[dict]:
        """Block until `count` events (of a type) arrived; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(event_type)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"got {len(self.events(event_type))} of {count} events in {timeout}s")

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
