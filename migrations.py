"""Numbered, append-only schema migrations, tracked with `PRAGMA user_version`."""

from __future__ import annotations

from typing import Any

import sqlean

# Never edit or reorder a migration that has shipped: append a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: settings of the database itself, API keys, memories.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        owner TEXT NOT NULL,
        name TEXT,
        tier TEXT NOT NULL CHECK (tier IN ('free', 'pro', 'enterprise')),
        created_at TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT
    );
    CREATE TABLE memories (
        rowid INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL,
        workspace TEXT NOT NULL,
        id TEXT NOT NULL,
        text TEXT NOT NULL,
        metadata TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (owner, workspace, id)
    );
    CREATE INDEX memories_newest_first ON memories (owner, workspace, created_at, rowid);
    """,
    # 2: search. Long texts are embedded as several chunks; FTS5 keyword index kept in step
    # with `memories` by triggers, inside the same transactions as every memory write.
    """
    ALTER TABLE memories ADD COLUMN chunk_count INTEGER NOT NULL DEFAULT 1;
    CREATE VIRTUAL TABLE memories_fts USING fts5(
        text,
        content='memories',
        content_rowid='rowid',
        tokenize='porter unicode61 remove_diacritics 2'
    );
    INSERT INTO memories_fts (memories_fts) VALUES ('rebuild');
    CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts (rowid, text) VALUES (new.rowid, new.text);
    END;
    CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    END;
    CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
        INSERT INTO memories_fts (rowid, text) VALUES (new.rowid, new.text);
    END;
    """,
)


def apply(conn: Any) -> int:
    """Apply every pending migration in one write transaction; return the new version."""
    # WAL cannot be switched on inside a transaction; it is persistent once set.
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"database schema version {version} is newer than this server "
                f"({len(MIGRATIONS)}): upgrade the server before opening this file"
            )
        for number in range(version + 1, len(MIGRATIONS) + 1):
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        # complete_statement knows that a trigger body's inner ';' does not end it.
        if sqlean.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement in migration: {current.strip()[:60]}")
    return statements
