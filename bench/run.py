"""`make bench`: the real server over HTTP, the machine's floors and two peers, in one run.

Starts gunicorn on a temp database exactly as `make run` does, drives it with HTTP requests
(single operations, 1/4/16 concurrent clients: bench/concurrency.py; retrieval quality per
mode on the project's conversational and paraphrase sets: bench/quality.py), measures the
floors (the bare model, numpy's exact top-10) and the peers (bench/peers.py in the bench
venv) in the same run, prints one table and writes bench/results.md.

The corpus's vectors are encoded once per model and backend and cached under data/bench/;
the 1k and 100k workspaces are loaded through the batch API with those vectors as
client-supplied embeddings, the 10k one by the server embedding the texts (the batch ingest
figure).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
# The tests' GunicornServer starts the server as `make run` does (memory_server is installed;
# this script's own folder is on the path already, being where it runs from).
sys.path.insert(0, str(ROOT / "tests"))

import bench_report  # noqa: E402
import concurrency  # noqa: E402
import corpus  # noqa: E402
import quality  # noqa: E402
import scale  # noqa: E402
from timing import percentiles, timed  # noqa: E402

from memory_server.embedding.model import Embedder, get_embedder  # noqa: E402
from memory_server.settings import BUNDLED_MODEL  # noqa: E402
from memory_server.storage.database import Database  # noqa: E402
from memory_server.storage.open_database import open_database  # noqa: E402
from postgres_server import PostgresForTests  # noqa: E402
from server import GunicornServer  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
MODES = ("semantic", "keyword", "hybrid")
BATCH = 100
KEY_PREFIX = "msk_"


@dataclass
class Results:
    """Every figure of the run, by name; rendered into the table and bench/results.md."""

    figures: dict[str, float] = field(default_factory=dict)

    def put(self, name: str, value: float) -> None:
        """Record a figure and show it as the run goes."""
        self.figures[name] = value
        print(f"  {name}: {value:,.2f}", flush=True)

    def prefixed(self, prefix: str) -> Results:
        """A view that records every figure under `prefix` (the PostgreSQL run's `pg.`)."""
        view = Results(self.figures)
        view.put = lambda name, value: self.put(prefix + name, value)  # type: ignore[method-assign]
        return view


def corpus_vectors(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """The corpus's vectors from this model and backend: encoded once, then read from a cache."""
    cache = ROOT / "data" / "bench" / f"{embedder.identity.replace('/', '_')}-{embedder.backend}"
    path = cache / f"corpus-{len(texts)}.npy"
    if path.exists():
        return np.load(path)
    print(f"encoding the {len(texts):,}-text corpus once (cached in {path})...", flush=True)
    parts, start = [], time.perf_counter()
    for first in range(0, len(texts), 2000):
        parts.append(embedder.embed(texts[first : first + 2000]).vectors)
        done = first + len(parts[-1])
        rate = done / (time.perf_counter() - start)
        print(f"  {done:,}/{len(texts):,} ({rate:.0f}/s)", flush=True)
    vectors = np.concatenate(parts)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path.with_suffix(".tmp.npy"), vectors)
    os.replace(path.with_suffix(".tmp.npy"), path)
    return vectors


def measure_floors(
    embedder: Embedder, texts: list[str], vectors: np.ndarray, queries: np.ndarray, out: Results
) -> None:
    """The bare model on one text and on batches, and numpy's exact top-10 at each size.

    Encoding time grows with the text, so a create is compared with memory texts and a search
    with questions, as the server gets them.
    """
    print("floors", flush=True)
    embedder.embed(texts[:10])
    out.put("floor.encode_memory.p50", encode_floor(embedder, texts[-300:]))
    out.put("floor.encode_query.p50", query_floor(embedder))
    sample = texts[-2000:]
    start = time.perf_counter()
    for first in range(0, len(sample), BATCH):
        embedder.embed(sample[first : first + BATCH])
    out.put("floor.batch_encode_per_s", len(sample) / (time.perf_counter() - start))
    for size in SIZES:
        matrix = np.ascontiguousarray(vectors[:size])
        times = timed(lambda q=q, m=matrix: np.argpartition(-(m @ q), 10)[:10] for q in queries)
        out.put(f"floor.numpy_top10.{size}.p50", percentiles(times)["p50"])


def encode_floor(embedder: Embedder, singles: list[str]) -> float:
    """p50 ms of the bare model encoding these texts one at a time."""
    return percentiles(timed(lambda t=t: embedder.embed_query(t) for t in singles))["p50"]


def query_floor(embedder: Embedder) -> float:
    """p50 ms of the bare model on one question (the same 300 at every call)."""
    return encode_floor(embedder, corpus.questions(300, seed=3))


class Client:
    """The benchmark's HTTP client: one keep-alive session, as an application would hold."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, body: object = None, workspace: str = "") -> dict:
        """One request; any status >= 300 stops the benchmark with the server's answer."""
        headers = {"X-Workspace-ID": workspace} if workspace else {}
        response = self.session.request(
            method, self.url + path, json=body, headers=headers, timeout=60
        )
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()


def load_workspace(
    client: Client, workspace: str, texts: list[str], vectors: np.ndarray | None
) -> float:
    """Store the texts (with their vectors, if given) through the batch API; seconds taken."""
    start = time.perf_counter()
    for first in range(0, len(texts), BATCH):
        items = [
            {"id": f"m{i}", "text": texts[i]}
            | ({} if vectors is None else {"embedding": vectors[i].tolist()})
            for i in range(first, min(first + BATCH, len(texts)))
        ]
        stored = client.call("POST", "/api/v1/memory/batch", {"memories": items}, workspace)
        if stored["failed"]:
            raise RuntimeError(f"batch into {workspace} failed: {stored['results'][:3]}")
    return time.perf_counter() - start


def measure_crud(client: Client, texts: list[str], out: Results) -> None:
    """Single create, get, update and delete over HTTP: p50, p95, p99."""
    print("single writes and reads over HTTP", flush=True)
    half = len(texts) // 2
    created: list[str] = []

    def create(text: str) -> None:
        created.append(client.call("POST", "/api/v1/memory", {"text": text}, "crud")["id"])

    client.call("POST", "/api/v1/memory", {"text": "warm-up"}, "crud")
    steps = {
        "create": timed(lambda t=t: create(t) for t in texts[:half]),
        "get": timed(lambda i=i: client.call("GET", f"/api/v1/memory/{i}", None, "crud")
                     for i in created),
        "update": timed(lambda i=i, t=t: client.call("PUT", f"/api/v1/memory/{i}", {"text": t},
                                                     "crud")
                        for i, t in zip(created, texts[half:], strict=False)),
        "delete": timed(lambda i=i: client.call("DELETE", f"/api/v1/memory/{i}", None, "crud")
                        for i in created),
    }  # fmt: skip
    for step, times in steps.items():
        for name, value in percentiles(times).items():
            out.put(f"http.{step}.{name}", value)


def measure_search(
    client: Client,
    questions: list[str],
    query_vectors: np.ndarray,
    vectors: np.ndarray,
    out: Results,
    sizes: tuple[int, ...] = SIZES,
) -> None:
    """Search p50/p95 per mode and size, and semantic recall@10 against numpy's exact top 10."""
    for size in sizes:
        workspace = f"w{size}"
        print(f"search at {size:,} memories", flush=True)
        for mode in MODES:
            client.call("POST", "/api/v1/memory/search", {"query": "warm-up", "mode": mode},
                        workspace)  # fmt: skip
            times = timed(
                lambda q=q, m=mode, w=workspace: client.call(
                    "POST", "/api/v1/memory/search", {"query": q, "mode": m, "limit": 10}, w
                )
                for q in questions
            )
            stats = percentiles(times)
            out.put(f"search.{mode}.{size}.p50", stats["p50"])
            out.put(f"search.{mode}.{size}.p95", stats["p95"])
        matrix = vectors[:size]
        hits = 0
        for question, vector in zip(questions, query_vectors, strict=True):
            body = {"query": question, "mode": "semantic", "limit": 10}
            found = client.call("POST", "/api/v1/memory/search", body, workspace)["results"]
            exact = {f"m{i}" for i in np.argsort(-(matrix @ vector))[:10]}
            hits += len(exact & {result["id"] for result in found})
        out.put(f"search.semantic.{size}.recall_at_10", hits / (10 * len(questions)))


def wait_for_contexts(location: str, timeout: float = 900.0) -> None:
    """Wait until the server has computed every context vector due (its background work)."""
    db = open_database(location)
    deadline = time.monotonic() + timeout
    try:
        conn = db.connection()
        while conn.execute("SELECT count(*) FROM context_pending").fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"context vectors still due after {timeout:.0f} s")
            time.sleep(0.5)
    finally:
        db.close()


def measure_server(
    server: GunicornServer,
    location: str,
    spare: list[str],
    concurrent_texts: list[str],
    questions: list[str],
    args: argparse.Namespace,
    out: Results,
) -> Client:
    """What both backends are measured on: single operations, concurrent clients, quality."""
    key = next(w for w in server.log().split() if w.startswith(KEY_PREFIX))
    client = Client(server.url, key)
    measure_crud(client, spare, out)
    print("concurrent clients", flush=True)
    concurrency.measure(server.url, key, concurrent_texts, questions, args.concurrent,
                        out.put)  # fmt: skip
    print("retrieval quality per mode", flush=True)
    quality.measure(client.call, out.put, lambda: wait_for_contexts(location))
    return client


def measure_postgres(
    stored: list[str],
    vectors: np.ndarray,
    spare: list[str],
    concurrent_texts: list[str],
    questions: list[str],
    query_vectors: np.ndarray,
    args: argparse.Namespace,
    out: Results,
) -> None:
    """The same server on PostgreSQL + pgvector (the tests' pgserver, on a Unix socket).

    Single operations, concurrent clients and quality as on SQLite; then the 100k workspace,
    loaded through the batch API with the corpus's vectors, and searched in every mode.
    """
    pg_out = out.prefixed("pg.")
    postgres = PostgresForTests()
    try:
        url = postgres.new_database()
        with tempfile.TemporaryDirectory(prefix="memory-bench-pg-") as tmp:
            server = GunicornServer(None, Path(tmp) / "gunicorn.log", MEMORY_API_DB=url,
                                    MEMORY_API_EMBEDDING_BACKEND=args.backend,
                                    MEMORY_API_WORKERS="1")  # fmt: skip
            with server:
                print("PostgreSQL: the same server on PostgreSQL + pgvector", flush=True)
                client = measure_server(
                    server, url, spare, concurrent_texts, questions, args, pg_out
                )
                print("PostgreSQL: loading 100k memories with their vectors", flush=True)
                seconds = load_workspace(client, "w100000", stored, vectors)
                pg_out.put("http.batch_load_vectors_per_s", len(stored) / seconds)
                measure_search(client, questions, query_vectors, vectors, pg_out,
                               sizes=(len(stored),))  # fmt: skip
        pg_out.put("storage.bytes_per_memory", database_bytes(url) / len(stored))
    finally:
        postgres.stop()


def database_bytes(url: str) -> float:
    """The PostgreSQL database's size on disk (tables, indexes, TOAST)."""
    import psycopg

    with psycopg.connect(url) as conn:
        return float(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def process_rss_mb(pid: int) -> float:
    """Resident memory of one process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's child processes: its workers."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def run_peers(vectors_path: Path, count: int, out: Results) -> None:
    """bench/peers.py in the bench venv; its figures join ours."""
    python = ROOT / ".venv-bench" / "bin" / "python"
    print(f"peers (mem0, chromadb) at {count:,} memories, in-process", flush=True)
    done = subprocess.run(
        [str(python), str(ROOT / "bench" / "peers.py"), "--vectors", str(vectors_path),
         "--count", str(count)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"bench/peers.py failed:\n{done.stderr[-3000:]}")
    for peer, figures in json.loads(done.stdout.strip().splitlines()[-1]).items():
        for step in ("add", "search"):
            for name, value in figures[step].items():
                out.put(f"peer.{peer}.{step}.{name}", value)


def machine() -> list[str]:
    """What this run measured on."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("sentence-transformers", "onnxruntime", "torch", "sqlite-vec", "numpy")
    )
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; memory {memory_kb / 1024**2:.1f} GiB; no GPU",
        f"OS: {platform.platform()}; Python {platform.python_version()}",
        f"Packages: {versions}",
    ]


def main() -> None:
    """Run every measurement, print the table and write bench/results.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("MEMORY_API_EMBEDDING_BACKEND", "onnx"))
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--crud", type=int, default=300, help="single creates (and so on)")
    parser.add_argument(
        "--concurrent",
        type=int,
        default=480,
        help="requests per client count and kind in the concurrency runs",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip mem0 and chromadb")
    parser.add_argument("--no-scale", action="store_true", help="skip the 1M-memory workspace")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL run")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args()
    started = time.perf_counter()
    out = Results()
    texts = corpus.memory_texts(max(SIZES) + 2 * args.crud + 3 * args.concurrent)
    stored, spare = texts[: max(SIZES)], texts[max(SIZES) : max(SIZES) + 2 * args.crud]
    concurrent_texts = texts[max(SIZES) + 2 * args.crud :]
    embedder = get_embedder(BUNDLED_MODEL, args.backend, ROOT / "data" / "models")
    embedder.load()
    vectors = corpus_vectors(embedder, stored)
    questions = corpus.questions(args.queries)
    query_vectors = embedder.embed(questions).vectors
    measure_floors(embedder, stored, vectors, query_vectors, out)

    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        db = Path(tmp) / "memory.db"
        server = GunicornServer(db, Path(tmp) / "gunicorn.log",
                                MEMORY_API_EMBEDDING_BACKEND=args.backend,
                                MEMORY_API_WORKERS="1")  # fmt: skip
        with server:
            master = server.process.pid
            out.put("server.idle_rss_mb.worker", sum(map(process_rss_mb, worker_pids(master))))
            out.put("server.idle_rss_mb.master", process_rss_mb(master))
            client = measure_server(server, str(db), spare, concurrent_texts, questions, args, out)
            print("loading workspaces through the batch API", flush=True)
            seconds = load_workspace(client, "w10000", stored[:10_000], None)
            out.put("http.batch_ingest_per_s", 10_000 / seconds)
            load_workspace(client, "w1000", stored[:1_000], vectors)
            seconds = load_workspace(client, "w100000", stored, vectors)
            out.put("http.batch_load_vectors_per_s", len(stored) / seconds)
            measure_search(client, questions, query_vectors, vectors, out)
            out.put("server.loaded_rss_mb.worker", sum(map(process_rss_mb, worker_pids(master))))
        checkpoint = Database(db).open_connection()
        checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        checkpoint.close()
        out.put("storage.bytes_per_memory", db.stat().st_size / sum(SIZES))
        if not args.no_scale:
            scale.measure(
                ROOT / "data" / "bench" / f"{embedder.identity.replace('/', '_')}-{args.backend}",
                vectors, stored, questions, query_vectors, embedder.identity,
                {**os.environ, "MEMORY_API_EMBEDDING_BACKEND": args.backend},
                # Context vectors off: 1M of them are ~1 hour of background model time, and
                # a search costs about the same with them (measured at 100k above).
                lambda path: GunicornServer(path, Path(tmp) / "scale.log",
                                            MEMORY_API_EMBEDDING_BACKEND=args.backend,
                                            MEMORY_API_WORKERS="1",
                                            MEMORY_API_CONTEXT_VECTORS="off"),
                lambda server: sum(map(process_rss_mb, worker_pids(server.process.pid))),
                out.put,
                lambda: query_floor(embedder),
            )  # fmt: skip
    if not args.no_postgres:
        measure_postgres(
            stored, vectors, spare, concurrent_texts, questions, query_vectors, args, out
        )
    if not args.no_peers:
        vectors_path = Path(tempfile.mkstemp(suffix=".npy")[1])
        np.save(vectors_path, vectors[:10_000])
        try:
            run_peers(vectors_path, 10_000, out)
        finally:
            vectors_path.unlink()
    out.figures["run.minutes"] = (time.perf_counter() - started) / 60
    report = bench_report.report(out.figures, machine(), embedder.identity, args.backend)
    print("\n" + report)
    args.output.write_text(report)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
