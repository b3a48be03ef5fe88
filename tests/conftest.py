"""Fixtures: an app on a temp database with the real bundled model (loaded once per session).

Every test runs under the network rule: this process and every server it starts may reach
only loopback (loopback_only.py), and webhooks are limited to loopback receivers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from network_guard import loopback_only

loopback_only.install()
# Read by every create_app() of the tests, and inherited by every process they start.
os.environ.update(loopback_only.subprocess_env(dict(os.environ)))

from helpers import headers  # noqa: E402
from memory_server.app import create_app  # noqa: E402 - after the guard, so nothing connects unguarded
from memory_server.embedding.model import Embedder, get_embedder  # noqa: E402
from memory_server.settings import BUNDLED_MODEL  # noqa: E402


@pytest.fixture(autouse=True)
def only_loopback():
    """Fail the test that tried to reach anything but loopback (even if the try was caught)."""
    loopback_only.refused.clear()
    yield
    assert not loopback_only.refused, f"left loopback: {loopback_only.refused}"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2, loaded once for the whole run."""
    model = get_embedder(BUNDLED_MODEL)
    model.load()
    return model


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def app(db_path: Path, embedder: Embedder):
    app = create_app({"TESTING": True, "DATABASE": str(db_path)})
    app.extensions["memory_api"].memories.prepare()
    yield app
    app.extensions["memory_api"].db.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_key(app) -> Callable[..., str]:
    """Create a key in the app's database and return its plaintext."""

    def make(tier: str = "free", owner: str = "default", **kwargs) -> str:
        return app.extensions["memory_api"].keys.create(tier, owner, **kwargs).plaintext

    return make


@pytest.fixture
def key(make_key) -> str:
    return make_key("pro")


@pytest.fixture
def auth(key) -> dict[str, str]:
    return headers(key)
