"""A real HTTP webhook receiver on a loopback port, recording what it is sent."""

from __future__ import annotations

import json
import socket
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


class TricklingReceiver:
    """A receiver that reads the request, then answers one byte every `interval` seconds.

    `head`: the answer's status line and headers come at once and then only the body
    trickles (True), or the headers themselves trickle and never end (False).
    """

    def __init__(self, head: bool, interval: float = 0.25) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.head, self.interval = head, interval
        self.connections = 0
        self._stop = threading.Event()
        self._listener: socket.socket | None = None

    def start(self) -> TricklingReceiver:
        """Listen on the loopback port."""
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(1 << 20)  # the request (small enough for one read on loopback)
                if self.head:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not self._stop.wait(self.interval):
                    conn.sendall(b"x")
            except OSError:
                pass  # the sender gave up: what the tests want to see

    def stop(self) -> None:
        """Stop answering and listening."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> TricklingReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
