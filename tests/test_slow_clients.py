"""Slow and silent clients against a real gunicorn server: they cost a socket, never a thread.

Every socket here is opened and closed by the test itself, on loopback, for a bounded time.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request

import pytest

from server import GunicornServer, request

pytestmark = pytest.mark.server

CLIENT_TIMEOUT = 2  # seconds; the default is 15


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("slow")
    running = GunicornServer(
        home / "memory.db",
        home / "gunicorn.log",
        MEMORY_API_CLIENT_TIMEOUT=str(CLIENT_TIMEOUT),
        MEMORY_API_THREADS="8",
    ).start()
    running.key = next(w for w in running.log().split() if w.startswith("msk_"))
    yield running
    running.stop()


def _open(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _closed_by_server(sock: socket.socket, within: float) -> float | None:
    """Seconds until the server closed the socket (read EOF or reset), or None if it did not."""
    started = time.monotonic()
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass  # a 408 body, then EOF
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_twenty_slow_sockets_do_not_stop_health_or_an_authenticated_request(server):
    # Each sends a request line, then one header line every second (never finishing):
    # gunicorn's threaded worker gave each its own thread until all eight were taken.
    slow = [_open(server) for _ in range(20)]
    for sock in slow:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    stop = threading.Event()

    def trickle() -> None:
        line = 0
        while not stop.wait(1.0):
            for sock in slow:
                with contextlib.suppress(OSError):  # the server dropped it
                    sock.sendall(f"X-Slow-{line}: y\r\n".encode())
            line += 1

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        auth = {"Authorization": f"Bearer {server.key}"}
        for _ in range(4):
            # urllib's own timeout bounds each probe: an unanswered one fails the test.
            assert request("GET", f"{server.url}/health")[0] == 200
            status, _, body = request("GET", f"{server.url}/api/v1/memory?limit=1", headers=auth)
            assert status == 200 and body["memories"] == []
            time.sleep(0.3)
    finally:
        stop.set()
        sender.join()
        for sock in slow:
            sock.close()


def test_a_connection_that_never_finishes_its_headers_is_closed(server):
    silent, trickling = _open(server), _open(server)
    trickling.sendall(b"GET /health HTTP/1.1\r\n")
    started = time.monotonic()
    for i in range(3):  # a header line well inside each second: never idle, never done
        trickling.sendall(f"X-{i}: y\r\n".encode())
        time.sleep(0.5)
    waited = time.monotonic() - started
    assert _closed_by_server(silent, CLIENT_TIMEOUT + 3) is not None
    closed_after = _closed_by_server(trickling, CLIENT_TIMEOUT + 3)
    assert closed_after is not None and waited + closed_after < CLIENT_TIMEOUT + 3
    silent.close()
    trickling.close()


def test_a_body_that_arrives_too_slowly_gets_408_and_the_connection_closes(server):
    sock = _open(server)
    sock.sendall(
        b"POST /api/v1/memory HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {server.key}\r\nContent-Length: 100\r\n\r\n".encode()
        + b'{"text": "'
    )
    sock.settimeout(CLIENT_TIMEOUT + 5)
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["error"] == "REQUEST_TIMEOUT"
    status, _, page = request(
        "GET", f"{server.url}/api/v1/memory", headers={"Authorization": f"Bearer {server.key}"}
    )
    assert status == 200 and page["memories"] == []  # nothing was stored


def test_a_chunked_body_over_the_limit_is_413_like_a_declared_one(server):
    chunk = b"x" * 65536
    sock = _open(server)
    sock.sendall(
        b"POST /api/v1/memory HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {server.key}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    sock.settimeout(10)
    try:
        for _ in range(20):  # 1.25 MiB, more than the 1 MiB limit
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server may answer and close before the last chunk
    answer = b""
    try:
        while data := sock.recv(65536):
            answer += data
    except ConnectionResetError:
        pass
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["error"] == "PAYLOAD_TOO_LARGE"


def test_a_chunked_body_within_the_limit_is_read_whole(server):
    body = json.dumps({"text": "sent in chunks"}).encode()
    req = urllib.request.Request(
        f"{server.url}/api/v1/memory",
        data=iter([body[:10], body[10:]]),  # an iterable body: urllib sends it chunked
        method="POST",
        headers={"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as response:
        assert response.status == 201
        memory_id = json.loads(response.read())["id"]
    status, _, stored = request(
        "GET",
        f"{server.url}/api/v1/memory/{memory_id}",
        headers={"Authorization": f"Bearer {server.key}"},
    )
    assert status == 200 and stored["text"] == "sent in chunks"


def test_a_client_sending_a_body_over_the_limit_reads_its_413_instead_of_a_reset(server):
    # 8 MB is more than the socket buffers hold: unless the server reads (and drops) the rest
    # of the body after answering, closing with unread data resets the connection and the
    # client's send fails before it can read the 413 (CI saw this with 2 MB through urllib).
    body = b'{"text": "' + b"x" * 8_000_000 + b'"}'
    head = (
        "POST /v1/memories HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {server.key}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    for _ in range(3):
        with _open(server) as sock:
            sock.sendall(head + body)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 413 Payload Too Large", answer[:200]
        assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"] == "PAYLOAD_TOO_LARGE"
