"""A loopback HTTP proxy that loses answers on purpose: the server gets the request, the client
never gets the answer (the connection just closes), as when a network drops mid-request."""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# Per connection, or set again by this proxy's own server.
NOT_RELAYED = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "date"}


class LossyProxy:
    """Relays to `upstream`, losing the answers of the first `lose` requests.

    `early`: drop the client as soon as the server has the request (it is still running when
    the client retries) instead of once the server has answered. `answers` lists what the
    server answered, as (status, error code or None), lost answers included.
    """

    def __init__(self, upstream: str, lose: int = 1, early: bool = False) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.lose = lose
        self.early = early
        self.answers: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Relay)
        self._server.proxy = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LossyProxy:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for reader in self._readers:
            reader.join(timeout=60)
        self._server.shutdown()
        self._server.server_close()

    def take_loss(self) -> bool:
        """Whether to lose the answer of the request arriving now."""
        with self._lock:
            if self.lose <= 0:
                return False
            self.lose -= 1
            return True

    def read_answer(self, upstream: http.client.HTTPConnection) -> tuple[Any, bytes]:
        """The server's answer, recorded in `answers`."""
        response = upstream.getresponse()
        data = response.read()
        upstream.close()
        code = json.loads(data).get("error") if response.status >= 400 else None
        with self._lock:
            self.answers.append((response.status, code))
        return response, data

    def read_later(self, upstream: http.client.HTTPConnection) -> None:
        """Record the server's answer once it comes, while the client has gone on."""
        reader = threading.Thread(target=self.read_answer, args=(upstream,))
        self._readers.append(reader)
        reader.start()


class _Relay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self._relay()

    def do_GET(self) -> None:
        self._relay()

    def _relay(self) -> None:
        proxy: LossyProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        lose = proxy.take_loss()
        upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in NOT_RELAYED}
        upstream.request(self.command, self.path, body, headers)
        if lose and proxy.early:
            time.sleep(0.1)  # the server has begun on it before the client can retry
            proxy.read_later(upstream)
            self.close_connection = True
            return
        response, data = proxy.read_answer(upstream)
        if lose:
            self.close_connection = True  # closed with no answer: the client sees it lost
            return
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in NOT_RELAYED:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `answers`, not a log."""
