"""Context vectors: a short memory embedded with the one before it in its conversation. No Flask.

A chat turn often means something only next to the turn before it ("yes, on Monday!"). Hybrid
search (search/ranking.py) blends a memory's own cosine with its context vector's: on the
conversational set that found 0.61 of the evidence in the top 10 instead of 0.51. Triggers
(migration 12) keep the work list `context_pending` and drop a context the moment the memory
it was read from changes or goes, so a deleted text never lives on in another's vector. The
vectors are computed later, in the background (contexts.py), never on a request's path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from memory_server.clock import utc_now
from memory_server.storage.database import Connection, Database
from memory_server.storage.memory_store import live

# A claimed job is another worker's for this long; after that (its worker died) anyone's.
LEASE_SECONDS = 120.0
# Memories of one conversation carry the same value under one of these metadata keys; a
# memory is read with the one before it in its conversation, looked for among the LOOKBACK
# memories stored just before it in its workspace. Independent notes (no such key) are not
# read with their neighbours: on the paraphrase set that cost a rank-1 answer.
THREAD_KEYS = ("session_id", "conversation_id", "thread_id", "run_id", "session", "conversation")
LOOKBACK = 50
# What is embedded of a context, at most: about the model's window of English, mostly the
# memory's own text (embedding/turns.py: a turn holds four).
CONTEXT_CHARS = 1024


@dataclass(frozen=True)
class ContextJob:
    """A memory whose context vector is due: its text, and the memory stored before it."""

    rowid: int
    text: str
    source_rowid: int | None
    source_text: str | None

    @property
    def context_text(self) -> str | None:
        """What is embedded (None: nothing to add): this memory, then the one before it.

        In this order the model's window cuts the memory before, never this one; and it
        found more on the conversational set (0.608 against 0.594 the other way round).
        """
        if self.source_text is None:
            return None
        return f"{self.text}\n{self.source_text}"[:CONTEXT_CHARS]


class ContextStore:
    """The work list and the stored context vectors."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, limit: int, now: float | None = None) -> list[ContextJob]:
        """Take up to `limit` due jobs for LEASE_SECONDS (one worker or host each)."""
        now = time.time() if now is None else now
        due = "SELECT 1 FROM context_pending WHERE lease_until <= ? LIMIT 1"
        if self.db.connection().execute(due, (now,)).fetchone() is None:
            return []  # nothing due: no write lock taken (the thread asks every second)
        with self.db.transaction() as conn:
            # One claim at a time across processes and hosts (SQLite: always so).
            self.db.serialize(conn, "contexts.claim")
            rowids = [
                row[0]
                for row in conn.execute(
                    "UPDATE context_pending SET lease_until = ? WHERE memory_rowid IN"
                    " (SELECT memory_rowid FROM context_pending WHERE lease_until <= ?"
                    "  ORDER BY memory_rowid LIMIT ?) RETURNING memory_rowid",
                    (now + LEASE_SECONDS, now, limit),
                )
            ]
            return [job for rowid in sorted(rowids) if (job := _job(conn, rowid)) is not None]

    def save(
        self,
        jobs: list[ContextJob],
        vectors: list[np.ndarray | None],
        check: Callable[[Connection], None] = lambda conn: None,
    ) -> None:
        """Store each job's vector (None: it has no context), if nothing changed meanwhile.

        A job whose memory or source changed since it was claimed stays due, to be done
        again at once with the new texts. `check(conn)` runs first in the same transaction
        (the vector index's model check: a process left on the old model after a reembed
        must not store its vectors).
        """
        with self.db.transaction() as conn:
            check(conn)
            # No writer of these workspaces may change a text between the check below and
            # the save (PostgreSQL: their turn locks, as MemoryStore's writers take them).
            scopes = conn.execute(
                "SELECT DISTINCT owner, workspace FROM memories"
                f" WHERE {conn.dialect.in_list('rowid')} ORDER BY owner, workspace",
                (conn.dialect.list_param([job.rowid for job in jobs]),),
            ).fetchall()
            for owner, workspace in scopes:
                self.db.serialize(conn, f"memories:{owner}/{workspace}")
            for job, vector in zip(jobs, vectors, strict=True):
                if _job(conn, job.rowid) != job:
                    conn.execute(
                        "UPDATE context_pending SET lease_until = 0 WHERE memory_rowid = ?",
                        (job.rowid,),
                    )
                    continue
                conn.execute("DELETE FROM context_pending WHERE memory_rowid = ?", (job.rowid,))
                if vector is not None:
                    conn.execute(
                        "INSERT INTO context_vectors (memory_rowid, source_rowid, embedding)"
                        " VALUES (?, ?, ?) ON CONFLICT (memory_rowid) DO UPDATE"
                        " SET source_rowid = excluded.source_rowid, embedding = excluded.embedding",
                        (job.rowid, job.source_rowid, np.asarray(vector, np.float32).tobytes()),
                    )

    def release(self, jobs: list[ContextJob]) -> None:
        """Give claimed jobs back, due at once (the model was busy after all)."""
        with self.db.transaction() as conn:
            conn.executemany(
                "UPDATE context_pending SET lease_until = 0 WHERE memory_rowid = ?",
                [(job.rowid,) for job in jobs],
            )

    @staticmethod
    def vectors(conn: Connection, rowids: list[int], dimension: int) -> dict[int, np.ndarray]:
        """The context vectors these memories have (those without one are left out)."""
        rows = conn.execute(
            "SELECT memory_rowid, embedding FROM context_vectors"
            f" WHERE {conn.dialect.in_list('memory_rowid')}",
            (conn.dialect.list_param(rowids),),
        ).fetchall()
        return {
            rowid: np.frombuffer(blob, dtype=np.float32)
            for rowid, blob in rows
            if len(blob) == 4 * dimension
        }

    @staticmethod
    def reset(conn: Connection) -> None:
        """Drop every context vector and make every conversation due (reembed: a new model)."""
        conn.execute("DELETE FROM context_vectors")
        in_a_thread = " OR ".join(conn.dialect.names_thread(key) for key in THREAD_KEYS)
        conn.execute(
            "INSERT INTO context_pending (memory_rowid, lease_until)"
            f" SELECT rowid, 0 FROM memories WHERE {in_a_thread} ON CONFLICT DO NOTHING"
        )

    def pending(self) -> int:
        """How many memories wait for their context vector."""
        return self.db.connection().execute("SELECT count(*) FROM context_pending").fetchone()[0]


def _job(conn: Connection, rowid: int) -> ContextJob | None:
    """The job as the database stands: None when the memory is gone."""
    row = conn.execute(
        "SELECT owner, workspace, text, chunk_count, metadata FROM memories WHERE rowid = ?",
        (rowid,),
    ).fetchone()
    if row is None:
        return None
    owner, workspace, text, chunks, metadata = row
    thread = thread_of(json.loads(metadata))
    # Only short memories read together: a long one's chunks have context of their own.
    if chunks != 1 or thread is None:
        return ContextJob(rowid, text, None, None)
    # An expired memory (hidden, not yet purged) is no longer there to be read with.
    for before, before_text, before_chunks, before_metadata in conn.execute(
        "SELECT rowid, text, chunk_count, metadata FROM memories"
        f" WHERE owner = ? AND workspace = ? AND rowid < ? AND {live()}"
        " ORDER BY rowid DESC LIMIT ?",
        (owner, workspace, rowid, utc_now(), LOOKBACK),
    ):
        if thread_of(json.loads(before_metadata)) == thread:
            if before_chunks != 1:
                break
            return ContextJob(rowid, text, before, before_text)
    return ContextJob(rowid, text, None, None)


def thread_of(metadata: dict) -> tuple[str, str | int | float] | None:
    """The conversation a memory belongs to, by the first THREAD_KEYS key its metadata has."""
    for key in THREAD_KEYS:
        value = metadata.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return key, value
    return None
