"""The PostgreSQL schema as numbered migrations, the same tables as SQLite's in its own types.

Columns keep SQLite's types where the stores' shared SQL reads and writes them (ISO-8601
text timestamps, 0/1 integers, JSON as text), so both backends compare and return them alike;
a memory's metadata is kept as the exact JSON text it was stored with (its ETag hashes that
text) beside a `jsonb` copy for filters. Vectors live in pgvector columns, made when the
database is bound to a model (their dimension is the model's).
"""

from __future__ import annotations

# Never edit or reorder a migration once the PostgreSQL backend has shipped: append one.
MIGRATIONS: tuple[str, ...] = (
    # 1: the whole schema of SQLite's migrations 1-12, in PostgreSQL's terms.
    """
    CREATE EXTENSION IF NOT EXISTS vector;
    -- A metadata value read as an instant for filters (storage/postgres/filters_sql.py):
    -- naive times are UTC, and text that is no time is NULL instead of an error.
    CREATE FUNCTION memory_time(value TEXT) RETURNS TIMESTAMPTZ
    LANGUAGE plpgsql IMMUTABLE SET timezone = 'UTC' AS $$
    BEGIN
        RETURN value::timestamptz;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END $$;
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
        revoked_at TEXT,
        read_only INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
        workspaces TEXT CHECK (workspaces IS NULL OR json_array_length(workspaces::json) > 0)
    );
    CREATE TABLE memories (
        rowid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        owner TEXT NOT NULL,
        workspace TEXT NOT NULL,
        id TEXT NOT NULL,
        text TEXT NOT NULL,
        metadata TEXT NOT NULL,
        metadata_doc JSONB GENERATED ALWAYS AS (metadata::jsonb) STORED,
        content_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        chunk_count INTEGER NOT NULL DEFAULT 1,
        expires_at TEXT,
        version INTEGER NOT NULL DEFAULT 1,
        search_terms TSVECTOR NOT NULL DEFAULT ''::tsvector,
        UNIQUE (owner, workspace, id)
    );
    CREATE INDEX memories_newest_first ON memories (owner, workspace, created_at, rowid);
    CREATE INDEX memories_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL;
    CREATE INDEX memories_content ON memories (owner, workspace, content_hash);
    CREATE INDEX memories_metadata ON memories USING gin (metadata_doc jsonb_path_ops);
    -- Keyword search (storage/postgres/keyword_index.py): the memory's terms, searched
    -- through a GIN index and ranked by ts_rank.
    CREATE INDEX memories_search_terms ON memories USING gin (search_terms);
    CREATE TABLE memory_history (
        memory_rowid BIGINT NOT NULL REFERENCES memories (rowid) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        event TEXT NOT NULL CHECK (event IN ('created', 'updated')),
        text TEXT NOT NULL,
        metadata TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        PRIMARY KEY (memory_rowid, version)
    );
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
    CREATE TABLE webhook_events (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        rowid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at DOUBLE PRECISION NOT NULL,
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        lease_token TEXT,
        UNIQUE (event_id, endpoint_id)
    );
    CREATE INDEX webhook_deliveries_due
        ON webhook_deliveries (state, next_attempt_at, endpoint_id);
    CREATE INDEX webhook_deliveries_lease ON webhook_deliveries (endpoint_id, lease_until);
    CREATE TABLE webhook_attempts (
        rowid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_rowid BIGINT NOT NULL REFERENCES webhook_deliveries (rowid) ON DELETE CASCADE,
        endpoint_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        attempted_at TEXT NOT NULL,
        status_code INTEGER,
        error TEXT,
        duration_ms DOUBLE PRECISION NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'failed')),
        next_retry_at TEXT
    );
    CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, rowid);
    CREATE TABLE idempotency_keys (
        owner TEXT NOT NULL,
        workspace TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER,
        body TEXT,
        location TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (owner, workspace, key)
    );
    CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
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
    -- A key is forgotten once no memory it created is left (as SQLite's migration 6).
    CREATE FUNCTION idempotency_forget_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM idempotency_keys k
        WHERE k.owner = OLD.owner AND k.workspace = OLD.workspace
          AND k.key IN (SELECT m.key FROM idempotency_memories m WHERE m.owner = OLD.owner
                        AND m.workspace = OLD.workspace AND m.memory_id = OLD.id)
          AND NOT EXISTS (SELECT 1 FROM idempotency_memories o WHERE o.owner = OLD.owner
                          AND o.workspace = OLD.workspace AND o.key = k.key
                          AND o.memory_id != OLD.id);
        DELETE FROM idempotency_memories
        WHERE owner = OLD.owner AND workspace = OLD.workspace AND memory_id = OLD.id;
        RETURN NULL;
    END $$;
    CREATE TRIGGER idempotency_forget_deleted AFTER DELETE ON memories
        FOR EACH ROW EXECUTE FUNCTION idempotency_forget_deleted();
    -- Context vectors (storage/contexts.py), as SQLite's migration 12: the work list kept
    -- by triggers, and a context dropped the moment the memory it was read from changes.
    CREATE INDEX memories_in_order ON memories (owner, workspace);
    CREATE TABLE context_vectors (
        memory_rowid BIGINT PRIMARY KEY REFERENCES memories (rowid) ON DELETE CASCADE,
        source_rowid BIGINT NOT NULL,
        embedding BYTEA NOT NULL
    );
    CREATE INDEX context_vectors_source ON context_vectors (source_rowid);
    CREATE TABLE context_pending (
        memory_rowid BIGINT PRIMARY KEY REFERENCES memories (rowid) ON DELETE CASCADE,
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0
    );
    -- Whether metadata names a conversation: THREAD_KEYS of storage/contexts.py.
    CREATE FUNCTION names_thread(doc JSONB) RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
        SELECT coalesce(jsonb_typeof(doc -> 'session_id') IN ('string', 'number')
            OR jsonb_typeof(doc -> 'conversation_id') IN ('string', 'number')
            OR jsonb_typeof(doc -> 'thread_id') IN ('string', 'number')
            OR jsonb_typeof(doc -> 'run_id') IN ('string', 'number')
            OR jsonb_typeof(doc -> 'session') IN ('string', 'number')
            OR jsonb_typeof(doc -> 'conversation') IN ('string', 'number'), FALSE)
    $$;
    CREATE FUNCTION context_due_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF names_thread(NEW.metadata_doc) THEN
            INSERT INTO context_pending (memory_rowid) VALUES (NEW.rowid) ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER context_due_insert AFTER INSERT ON memories
        FOR EACH ROW EXECUTE FUNCTION context_due_insert();
    CREATE FUNCTION context_due_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO context_pending (memory_rowid, lease_until)
            SELECT memory_rowid, 0 FROM context_vectors WHERE source_rowid = NEW.rowid
            ON CONFLICT (memory_rowid) DO UPDATE SET lease_until = 0;
        DELETE FROM context_vectors WHERE memory_rowid = NEW.rowid OR source_rowid = NEW.rowid;
        IF names_thread(NEW.metadata_doc) THEN
            INSERT INTO context_pending (memory_rowid, lease_until) VALUES (NEW.rowid, 0)
            ON CONFLICT (memory_rowid) DO UPDATE SET lease_until = 0;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER context_due_update AFTER UPDATE OF text, metadata ON memories
        FOR EACH ROW EXECUTE FUNCTION context_due_update();
    CREATE FUNCTION context_due_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO context_pending (memory_rowid, lease_until)
            SELECT memory_rowid, 0 FROM context_vectors WHERE source_rowid = OLD.rowid
            ON CONFLICT (memory_rowid) DO UPDATE SET lease_until = 0;
        DELETE FROM context_vectors WHERE source_rowid = OLD.rowid;
        RETURN NULL;
    END $$;
    CREATE TRIGGER context_due_delete AFTER DELETE ON memories
        FOR EACH ROW EXECUTE FUNCTION context_due_delete();
    """,
    # 2: topics, as SQLite's migration 13.
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
