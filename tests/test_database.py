"""Database: connection settings, write transactions, migrations."""

from __future__ import annotations

import os
import threading

import pytest

from memory_server.storage import migrations
from memory_server.storage.database import Database, DatabaseUnusable


@pytest.fixture
def db(tmp_path) -> Database:
    database = Database(tmp_path / "sub" / "dir" / "t.db")
    database.migrate()
    yield database
    database.close()


def test_creates_parent_directories_and_uses_wal(db):
    assert db.path.exists()
    conn = db.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert conn.execute("SELECT vec_version()").fetchone()[0] == "v0.1.9"


def test_migrations_set_user_version_and_are_idempotent(db):
    version = db.connection().execute("PRAGMA user_version").fetchone()[0]
    assert version == len(migrations.MIGRATIONS) >= 1
    assert db.migrate() == version
    tables = {r[0] for r in db.connection().execute("SELECT name FROM sqlite_master")}
    assert {"meta", "api_keys", "memories"} <= tables


def test_a_database_from_a_newer_server_is_refused(db):
    with db.transaction() as conn:
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(DatabaseUnusable, match="newer than this server"):
        db.migrate()


def test_files_that_cannot_be_used_are_named_with_the_reason(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not SQLite, just a text file that is long enough" * 100)
    with pytest.raises(DatabaseUnusable, match="is not a SQLite database, or is damaged"):
        Database(garbage).migrate()
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    with pytest.raises(DatabaseUnusable, match="cannot create the folder"):
        Database(blocker / "memory.db").migrate()


def test_a_failed_transaction_rolls_back(db):
    with pytest.raises(ZeroDivisionError), db.transaction() as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')")
        raise ZeroDivisionError
    assert db.connection().execute("SELECT count(*) FROM meta").fetchone()[0] == 0
    assert not db.connection().in_transaction


def test_each_thread_gets_its_own_connection(db):
    seen = []
    thread = threading.Thread(target=lambda: seen.append(db.connection()))
    thread.start()
    thread.join()
    assert seen[0] is not db.connection()


def test_concurrent_writers_wait_instead_of_failing(db):
    errors = []

    def write(n):
        try:
            for i in range(25):
                with db.transaction() as conn:
                    conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (f"{n}-{i}",))
        except Exception as exc:  # the assertion below reports any
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.connection().execute("SELECT count(*) FROM meta").fetchone()[0] == 200


@pytest.mark.filterwarnings("ignore:This process .* use of fork:DeprecationWarning")
def test_a_forked_child_opens_its_own_connection(db):
    parent = db.connection()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's connection object
        os.close(read)
        ok = db.connection() is not parent and db.connection().execute("SELECT 1").fetchone()[0]
        os.write(write, b"ok" if ok else b"no")
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 2) == b"ok"
    assert db.connection() is parent
