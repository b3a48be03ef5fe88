"""Ids of chunk vectors: each memory's chunks numbered from its rowid, so no lookup is needed."""

from __future__ import annotations

# A memory's chunk vectors have ids rowid * CHUNK_SLOTS + position: deleting them needs no
# lookup, and a KNN hit names its memory without a join. The chunker never makes more than
# this many chunks (embedding/chunking.py, MAX_CHUNKS); part of the file format, never to change.
CHUNK_SLOTS = 1024


def chunk_ids(rowid: int, count: int) -> list[int]:
    """The vector ids of a memory's chunks."""
    return [rowid * CHUNK_SLOTS + position for position in range(count)]


def memory_rowid(chunk_id: int) -> int:
    """The memory a chunk vector belongs to."""
    return chunk_id // CHUNK_SLOTS


def chunk_position(chunk_id: int) -> int:
    """Which of its memory's chunks a chunk vector is (0 for the first)."""
    return chunk_id % CHUNK_SLOTS


def chunk_id_range(rowid: int) -> tuple[int, int]:
    """The vector ids a memory may use: from the first, up to (not including) the second."""
    return rowid * CHUNK_SLOTS, (rowid + 1) * CHUNK_SLOTS


def memory_rowid_sql(chunk_id: str = "chunk_id") -> str:
    """`memory_rowid` computed by SQLite from a chunk id column (integer division)."""
    return f"{chunk_id} / {CHUNK_SLOTS}"
