"""Concurrent requests' texts are encoded together, and each gets exactly its own vectors.

The model is the real all-MiniLM-L6-v2. To make a batch happen at a known moment, a test holds
the model's turn itself while requests queue, then lets go: the next pass takes them all.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from helpers import wait_until
from memory_server.embedding.batching import BATCH_CHARS, Batcher
from memory_server.embedding.chunking import split_text
from memory_server.embedding.turns import TURN_TOKENS, FairTurns
from redis_server import two_workers
from server import request

TEXTS = [
    "My sister Anna lives in Porto and works as a nurse.",
    "The spare key is under the blue flowerpot.",
    "Ben plays the cello in a string quartet on Thursdays.",
    "Remind me to renew the passport before August.",
    "The router password is taped under the bookshelf.",
    "We refinanced the house at 3.1 percent fixed.",
    "Leo starts school at Oakwood Elementary in September.",
    "Grandma's apple pie uses cinnamon and a pinch of nutmeg.",
]
QUERIES = ["Where does Anna live?", "What instrument does Ben play?", "when is school starting"]


def alone(embedder, texts: list[str]) -> np.ndarray:
    """Each text encoded in a pass of its own, as before batching."""
    model = embedder._loaded()
    return np.stack([embedder._encode(model, [text])[0] for text in texts])


def queued_behind_a_held_turn(embedder, calls: list) -> list:
    """Run the calls in threads while the test holds the model, then let them go together."""
    results: list = [None] * len(calls)
    queue = embedder.batcher._queue
    before = (embedder.batcher.passes, embedder.batcher.jobs_run)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    with embedder.turns.turn("the test"):
        for thread in threads:
            thread.start()
        wait_until(lambda: len(queue) == len(calls), 30, "every call queued")
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a call never returned"
    passes = embedder.batcher.passes - before[0]
    assert embedder.batcher.jobs_run - before[1] == len(calls)
    return [results, passes]


def test_queued_documents_and_queries_are_one_pass_with_each_ones_own_vectors(embedder):
    calls = [lambda t=t: embedder.embed_document(t, "alice") for t in TEXTS]
    calls += [lambda q=q: embedder.embed_query(q, "bob") for q in QUERIES]
    results, passes = queued_behind_a_held_turn(embedder, calls)
    assert passes == 1
    documents, queries = results[: len(TEXTS)], results[len(TEXTS) :]
    np.testing.assert_allclose(
        np.stack([d.vectors[0] for d in documents]), alone(embedder, TEXTS), atol=1e-5
    )
    np.testing.assert_allclose(np.stack(queries), alone(embedder, QUERIES), atol=1e-5)
    # Token counts are each text's own, as the tokenizer counts it alone.
    model = embedder._loaded()
    for text, document in zip(TEXTS, documents, strict=True):
        assert document.token_counts == embedder._count(model, split_text(text, model.tokenizer))


def test_a_batch_holds_at_most_one_turn_of_text(embedder):
    text = ("words of a note " * 100)[: BATCH_CHARS // 3]  # three fit a pass, not four
    calls = [lambda i=i: embedder.embed_document(f"{i}{text}"[:-1], "alice") for i in range(4)]
    results, passes = queued_behind_a_held_turn(embedder, calls)
    assert passes == 2
    assert all(len(r.vectors) == 1 for r in results)


def test_a_short_text_with_more_tokens_than_a_turn_is_encoded_in_turns(embedder):
    text = "記憶検索" * 1000  # 4,000 characters, over 4,000 tokens
    results, _ = queued_behind_a_held_turn(
        embedder, [lambda: embedder.embed_document(text, "alice")]
    )
    (document,) = results
    assert sum(document.token_counts) > TURN_TOKENS
    chunks = split_text(text, embedder._loaded().tokenizer)
    np.testing.assert_allclose(document.vectors, alone(embedder, chunks), atol=1e-5)


def test_a_lone_request_is_encoded_at_once_in_a_pass_of_its_own(embedder):
    before = embedder.batcher.passes
    vector = embedder.embed_query(QUERIES[0])
    assert embedder.batcher.passes == before + 1
    np.testing.assert_allclose(vector, alone(embedder, QUERIES[:1])[0], atol=1e-5)


def test_many_threads_of_many_owners_each_get_their_own_vectors(embedder):
    texts = [f"{text} (note {i})" for i in range(6) for text in TEXTS]
    expected = alone(embedder, texts)
    found: dict[int, np.ndarray] = {}
    start = threading.Barrier(len(texts))

    def run(i: int) -> None:
        start.wait(timeout=30)
        if i % 2:
            found[i] = embedder.embed_query(texts[i], f"owner{i % 5}")
        else:
            found[i] = embedder.embed_document(texts[i], f"owner{i % 5}").vectors[0]

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a request never returned"
    assert sorted(found) == list(range(len(texts)))
    np.testing.assert_allclose(np.stack([found[i] for i in range(len(texts))]), expected, atol=1e-5)


def test_an_error_in_a_pass_reaches_every_request_in_it():
    turns = FairTurns()

    def fail(jobs):
        raise RuntimeError("model broke")

    batcher = Batcher(turns, fail)
    errors: list[str] = []

    def run() -> None:
        try:
            batcher.submit("alice", ["text"])
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=run, daemon=True) for _ in range(3)]
    with turns.turn("the test"):
        for thread in threads:
            thread.start()
        wait_until(lambda: len(batcher._queue) == 3, 10, "three queued")
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), "a request never heard of the failure"
    assert errors == ["model broke"] * 3
    assert batcher.passes == 1
    # The batcher keeps working after a failed pass, and after one that returned too little.
    batcher.run_batch = lambda jobs: []
    with pytest.raises(RuntimeError, match="0 results for 1 jobs"):
        batcher.submit("bob", ["ok"])
    batcher.run_batch = lambda jobs: [job.texts[0].upper() for job in jobs]
    assert batcher.submit("bob", ["ok"]) == "OK"


@pytest.mark.parametrize("count", [1, 5])
def test_jobs_leave_the_queue_in_the_order_they_came(count):
    turns, seen = FairTurns(), []
    batcher = Batcher(turns, lambda jobs: [seen.append(job.texts[0]) for job in jobs], 1)
    threads = []
    with turns.turn("the test"):
        for i in range(count):
            threads.append(
                threading.Thread(target=batcher.submit, args=("a", [str(i)]), daemon=True)
            )
            threads[-1].start()
            wait_until(lambda i=i: len(batcher._queue) == i + 1, 10, "queued")
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert seen == [str(i) for i in range(count)]


def test_a_pass_takes_one_job_per_owner_in_turn_and_skips_what_does_not_fit():
    turns, passes = FairTurns(), []
    batcher = Batcher(turns, lambda jobs: passes.append([j.texts[0] for j in jobs]) or jobs)
    threads = []
    queued = [("x", "x1" + "." * 498), ("x", "x2" + "." * 498), ("x", "x3" + "." * 498)]
    queued += [("x", "x4" + "." * 18), ("y", "y1")]
    with turns.turn("the test"):
        for owner, text in queued:
            threads.append(
                threading.Thread(target=batcher.submit, args=(owner, [text]), daemon=True)
            )
            threads[-1].start()
            count = len(threads)
            wait_until(lambda n=count: len(batcher._queue) == n, 10, "queued")
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
    # The oldest (x1), then y before x's next; x2 fits, x3 does not, x4 does: one pass.
    assert [[text[:2] for text in one] for one in passes] == [["x1", "y1", "x2", "x4"], ["x3"]]


@pytest.mark.server
def test_concurrent_creates_and_searches_through_gunicorn_each_get_their_own_vectors(
    tmp_path, embedder
):
    # Two workers of 8 threads, 24 clients at once: batches form inside each worker, and
    # every stored vector must be exactly its own text's, every search ranked on its query.
    texts = [f"{text} (client {i})" for i in range(3) for text in TEXTS]
    with two_workers(tmp_path / "memory.db", tmp_path / "gunicorn.log") as server, server:
        key = next(w for w in server.log().split() if w.startswith("msk_"))
        auth = {"Authorization": f"Bearer {key}"}
        start, created, found = threading.Barrier(len(texts)), {}, {}

        def client(i: int) -> None:
            start.wait(timeout=60)
            status, _, body = request(
                "POST", f"{server.url}/api/v1/memory", {"text": texts[i]}, auth
            )
            assert status == 201, body
            created[i] = body["id"]
            status, _, body = request(
                "POST", f"{server.url}/api/v1/memory/search",
                {"query": texts[i], "mode": "semantic", "limit": 1}, auth,
            )  # fmt: skip
            found[i] = (status, [hit["id"] for hit in body.get("results", [])])

        threads = [
            threading.Thread(target=client, args=(i,), daemon=True) for i in range(len(texts))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sorted(created) == list(range(len(texts)))
        stored = []
        for i in range(len(texts)):
            status, _, body = request("GET", f"{server.url}/api/v1/memory/{created[i]}", None, auth)
            assert status == 200
            stored.append(body["embedding"])
    np.testing.assert_allclose(np.array(stored), alone(embedder, texts), atol=1e-5)
    # Each client searched after its own create: its text finds its own memory first.
    assert [found[i] for i in range(len(texts))] == [(200, [created[i]]) for i in range(len(texts))]
