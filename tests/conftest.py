"""Fixtures: an app on a temp database with the real bundled model (loaded once per session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app import create_app
from embeddings import Embedder, get_embedder
from helpers import headers
from settings import BUNDLED_MODEL


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
