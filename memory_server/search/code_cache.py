"""Each scope's sign codes held in memory for the first pass, brought up to date block by block.

Reading a scope's codes out of SQLite costs more than ranking them (~48 MB of blobs per
search at 1M chunks). A process keeps the scopes it searched as numpy arrays, the codes
stored word by word so a scan XORs whole rows, and checks on every search, inside the
search's own snapshot, the scope's token in `vector_versions` (changed by every write to its
vectors, by any thread, process or host). When it changed, only the sqlite-vec blocks whose
own token (`vector_blocks`) changed are read again. No Flask here.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from memory_server.storage.database import Connection

# Scopes kept per process, least recently searched dropped first: ~57 bytes per chunk with
# 384 dimensions, so this holds ~4.7M chunks' codes.
MAX_CACHED_BYTES = 256 * 1024 * 1024
# Tokens are random, never counters: a token read inside a transaction that then rolled back
# can never come back and make a copy taken in it look current.
BUMP_SQL = (
    "INSERT INTO vector_versions (scope, version) VALUES (?, random())"
    " ON CONFLICT (scope) DO UPDATE SET version = random()"
)
# The row of this (impossible) scope changes when every code is rewritten (reembed): copies
# are then read afresh instead of block by block.
GENERATION = ""
SCAN_STEP = 65_536  # slots a first pass scans at a time
SAMPLE_STRIDE = 16  # one distance in this many guesses the first pass's cut
Token = tuple[int, int]  # (generation, scope version); 0 where no row exists yet

_VERSIONS_SQL = (
    "SELECT c.chunk_id, coalesce(v.version, 0) FROM {codes}_chunks c"
    " LEFT JOIN vector_blocks v ON v.block = c.chunk_id"
    " WHERE c.partition00 = ? ORDER BY c.chunk_id"
)
_BLOCKS_SQL = (
    "SELECT c.chunk_id, c.validity, c.rowids, v.vectors FROM {codes}_chunks c"
    " JOIN {codes}_vector_chunks00 v ON v.rowid = c.chunk_id"
    " WHERE c.chunk_id IN (SELECT value FROM json_each(?))"
)


def bump_blocks(conn: Connection, codes_table: str, ids: Sequence[int]) -> None:
    """New tokens for the sqlite-vec blocks that hold these ids' codes.

    A block's validity bitmap is no witness: sqlite-vec reuses a freed slot of its latest
    block, so a deleted code and the one written next can share a slot, bitmap unchanged.
    """
    conn.execute(
        "INSERT INTO vector_blocks (block, version)"
        f" SELECT DISTINCT chunk_id, random() FROM {codes_table}_rowids"
        " WHERE rowid IN (SELECT value FROM json_each(?)) AND true"
        " ON CONFLICT (block) DO UPDATE SET version = random()",
        (json.dumps([int(i) for i in ids]),),
    )


def bump_generation(conn: Connection) -> None:
    """Make every process read every scope's codes afresh (all of them were rewritten)."""
    conn.execute(BUMP_SQL, (GENERATION,))


def token(conn: Connection, partition: str) -> Token:
    """The scope's current token, read in the caller's transaction."""
    rows = dict(
        conn.execute(
            "SELECT scope, version FROM vector_versions WHERE scope IN (?, ?)",
            (GENERATION, partition),
        ).fetchall()
    )
    return rows.get(GENERATION, 0), rows.get(partition, 0)


class ScopeCodes:
    """One scope's codes at one token: `words[j, slot]` is word j of the code in that slot.

    Each sqlite-vec block keeps its slots; `valid` marks the slots holding a code.
    """

    def __init__(
        self,
        version: Token,
        ids: np.ndarray,
        valid: np.ndarray,
        words: np.ndarray,
        blocks: dict[int, tuple[int, int, int]],
    ) -> None:
        self.version = version
        self.ids, self.valid, self.words = ids, valid, words
        self.blocks = blocks  # block id -> (its first slot, its slots, its version read)
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None
        self.invalid = np.flatnonzero(~valid)  # free and deleted slots: usually few
        self.count = len(valid) - len(self.invalid)

    @property
    def nbytes(self) -> int:
        """Memory the copy takes."""
        return self.ids.nbytes + self.valid.nbytes + self.words.nbytes

    def nearest(self, query_words: np.ndarray, size: int, keep: np.ndarray | None) -> np.ndarray:
        """The ids of `size` codes at the smallest Hamming distance from the query's code.

        Only valid slots count, and of those only the ones set in `keep` (a filter's
        `among`) when it is given.
        """
        far = len(query_words) * query_words.itemsize * 8 + 1  # farther than any code
        distances = self._distances(query_words)
        if keep is None:
            distances[self.invalid] = far
        else:
            distances[~keep] = far
        return self.ids[_closest(distances, size)]

    def _distances(self, query_words: np.ndarray) -> np.ndarray:
        """Hamming distance from the query's code to each slot's."""
        distances = np.zeros(len(self.ids), dtype=np.uint16)
        # A stretch of slots at a time, into buffers reused across stretches: temporaries
        # that stay in the CPU's cache instead of 8 MB ones per word at 1M (a third faster).
        xored = np.empty(min(SCAN_STEP, len(self.ids)), dtype=self.words.dtype)
        ones = np.empty(len(xored), dtype=np.uint8)
        for start in range(0, len(self.ids), SCAN_STEP):
            total = distances[start : start + SCAN_STEP]
            x, c = xored[: len(total)], ones[: len(total)]
            for row, word in zip(
                self.words[:, start : start + SCAN_STEP], query_words, strict=True
            ):
                np.add(total, np.bitwise_count(np.bitwise_xor(row, word, out=x), out=c), out=total)
        return distances

    def among(self, candidates: Sequence[int]) -> np.ndarray:
        """A mask of the valid slots whose id is one of the candidates."""
        if self._sorted is None:  # made once per copy, when a filtered search needs it
            slots = np.flatnonzero(self.valid)
            order = np.argsort(self.ids[slots], kind="stable")
            self._sorted = (self.ids[slots][order], slots[order])
        ids, slots = self._sorted
        wanted = np.asarray(candidates, dtype=np.int64)
        mask = np.zeros(len(self.ids), dtype=bool)
        if len(ids) and len(wanted):
            at = np.searchsorted(ids, wanted).clip(max=len(ids) - 1)
            mask[slots[at[ids[at] == wanted]]] = True
        return mask


def _closest(distances: np.ndarray, size: int) -> np.ndarray:
    """The slots of the `size` smallest distances (small integers): cut at their histogram.

    The histogram of every SAMPLE_STRIDE-th distance gives a cut that keeps about twice
    `size`; the exact cut is taken among those. Twice as fast as an argpartition at 1M.
    """
    sample = np.cumsum(np.bincount(distances[::SAMPLE_STRIDE]))
    guess = int(np.searchsorted(sample, 2 * size / SAMPLE_STRIDE + 8))
    near = np.flatnonzero(distances <= guess)
    if len(near) < size:  # an unlucky sample: take the cut over every slot
        near = np.arange(len(distances))
    found = distances[near]
    cut = int(np.searchsorted(np.cumsum(np.bincount(found)), size))  # the size-th's distance
    closer = near[found < cut]
    return np.concatenate([closer, near[found == cut][: size - len(closer)]])


def refresh(
    conn: Connection,
    codes_table: str,
    partition: str,
    held: ScopeCodes | None,
    now: Token,
    word: type,
    width: int,
) -> ScopeCodes:
    """The scope's codes at token `now`: `held` with its changed blocks read again.

    Each code is `width` words of type `word`.
    """
    if held is not None and held.version[0] != now[0]:
        held = None  # every code was rewritten
    if held is not None and len(held.invalid) > max(held.count, 65_536):
        held = None  # mostly free slots (a workspace emptied and refilled): start afresh
    blocks = conn.execute(_VERSIONS_SQL.format(codes=codes_table), (partition,)).fetchall()
    known = {} if held is None else held.blocks
    versions = dict(blocks)
    stale = [block for block, version in blocks if known.get(block, (0, 0, None))[2] != version]
    rows = conn.execute(_BLOCKS_SQL.format(codes=codes_table), (json.dumps(stale),)).fetchall()
    fresh = sorted((row for row in rows if row[0] not in known), key=lambda row: row[0])
    # Slots: the held ones, then each new block's, in block order.
    size = 0 if held is None else len(held.ids)
    added = sum(len(row[2]) // 8 for row in fresh)
    ids = np.zeros(size + added, dtype=np.int64)
    valid = np.zeros(size + added, dtype=bool)
    words = np.zeros((width, size + added), dtype=word)
    slots = dict(known)
    if held is not None:
        ids[:size], valid[:size], words[:, :size] = held.ids, held.valid, held.words
        for block in set(known) - {block for block, _ in blocks}:  # a block that is gone
            first, count, _ = slots.pop(block)
            valid[first : first + count] = False
    for row in fresh:
        slots[row[0]] = (size, len(row[2]) // 8, 0)
        size += len(row[2]) // 8
    for block, validity, rowids, vectors in rows:
        first, count, _ = slots[block]
        ids[first : first + count] = np.frombuffer(rowids, dtype=np.int64)
        valid[first : first + count] = np.unpackbits(
            np.frombuffer(validity, dtype=np.uint8), bitorder="little"
        )[:count].astype(bool)
        words[:, first : first + count] = np.frombuffer(vectors, dtype=word).reshape(count, -1).T
        slots[block] = (first, count, versions[block])
    return ScopeCodes(now, ids, valid, words, slots)


class CodeCache:
    """The scopes' codes this process searched lately, up to MAX_CACHED_BYTES."""

    def __init__(self, max_bytes: int = MAX_CACHED_BYTES) -> None:
        self.max_bytes = max_bytes
        self._scopes: OrderedDict[str, ScopeCodes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, partition: str) -> ScopeCodes | None:
        """The copy held of the scope's codes, at whatever token it was taken."""
        with self._lock:
            held = self._scopes.get(partition)
            if held is not None:
                self._scopes.move_to_end(partition)
            return held

    def put(self, partition: str, codes: ScopeCodes) -> None:
        """Keep a scope's codes, dropping the least recently searched ones beyond the cap."""
        with self._lock:
            self._scopes[partition] = codes
            self._scopes.move_to_end(partition)
            while len(self._scopes) > 1 and self.held_bytes() > self.max_bytes:
                self._scopes.popitem(last=False)

    def held_bytes(self) -> int:
        """Memory the copies take."""
        return sum(codes.nbytes for codes in self._scopes.values())
