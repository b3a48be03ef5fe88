"""A real gunicorn server (temp database, fresh keys) for the Python SDK's tests."""

from __future__ import annotations

import ipaddress
import uuid

import pytest

from network_guard import loopback_only

loopback_only.install()  # this process, like the server, may reach only loopback

from memory_api_client import MemoryClient  # noqa: E402
from memory_server.api_keys import KeyStore  # noqa: E402
from memory_server.storage.database import Database  # noqa: E402
from server import GunicornServer  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses `sdk_server` starts a real gunicorn: it is marked `server`."""
    for item in items:
        if "sdk_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.server)


# One server for every SDK test (each test works in a workspace of its own): starting one
# costs seconds, and only the rate-limit test uses the free key's 3 requests.
@pytest.fixture(scope="session")
def sdk_server(tmp_path_factory):
    """The server as `make run` starts it; free keys get 3 requests an hour here."""
    home = tmp_path_factory.mktemp("sdk")
    db = Database(home / "memory.db")
    db.migrate()
    keys = KeyStore(db)
    made = {
        "enterprise": keys.create("enterprise").plaintext,
        "free": keys.create("free").plaintext,
        "revoked": keys.create("pro").plaintext,
        "read-only": keys.create("pro", read_only=True, workspaces=["ro-1", "ro-2"]).plaintext,
    }
    keys.revoke(keys.authenticate(made["revoked"]).id)
    db.close()
    server = GunicornServer(
        home / "memory.db",
        home / "gunicorn.log",
        MEMORY_API_TIER_LIMITS="free=3/hour,pro=1000/hour,enterprise=unlimited",
        MEMORY_API_WEBHOOK_ALLOWED_NETWORKS=str(ipaddress.ip_network("127.0.0.0/8")),
        MEMORY_API_WEBHOOK_RETRY_SCHEDULE="0.3,0.3",
    ).start()
    server.keys = made
    yield server
    server.stop()


@pytest.fixture
def client(sdk_server):
    """A client in a workspace of its own, so tests never see each other's memories."""
    with MemoryClient(
        sdk_server.url, sdk_server.keys["enterprise"], workspace_id=f"ws-{uuid.uuid4().hex[:8]}"
    ) as made:
        yield made
