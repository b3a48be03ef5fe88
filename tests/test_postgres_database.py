"""The PostgreSQL backend's connections and migrations, on a real PostgreSQL 16 + pgvector."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import psycopg
import pytest

from memory_server.storage.postgres import schema
from memory_server.storage.postgres.database import (
    BackupNotHere,
    DatabaseUnusable,
    PostgresDatabase,
)
from memory_server.storage.postgres.url import is_postgres_url, redacted

ROOT = Path(__file__).resolve().parent.parent


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def test_migrate_makes_the_schema_with_pgvector_and_is_idempotent(pg_url):
    db = PostgresDatabase(pg_url)
    assert db.migrate() == len(schema.MIGRATIONS)
    assert {"memories", "api_keys", "webhook_deliveries", "idempotency_keys"} <= tables(pg_url)
    with psycopg.connect(pg_url) as conn:
        (version,) = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
        assert tuple(map(int, version.split("."))) >= (0, 6, 2)
    assert db.migrate() == len(schema.MIGRATIONS)  # again: nothing to do
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [v for (v,) in rows] == list(range(1, len(schema.MIGRATIONS) + 1))


def test_hosts_starting_together_apply_each_migration_once(pg_url):
    # Four processes, as four hosts would, migrate the same empty database at once.
    code = (
        "import sys; from memory_server.storage.postgres.database import PostgresDatabase;"
        "print(PostgresDatabase(sys.argv[1]).migrate())"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", code, pg_url], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [run.communicate(timeout=120)[0].strip() for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0]
    assert outputs == [str(len(schema.MIGRATIONS))] * 4
    with psycopg.connect(pg_url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert count == len(schema.MIGRATIONS)


def test_a_database_from_a_newer_server_is_refused_plainly(pg_url):
    PostgresDatabase(pg_url).migrate()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version) VALUES (999)")
    with pytest.raises(DatabaseUnusable, match="newer than this server"):
        PostgresDatabase(pg_url).migrate()


def test_a_database_that_cannot_be_reached_is_named_without_its_password(tmp_path):
    url = f"postgresql://alice:s3cret@/memory?host={tmp_path}&port=1"  # no server there
    with pytest.raises(DatabaseUnusable) as caught:
        PostgresDatabase(url).migrate()
    message = str(caught.value)
    assert message.startswith("cannot connect to postgresql://alice:***@")
    assert "s3cret" not in message


def test_transactions_commit_or_roll_back_whole(pg_url):
    db = PostgresDatabase(pg_url)
    db.migrate()
    try:
        with db.transaction() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('kept', '1')")
        with pytest.raises(psycopg.errors.UniqueViolation), db.transaction() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('lost', '1')")
            conn.execute("INSERT INTO meta (key, value) VALUES ('kept', '2')")  # fails
        rows = db.connection().execute("SELECT key, value FROM meta ORDER BY key").fetchall()
        assert rows == [("kept", "1")]
        assert rows[0]["key"] == "kept" and rows[0]["value"] == "1"  # by name too
    finally:
        db.close()


def test_backup_points_to_pg_dump(pg_url):
    with pytest.raises(BackupNotHere, match="pg_dump"):
        PostgresDatabase(pg_url).backup("memory.dump")


@pytest.mark.parametrize(
    ("location", "postgres"),
    [
        ("postgresql://user:pass@db.lan:5432/memory", True),
        ("postgres://db.lan/memory", True),
        ("postgresql:///memory?host=/var/run/postgresql", True),
        ("POSTGRESQL://db/memory", True),
        ("data/memory.db", False),
        ("/srv/postgresql/memory.db", False),
    ],
)
def test_a_postgresql_url_is_told_from_a_sqlite_path(location, postgres):
    assert is_postgres_url(location) is postgres


def test_redacted_hides_only_the_password():
    assert redacted("postgresql://u:p@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redacted("postgresql://u@h/d") == "postgresql://u@h/d"
    assert redacted("postgresql:///d?host=/tmp") == "postgresql:///d?host=/tmp"


def test_shared_sql_runs_with_question_marks_and_literal_percent_signs(pg_url):
    db = PostgresDatabase(pg_url)
    db.migrate()
    try:
        with db.transaction() as conn:
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)", [("a?", "50%"), ("b", "it's ?")]
            )
        found = db.connection().execute(
            "SELECT key, value FROM meta WHERE value LIKE '%?%' OR key = ? ORDER BY key", ("a?",)
        )
        assert [tuple(row) for row in found] == [("a?", "50%"), ("b", "it's ?")]
        with db.snapshot() as conn:
            assert conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 2
    finally:
        db.close()


def test_serialize_makes_a_check_then_write_wait_for_the_other(pg_url):
    import threading
    import time

    db = PostgresDatabase(pg_url)
    db.migrate()
    order: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with db.transaction() as conn:
            db.serialize(conn, "first-key")
            inside.set()
            time.sleep(0.3)
            order.append("first done")

    try:
        thread = threading.Thread(target=first)
        thread.start()
        inside.wait(10)
        with db.transaction() as conn:
            db.serialize(conn, "first-key")  # waits for the first transaction's end
            order.append("second in")
        thread.join()
        assert order == ["first done", "second in"]
    finally:
        db.close()


def test_a_size_limit_is_refused_on_postgres_not_ignored(pg_url, make_app):
    with pytest.raises(click.ClickException, match="MEMORY_API_MAX_DATABASE_BYTES limits a SQLite"):
        make_app({"TESTING": True, "DATABASE": pg_url, "MAX_DATABASE_BYTES": 10**9})
