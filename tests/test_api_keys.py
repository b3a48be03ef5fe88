"""KeyStore: key format, hashing, expiry, revocation, the first-start key."""

from __future__ import annotations

import re
import threading

import pytest

from memory_server.api_keys import KeyNotFound, KeyStore
from memory_server.storage.database import Database
from memory_server.storage.postgres.database import PostgresDatabase


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def keys(request, tmp_path) -> KeyStore:
    """A key store on a new SQLite file, then on a new PostgreSQL database."""
    if request.param == "sqlite":
        db = Database(tmp_path / "keys.db")
    else:
        db = PostgresDatabase(request.getfixturevalue("pg_url"))
    db.migrate()
    yield KeyStore(db)
    db.close()


def test_key_has_a_recognisable_prefix_and_256_random_bits(keys):
    new = keys.create("free")
    assert re.fullmatch(r"msk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", new.plaintext)
    assert new.key.id == f"key_{new.plaintext[4:16]}"
    assert keys.create("free").plaintext != new.plaintext


def test_only_a_hash_is_stored(keys):
    new = keys.create("pro", owner="alice", name="laptop")
    rows = keys.db.connection().execute("SELECT * FROM api_keys").fetchall()
    dump = repr([tuple(row) for row in rows])
    assert new.key.id in dump
    secret = new.plaintext.split("_", 2)[2]
    assert secret not in dump
    assert new.plaintext not in dump


def test_authenticate_returns_the_key_record(keys):
    new = keys.create("pro", owner="alice", name="laptop")
    found = keys.authenticate(new.plaintext)
    assert found == new.key
    assert (found.owner, found.tier, found.name, found.status) == (
        "alice",
        "pro",
        "laptop",
        "active",
    )


def test_authenticate_refuses_wrong_secret_for_a_real_key_id(keys):
    new = keys.create("free")
    forged = new.plaintext[:17] + "A" * 43
    assert keys.authenticate(forged) is None


def test_revoked_and_expired_keys_are_refused(keys):
    revoked = keys.create("free")
    assert keys.revoke(revoked.key.id).status == "revoked"
    assert keys.authenticate(revoked.plaintext) is None

    expiring = keys.create("free", expires_in_days=1)
    assert keys.authenticate(expiring.plaintext) is not None
    with keys.db.transaction() as conn:
        conn.execute(
            "UPDATE api_keys SET expires_at = '2001-01-01T00:00:00.000Z' WHERE id = ?",
            (expiring.key.id,),
        )
    assert keys.authenticate(expiring.plaintext) is None
    assert {k.id: k.status for k in keys.list()}[expiring.key.id] == "expired"


def test_revoke_unknown_key(keys):
    with pytest.raises(KeyNotFound):
        keys.revoke("key_000000000000")


@pytest.mark.parametrize(
    "kwargs",
    [{"tier": "gold"}, {"tier": "free", "owner": "a/b"}, {"tier": "free", "expires_in_days": 0}],
)
def test_create_rejects_bad_arguments(keys, kwargs):
    with pytest.raises(ValueError):
        keys.create(**kwargs)


def test_first_key_is_created_once_even_when_processes_race(keys):
    results = []

    def start():
        # Each "process" with its own connections, to the same file or database.
        db = keys.db
        store = KeyStore(
            Database(db.path) if isinstance(db, Database) else PostgresDatabase(db.url)
        )
        results.append(store.create_first_key())
        store.db.close()

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = [r for r in results if r is not None]
    assert len(created) == 1
    assert created[0].key.tier == "enterprise" and created[0].key.owner == "default"
    assert len(keys.list()) == 1
    assert keys.create_first_key() is None
