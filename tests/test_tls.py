"""TLS on the LAN: the deployment doc's certificate commands, a server that speaks only HTTPS,
clients that trust the LAN CA, and webhooks to an HTTPS receiver signed by it."""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from memory_api_client import ConnectionError, MemoryClient
from server import ROOT, GunicornServer, free_port

pytestmark = pytest.mark.server
LAN_NAME = "memory.home.arpa"


def documented_certificates(folder: Path) -> Path:
    """Run the deployment doc's openssl commands as written, for 127.0.0.1, not the LAN address."""
    doc = (ROOT / "docs" / "deployment.md").read_text()
    block = doc.split("## TLS on the LAN", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert "IP:192.168.1.20" in block
    script = block.replace("IP:192.168.1.20", "IP:127.0.0.1")
    subprocess.run(["sh", "-e", "-c", script], cwd=folder, check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    return documented_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, certificates):
    home = tmp_path_factory.mktemp("tls")
    server = GunicornServer(
        home / "memory.db",
        home / "gunicorn.log",
        tls_ca=certificates / "lan-ca.pem",
        MEMORY_API_TLS_CERT=str(certificates / "server.pem"),
        MEMORY_API_TLS_KEY=str(certificates / "server.key"),
        MEMORY_API_WEBHOOK_CA_BUNDLE=str(certificates / "lan-ca.pem"),
        MEMORY_API_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
        MEMORY_API_WEBHOOK_TIMEOUT="2",
        MEMORY_API_WEBHOOK_RETRY_SCHEDULE="0.3,0.3",
    ).start()
    server.key = next(w for w in server.log().split() if w.startswith("msk_"))
    yield server
    server.stop()


def test_the_server_speaks_https_to_a_client_that_trusts_the_lan_ca(tls_server, certificates):
    assert tls_server.url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(certificates / "lan-ca.pem"))
    # By its LAN name (what the certificate names), connecting to the address it serves on.
    conn = http.client.HTTPSConnection("127.0.0.1", tls_server.port, context=context)
    conn.sock = context.wrap_socket(
        socket.create_connection(("127.0.0.1", tls_server.port), timeout=10),
        server_hostname=LAN_NAME,
    )
    conn.request("GET", "/health", headers={"Host": LAN_NAME})
    answer = conn.getresponse()
    assert answer.status == 200 and json.loads(answer.read())["status"] == "ok"
    conn.close()
    # The Location of a create is an https URL: the app knows it is behind TLS.
    with MemoryClient(
        tls_server.url, tls_server.key, ca_bundle=str(certificates / "lan-ca.pem")
    ) as client:
        stored = client.upsert(text="sent over TLS")
        assert client.get(stored.id).text == "sent over TLS"


def test_plain_http_and_an_untrusted_client_get_nothing(tls_server):
    plain = MemoryClient(f"http://127.0.0.1:{tls_server.port}", tls_server.key, max_retries=0)
    with pytest.raises(ConnectionError), plain:
        plain.list()
    untrusted = MemoryClient(tls_server.url, tls_server.key, max_retries=0)
    with pytest.raises(ConnectionError, match="CERTIFICATE_VERIFY_FAILED"), untrusted:
        untrusted.list()


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        _Receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhooks_reach_an_https_receiver_signed_by_the_lan_ca(tls_server, certificates):
    receiver, port = https_receiver(certificates)
    try:
        with MemoryClient(
            tls_server.url, tls_server.key, ca_bundle=str(certificates / "lan-ca.pem")
        ) as client:
            hook = client.create_webhook(f"https://127.0.0.1:{port}/in", ["memory.created"])
            client.upsert(text="for the https receiver")
            deadline = time.monotonic() + 20
            while not _Receiver.bodies and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _Receiver.bodies[0]["data"]["text"] == "for the https receiver"
            assert client.list_deliveries(hook.id)[0].outcome == "delivered"
    finally:
        receiver.shutdown()
        receiver.server_close()


def https_receiver(certificates: Path) -> tuple[ThreadingHTTPServer, int]:
    """An HTTPS webhook receiver on loopback, its certificate signed by the LAN CA."""
    port = free_port()
    receiver = ThreadingHTTPServer(("127.0.0.1", port), _Receiver)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    receiver.socket = context.wrap_socket(receiver.socket, server_side=True)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    return receiver, port


def test_without_the_ca_bundle_a_lan_signed_receiver_is_refused(
    tmp_path, certificates, embedder, make_app
):
    app = make_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "hooks.db"),
            "WEBHOOK_ALLOWED_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),),
            "WEBHOOK_TIMEOUT": 2.0,
        }
    )
    services = app.extensions["memory_api"]
    services.memories.prepare()
    receiver, port = https_receiver(certificates)
    try:
        client = app.test_client()
        auth = {"Authorization": f"Bearer {services.keys.create('pro').plaintext}"}
        hook = client.post(
            "/api/v1/webhooks",
            json={"url": f"https://127.0.0.1:{port}/in", "events": ["memory.created"]},
            headers=auth,
        ).json
        client.post("/api/v1/memory", json={"text": "not for an unknown CA"}, headers=auth)
        assert services.dispatcher.deliver_due() == 1
        attempt = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=auth).json
        assert attempt["deliveries"][0]["outcome"] == "retrying"
        assert attempt["deliveries"][0]["error"] == "TLS: unable to get local issuer certificate"
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_one_of_the_two_files_alone_refuses_to_start(tmp_path, certificates):
    server = GunicornServer(
        tmp_path / "memory.db",
        tmp_path / "gunicorn.log",
        MEMORY_API_TLS_CERT=str(certificates / "server.pem"),
    ).start(wait=False)
    try:
        assert server.wait_exit(timeout=60) != 0
    finally:
        server.stop()
    assert "MEMORY_API_TLS_CERT and MEMORY_API_TLS_KEY" in server.log()
    assert "Traceback" not in server.log()


def test_a_key_that_does_not_match_the_certificate_refuses_to_start(tmp_path, certificates):
    """gunicorn's asyncio worker would log the error and serve plain HTTP instead."""
    other = tmp_path / "other.key"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-out", str(other)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = GunicornServer(
        tmp_path / "memory.db",
        tmp_path / "gunicorn.log",
        MEMORY_API_TLS_CERT=str(certificates / "server.pem"),
        MEMORY_API_TLS_KEY=str(other),
    ).start(wait=False)
    try:
        assert server.wait_exit(timeout=60) != 0
    finally:
        server.stop()
    assert "cannot be used together" in server.log()
    assert "Traceback" not in server.log()
