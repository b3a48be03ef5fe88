"""Fixtures: an app on a temp database with the real bundled model (loaded once per session).

Every test runs under the network rule: this process and every server it starts may reach
only loopback (loopback_only.py), and webhooks are limited to loopback receivers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from network_guard import loopback_only

loopback_only.install()
# Read by every create_app() of the tests, and inherited by every process they start.
os.environ.update(loopback_only.subprocess_env(dict(os.environ)))

from flask import Flask  # noqa: E402
from limits.storage import RedisStorage  # noqa: E402

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


def close_app(app: Flask) -> None:
    """Release what an app holds: its database connection, its limiter's Redis connections."""
    app.extensions["memory_api"].db.close()
    app.extensions["memory_api.mcp"].close()  # the MCP event loop thread, if it started
    storage = app.extensions["rate_limiter"].storage
    if isinstance(storage, RedisStorage):
        storage.storage.connection_pool.disconnect()


def _app_maker() -> Iterator[Callable[..., Flask]]:
    """create_app() for a test, each app closed when the test is done, whatever happened."""
    with ExitStack() as made:

        def make(config: dict | None = None) -> Flask:
            app = create_app(config)
            made.callback(close_app, app)  # all run, even if one of them fails
            return app

        yield make


@pytest.fixture
def make_app() -> Iterator[Callable[..., Flask]]:
    """Build apps from configs (`create_app(config)`); each one's database is closed after."""
    yield from _app_maker()


@pytest.fixture(scope="module")
def make_module_app() -> Iterator[Callable[..., Flask]]:
    """`make_app` for a module-scoped fixture: the apps are closed after the module."""
    yield from _app_maker()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def database(request, db_path: Path) -> str:
    """The test app's MEMORY_API_DB: a SQLite file, or (BOTH_BACKENDS modules) PostgreSQL too."""
    if getattr(request, "param", "sqlite") == "postgres":
        return request.getfixturevalue("pg_url")
    return str(db_path)


def pytest_generate_tests(metafunc):
    """A module with BOTH_BACKENDS = True runs each test of its app on SQLite and PostgreSQL.

    A test marked `sqlite_only` checks something only SQLite has (a query plan, its write
    lock, its file format) and runs on SQLite alone; one marked `postgres_only` checks what
    only PostgreSQL has (its full-text ranking) and runs there alone.
    """
    if "database" not in metafunc.fixturenames:
        return
    postgres = pytest.param("postgres", marks=pytest.mark.postgres)
    if metafunc.definition.get_closest_marker("postgres_only") is not None:
        metafunc.parametrize("database", [postgres], indirect=True)
    elif (
        getattr(metafunc.module, "BOTH_BACKENDS", False)
        and metafunc.definition.get_closest_marker("sqlite_only") is None
    ):
        metafunc.parametrize("database", ["sqlite", postgres], indirect=True)


def pytest_collection_modifyitems(items):
    """Every test that uses the PostgreSQL server is marked `postgres` (make test-postgres)."""
    for item in items:
        if "postgres_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def app(database: str, embedder: Embedder, make_app):
    app = make_app({"TESTING": True, "DATABASE": database})
    app.extensions["memory_api"].memories.prepare()
    return app


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


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL 16 + pgvector for the session (the pgserver wheel, a Unix socket)."""
    from postgres_server import PostgresForTests

    server = PostgresForTests()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server) -> str:
    """The URL of a new, empty PostgreSQL database for this test."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request, tmp_path):
    """A migrated, empty database of each backend: a SQLite file, then a real PostgreSQL."""
    from memory_server.storage.database import Database
    from memory_server.storage.postgres.database import PostgresDatabase

    if request.param == "sqlite":
        db = Database(tmp_path / "memory.db")
    else:
        db = PostgresDatabase(request.getfixturevalue("pg_url"))
    db.migrate()
    yield db
    db.close()
