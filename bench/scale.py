"""One workspace of 1,000,000 memories: search per mode, recall against exact search, memory.

The memories are the corpus's 100k texts with their real vectors, then 900k more: each a
corpus text marked as a variant, with a vector between two real ones plus a little noise
(normalized), so they cluster as real vectors do. They are loaded the way a user moves a
large store in: an export file (JSON lines with vectors) through `memory-server import`.
The database is built once per model and format and kept under data/bench/, with the
seconds its import took; later runs start a server on it and only search.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import requests
from timing import percentiles, timed

COUNT = 1_000_000
REAL = 100_000
WORKSPACE = "scale"
FORMAT = 1  # change when the generated memories change: the cached database is rebuilt
BLOCK = 10_000
MODES = ("semantic", "keyword", "hybrid")


def vectors(real: np.ndarray, first: int, last: int) -> np.ndarray:
    """Memories first..last-1's vectors: the real ones, then generated ones, as stored."""
    out = []
    for block in range(first // BLOCK, (last - 1) // BLOCK + 1):
        index = np.arange(block * BLOCK, (block + 1) * BLOCK)
        rng = np.random.default_rng((FORMAT, block))
        base = real[index % REAL].astype(np.float64)
        mixed = (
            base + 0.5 * real[rng.integers(0, REAL, BLOCK)] + 0.03 * rng.standard_normal(base.shape)
        )
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        chosen = np.where((index < REAL)[:, None], base, mixed)
        # What the export file holds (6 decimals) and the server stores (float32).
        out.append(np.round(chosen, 6)[max(first - block * BLOCK, 0) : last - block * BLOCK])
    return np.concatenate(out).astype(np.float32)


def export_lines(real: np.ndarray, texts: list[str], model: str) -> Iterator[str]:
    """The export file's lines (`memory-server export --with-embeddings` format)."""
    for first in range(0, COUNT, BLOCK):
        rows = vectors(real, first, first + BLOCK).astype(np.float64).round(6).tolist()
        for offset, vector in enumerate(rows):
            i = first + offset
            text = texts[i % REAL] + ("" if i < REAL else f" (variant {i // REAL})")
            yield json.dumps({
                "owner": "default", "workspace": WORKSPACE, "id": f"m{i}", "text": text,
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                "embedding_model": model, "embeddings": [vector],
            }) + "\n"  # fmt: skip


def build(db: Path, real: np.ndarray, texts: list[str], model: str, env: dict) -> float:
    """Write the database through `memory-server import`; the import's seconds."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", dir=db.parent) as lines:
        print(f"  writing {COUNT:,} export lines", flush=True)
        lines.writelines(export_lines(real, texts, model))
        lines.flush()
        print("  memory-server import", flush=True)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "memory_server", "import", lines.name],
            env={**env, "MEMORY_API_DB": str(db)},
            check=True,
        )
        return time.perf_counter() - started


def key(db: Path, env: dict) -> str:
    """A fresh enterprise key for this run (the cached database's first key is long gone)."""
    made = subprocess.run(
        [sys.executable, "-m", "memory_server", "keys", "create", "--tier", "enterprise",
         "--name", "bench-scale"],
        env={**env, "MEMORY_API_DB": str(db)}, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return made.stdout.split()[-1]


def measure(
    cache: Path,
    real: np.ndarray,
    texts: list[str],
    questions: list[str],
    query_vectors: np.ndarray,
    model: str,
    env: dict[str, str],
    start_server: Callable[[Path], Any],
    rss_mb: Callable[[Any], float],
    put: Callable[[str, float], None],
    floor: Callable[[], float],
) -> None:
    """Search at 1M per mode over HTTP, recall@10 against exact, worker RSS, bytes per memory.

    `env` is the environment of the import and key commands (the server's backend);
    `start_server(db)` gives a started server on that file, `rss_mb(server)` its workers' RSS;
    `floor()` times the bare model on one query again now, to tell how fast the machine is
    at this point of the run compared with its start.
    """
    cache.mkdir(parents=True, exist_ok=True)
    db, facts = cache / f"scale-{COUNT}-v{FORMAT}.db", cache / f"scale-{COUNT}-v{FORMAT}.json"
    if not facts.exists():
        print(f"building the {COUNT:,}-memory workspace (once; kept in {cache})", flush=True)
        for stale in cache.glob(f"scale-{COUNT}-*"):
            stale.unlink()
        seconds = build(db, real, texts, model, env)
        facts.write_text(json.dumps({"import_seconds": seconds}))
    put("scale.import_per_s", COUNT / json.loads(facts.read_text())["import_seconds"])
    secret = key(db, env)
    with start_server(db) as server:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {secret}", "X-Workspace-ID": WORKSPACE})

        def search(question: str, mode: str) -> list[str]:
            body = {"query": question, "mode": mode, "limit": 10}
            answer = session.post(f"{server.url}/api/v1/memory/search", json=body, timeout=60)
            answer.raise_for_status()
            return [hit["id"] for hit in answer.json()["results"]]

        print(f"search at {COUNT:,} memories", flush=True)
        put("scale.floor.encode_query.p50", floor())
        for mode in MODES:
            for question in questions[:3]:  # warm-up: the first search reads the codes
                search(question, mode)
            stats = percentiles(timed(lambda q=q, m=mode: search(q, m) for q in questions))
            put(f"scale.search.{mode}.p50", stats["p50"])
            put(f"scale.search.{mode}.p95", stats["p95"])
        put("scale.recall_at_10", _recall(real, questions, query_vectors, search))
        put("scale.worker_rss_mb", rss_mb(server))
    put("scale.bytes_per_memory", _size_after_checkpoint(db) / COUNT)


def _recall(
    real: np.ndarray,
    questions: list[str],
    query_vectors: np.ndarray,
    search: Callable[[str, str], list[str]],
) -> float:
    """Share of numpy's exact top 10 (over the stored vectors) that semantic search returns."""
    scores = np.full((len(questions), COUNT), -2.0, dtype=np.float32)
    for first in range(0, COUNT, 100_000):
        stored = vectors(real, first, first + 100_000)
        stored /= np.linalg.norm(stored, axis=1, keepdims=True)  # cosine, as the server scores
        scores[:, first : first + 100_000] = query_vectors @ stored.T
    exact = np.argsort(-scores, axis=1)[:, :10]
    hits = sum(
        len({f"m{i}" for i in top} & set(search(question, "semantic")))
        for question, top in zip(questions, exact, strict=True)
    )
    return hits / (10 * len(questions))


def _size_after_checkpoint(db: Path) -> int:
    from memory_server.storage.database import Database

    conn = Database(db).open_connection()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db.stat().st_size
