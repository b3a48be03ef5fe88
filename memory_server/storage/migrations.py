"""Numbered, append-only schema migrations, tracked with `PRAGMA user_version`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import sqlean

from memory_server.search import keyword_terms


def _index_existing_keywords(conn: Any) -> None:
    """Migration 7's data: the keyword postings of every memory already stored."""
    conn.execute(
        "INSERT INTO keyword_scopes (owner, workspace, documents, tokens)"
        " SELECT owner, workspace, count(*), 0 FROM memories GROUP BY owner, workspace"
    )
    last = 0
    while True:  # in batches: rows are updated as they are read
        rows = conn.execute(
            "SELECT m.rowid, m.text, s.id FROM memories m JOIN keyword_scopes s"
            " ON s.owner = m.owner AND s.workspace = m.workspace"
            " WHERE m.rowid > ? ORDER BY m.rowid LIMIT 1000",
            (last,),
        ).fetchall()
        if not rows:
            return
        for rowid, text, scope_id in rows:
            found = keyword_terms.terms(text)
            counts = Counter(found)
            conn.executemany(
                "INSERT INTO keyword_postings (scope_id, term, memory_rowid, tf, length)"
                " VALUES (?, ?, ?, ?, ?)",
                [(scope_id, term, rowid, tf, len(found)) for term, tf in counts.items()],
            )
            conn.execute(
                "UPDATE memories SET keyword_tokens = ? WHERE rowid = ?", (len(found), rowid)
            )
        last = rows[-1][0]


Migration = str | Callable[[Any], None]

# Never edit or reorder a migration that has shipped: append a new one. A migration is SQL,
# or a sequence of SQL and Python steps (for data SQL cannot compute), run in one transaction.
MIGRATIONS: tuple[Migration | tuple[Migration, ...], ...] = (
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
    # 3: webhooks. `webhook_deliveries` is the outbox: one row per event per endpoint, written
    # in the transaction of the memory change; `webhook_attempts` is the delivery log.
    """
    CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        workspace TEXT NOT NULL,
        url TEXT NOT NULL,
        description TEXT,
        events TEXT NOT NULL,
        secret TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX webhook_endpoints_scope ON webhook_endpoints (owner, workspace);
    CREATE TABLE webhook_deliveries (
        rowid INTEGER PRIMARY KEY AUTOINCREMENT,
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        lease_until REAL NOT NULL DEFAULT 0,
        lease_token TEXT,
        UNIQUE (event_id, endpoint_id)
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
    CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id);
    CREATE TABLE webhook_attempts (
        rowid INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_rowid INTEGER NOT NULL REFERENCES webhook_deliveries (rowid) ON DELETE CASCADE,
        endpoint_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        attempted_at TEXT NOT NULL,
        status_code INTEGER,
        error TEXT,
        duration_ms REAL NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'failed')),
        next_retry_at TEXT
    );
    CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, rowid);
    """,
    # 4: keyword search per workspace. The FTS5 index gets a second column holding one token
    # per owner/workspace, so a query ANDs it in and reads only that workspace's postings,
    # instead of ranking every matching memory of the file and dropping the others' after.
    """
    ALTER TABLE memories ADD COLUMN fts_scope TEXT
        GENERATED ALWAYS AS ('s' || hex(owner || '/' || workspace)) VIRTUAL;
    DROP TRIGGER memories_fts_insert;
    DROP TRIGGER memories_fts_delete;
    DROP TRIGGER memories_fts_update;
    DROP TABLE memories_fts;
    CREATE VIRTUAL TABLE memories_fts USING fts5(
        text,
        fts_scope,
        content='memories',
        content_rowid='rowid',
        tokenize='porter unicode61 remove_diacritics 2'
    );
    INSERT INTO memories_fts (memories_fts) VALUES ('rebuild');
    CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts (rowid, text, fts_scope)
        VALUES (new.rowid, new.text, new.fts_scope);
    END;
    CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, text, fts_scope)
        VALUES ('delete', old.rowid, old.text, old.fts_scope);
    END;
    CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, text, fts_scope)
        VALUES ('delete', old.rowid, old.text, old.fts_scope);
        INSERT INTO memories_fts (rowid, text, fts_scope)
        VALUES (new.rowid, new.text, new.fts_scope);
    END;
    """,
    # 5: Idempotency-Key on creates: the first answer per key, replayed to retries for 24 h.
    # `status` is NULL while the first request is still running.
    """
    CREATE TABLE idempotency_keys (
        owner TEXT NOT NULL,
        workspace TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER,
        body TEXT,
        location TEXT,
        created_at REAL NOT NULL,
        PRIMARY KEY (owner, workspace, key)
    );
    CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
    """,
    # 6: what each idempotency key created. Once none of those memories is left, the key is
    # forgotten: a retry then creates anew instead of replaying a 201 for memories now gone.
    """
    CREATE TABLE idempotency_memories (
        owner TEXT NOT NULL,
        workspace TEXT NOT NULL,
        key TEXT NOT NULL,
        memory_id TEXT NOT NULL,
        PRIMARY KEY (owner, workspace, memory_id, key),
        FOREIGN KEY (owner, workspace, key)
            REFERENCES idempotency_keys (owner, workspace, key) ON DELETE CASCADE
    );
    CREATE INDEX idempotency_memories_key ON idempotency_memories (owner, workspace, key);
    CREATE TRIGGER idempotency_forget_deleted AFTER DELETE ON memories BEGIN
        DELETE FROM idempotency_keys
        WHERE owner = old.owner AND workspace = old.workspace
          AND key IN (SELECT m.key FROM idempotency_memories m WHERE m.owner = old.owner
                      AND m.workspace = old.workspace AND m.memory_id = old.id)
          AND NOT EXISTS (SELECT 1 FROM idempotency_memories o WHERE o.owner = old.owner
                          AND o.workspace = old.workspace AND o.key = idempotency_keys.key
                          AND o.memory_id != old.id);
        DELETE FROM idempotency_memories
        WHERE owner = old.owner AND workspace = old.workspace AND memory_id = old.id;
    END;
    """,
    # 7: keyword search on each workspace's own statistics (search/keyword_index.py). FTS5's bm25()
    # over one shared table scored with the whole file's counts, so scores showed other
    # owners' words. Postings per workspace, its totals kept by triggers; FTS5 goes.
    (
        """
        ALTER TABLE memories ADD COLUMN keyword_tokens INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE keyword_scopes (
            id INTEGER PRIMARY KEY,
            owner TEXT NOT NULL,
            workspace TEXT NOT NULL,
            documents INTEGER NOT NULL,
            tokens INTEGER NOT NULL,
            UNIQUE (owner, workspace)
        );
        CREATE TABLE keyword_postings (
            scope_id INTEGER NOT NULL,
            term TEXT NOT NULL,
            memory_rowid INTEGER NOT NULL,
            tf INTEGER NOT NULL,
            length INTEGER NOT NULL,
            PRIMARY KEY (scope_id, term, memory_rowid)
        ) WITHOUT ROWID;
        -- A memory's postings are found by its rowid, not by tokenizing its old text again
        -- (a newer Python or stemmer could split it otherwise and leave postings behind).
        CREATE INDEX keyword_postings_memory ON keyword_postings (memory_rowid);
        CREATE TRIGGER keyword_scope_insert AFTER INSERT ON memories BEGIN
            INSERT INTO keyword_scopes (owner, workspace, documents, tokens)
            VALUES (new.owner, new.workspace, 1, new.keyword_tokens)
            ON CONFLICT (owner, workspace) DO UPDATE
            SET documents = documents + 1, tokens = tokens + excluded.tokens;
        END;
        CREATE TRIGGER keyword_scope_delete AFTER DELETE ON memories BEGIN
            UPDATE keyword_scopes
            SET documents = documents - 1, tokens = tokens - old.keyword_tokens
            WHERE owner = old.owner AND workspace = old.workspace;
            DELETE FROM keyword_postings WHERE memory_rowid = old.rowid;
        END;
        CREATE TRIGGER keyword_scope_length AFTER UPDATE OF keyword_tokens ON memories BEGIN
            UPDATE keyword_scopes SET tokens = tokens - old.keyword_tokens + new.keyword_tokens
            WHERE owner = new.owner AND workspace = new.workspace;
        END;
        DROP TRIGGER memories_fts_insert;
        DROP TRIGGER memories_fts_delete;
        DROP TRIGGER memories_fts_update;
        DROP TABLE memories_fts;
        ALTER TABLE memories DROP COLUMN fts_scope;
        """,
        _index_existing_keywords,
    ),
    # 8: an event's payload is stored once, however many endpoints receive it (50 endpoints
    # copied a 200 KB text 50 times per event). Indexes for claiming one delivery per
    # endpoint at a time: due rows with their endpoint, and each endpoint's leases.
    """
    CREATE TABLE webhook_events (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    INSERT INTO webhook_events (id, type, payload, created_at)
        SELECT event_id, event_type, payload, min(next_attempt_at)
        FROM webhook_deliveries GROUP BY event_id;
    ALTER TABLE webhook_deliveries DROP COLUMN payload;
    DROP INDEX webhook_deliveries_due;
    DROP INDEX webhook_deliveries_endpoint;
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at, endpoint_id);
    CREATE INDEX webhook_deliveries_lease ON webhook_deliveries (endpoint_id, lease_until);
    """,
    # 9: memories that stay clean. `expires_at` (NULL: never) hides a memory at once and the
    # purger deletes it soon after; the partial index finds the few expired ones. Duplicates
    # are found by content hash within a workspace. `version` counts a memory's versions;
    # `memory_history` keeps the earlier ones (the current one is the memory's own row) and
    # goes with the memory when it is deleted or purged.
    """
    ALTER TABLE memories ADD COLUMN expires_at TEXT;
    ALTER TABLE memories ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX memories_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL;
    CREATE INDEX memories_content ON memories (owner, workspace, content_hash);
    CREATE TABLE memory_history (
        memory_rowid INTEGER NOT NULL,
        version INTEGER NOT NULL,
        event TEXT NOT NULL CHECK (event IN ('created', 'updated')),
        text TEXT NOT NULL,
        metadata TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        PRIMARY KEY (memory_rowid, version)
    ) WITHOUT ROWID;
    CREATE TRIGGER memory_history_forget AFTER DELETE ON memories BEGIN
        DELETE FROM memory_history WHERE memory_rowid = old.rowid;
    END;
    """,
    # 10: least-privilege keys. A read-only key may read, list and search, nothing else;
    # `workspaces` is the JSON list of the workspaces a key may use, NULL for every one.
    # Keys made before keep full access.
    """
    ALTER TABLE api_keys ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0
        CHECK (read_only IN (0, 1));
    ALTER TABLE api_keys ADD COLUMN workspaces TEXT
        CHECK (workspaces IS NULL OR json_array_length(workspaces) > 0);
    """,
    # 11: a token per vector scope and per block of codes, changed by every write to them,
    # so a process can keep a scope's sign codes in memory and know what in its copy is
    # stale (code_cache.py).
    # A scope with no row yet is at token 0; the row of scope '' is the codes' generation.
    """
    CREATE TABLE vector_versions (
        scope TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    ) WITHOUT ROWID;
    -- The same per sqlite-vec block of codes: a changed scope re-reads only changed blocks.
    CREATE TABLE vector_blocks (
        block INTEGER PRIMARY KEY,
        version INTEGER NOT NULL
    );
    """,
    # 12: context vectors (storage/contexts.py): a short memory embedded with the one before
    # it in its conversation. `context_pending` is the work list, kept by triggers; a
    # context goes the moment the memory it was read from changes or is deleted, so no
    # deleted text lives on in another memory's vector. Stored conversations are due too.
    """
    CREATE INDEX memories_in_order ON memories (owner, workspace);
    CREATE TABLE context_vectors (
        memory_rowid INTEGER PRIMARY KEY,
        source_rowid INTEGER NOT NULL,
        embedding BLOB NOT NULL
    );
    CREATE INDEX context_vectors_source ON context_vectors (source_rowid);
    CREATE TABLE context_pending (
        memory_rowid INTEGER PRIMARY KEY,
        lease_until REAL NOT NULL DEFAULT 0
    );
    -- Only memories whose metadata names a conversation (storage/contexts.py THREAD_KEYS).
    INSERT INTO context_pending (memory_rowid) SELECT m.rowid FROM memories m
        WHERE json_type(m.metadata, '$.session_id') IN ('text', 'integer', 'real')
           OR json_type(m.metadata, '$.conversation_id') IN ('text', 'integer', 'real')
           OR json_type(m.metadata, '$.thread_id') IN ('text', 'integer', 'real')
           OR json_type(m.metadata, '$.run_id') IN ('text', 'integer', 'real')
           OR json_type(m.metadata, '$.session') IN ('text', 'integer', 'real')
           OR json_type(m.metadata, '$.conversation') IN ('text', 'integer', 'real');
    CREATE TRIGGER context_due_insert AFTER INSERT ON memories
    WHEN json_type(new.metadata, '$.session_id') IN ('text', 'integer', 'real')
       OR json_type(new.metadata, '$.conversation_id') IN ('text', 'integer', 'real')
       OR json_type(new.metadata, '$.thread_id') IN ('text', 'integer', 'real')
       OR json_type(new.metadata, '$.run_id') IN ('text', 'integer', 'real')
       OR json_type(new.metadata, '$.session') IN ('text', 'integer', 'real')
       OR json_type(new.metadata, '$.conversation') IN ('text', 'integer', 'real')
    BEGIN
        INSERT OR IGNORE INTO context_pending (memory_rowid) VALUES (new.rowid);
    END;
    CREATE TRIGGER context_due_update AFTER UPDATE OF text, metadata ON memories BEGIN
        INSERT OR REPLACE INTO context_pending (memory_rowid, lease_until)
            SELECT memory_rowid, 0 FROM context_vectors WHERE source_rowid = new.rowid;
        DELETE FROM context_vectors WHERE memory_rowid = new.rowid OR source_rowid = new.rowid;
        INSERT OR REPLACE INTO context_pending (memory_rowid, lease_until)
            SELECT new.rowid, 0
            WHERE json_type(new.metadata, '$.session_id') IN ('text', 'integer', 'real')
               OR json_type(new.metadata, '$.conversation_id') IN ('text', 'integer', 'real')
               OR json_type(new.metadata, '$.thread_id') IN ('text', 'integer', 'real')
               OR json_type(new.metadata, '$.run_id') IN ('text', 'integer', 'real')
               OR json_type(new.metadata, '$.session') IN ('text', 'integer', 'real')
               OR json_type(new.metadata, '$.conversation') IN ('text', 'integer', 'real');
    END;
    CREATE TRIGGER context_due_delete AFTER DELETE ON memories BEGIN
        INSERT OR REPLACE INTO context_pending (memory_rowid, lease_until)
            SELECT memory_rowid, 0 FROM context_vectors WHERE source_rowid = old.rowid;
        DELETE FROM context_vectors WHERE memory_rowid = old.rowid OR source_rowid = old.rowid;
        DELETE FROM context_pending WHERE memory_rowid = old.rowid;
    END;
    """,
    # 13: topics (LanOnasis' client: storage/topic_store.py), per owner and workspace. A
    # memory names its topic in its metadata (topic_id), as a label: no key binds them.
    """
    CREATE TABLE topics (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        workspace TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        color TEXT,
        icon TEXT,
        parent_topic_id TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX topics_scope ON topics (owner, workspace, created_at);
    """,
)


class SchemaTooNew(RuntimeError):
    """The file was written by a newer server than this one."""


def apply(conn: Any) -> int:
    """Apply every pending migration in one write transaction; return the new version."""
    # WAL cannot be switched on inside a transaction; it is persistent once set.
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise SchemaTooNew(
                f"database schema version {version} is newer than this server "
                f"({len(MIGRATIONS)}): upgrade the server before opening this file"
            )
        for number in range(version + 1, len(MIGRATIONS) + 1):
            steps = MIGRATIONS[number - 1]
            for step in steps if isinstance(steps, tuple) else (steps,):
                if callable(step):
                    step(conn)
                    continue
                for statement in _statements(step):
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
