"""The bundled all-MiniLM-L6-v2, for real."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from memory_server.embedding.model import Embedder, ModelLoadError, get_embedder
from memory_server.memory_service import MemoryService, StartupError
from memory_server.settings import BUNDLED_MODEL
from memory_server.storage.database import Database
from memory_server.storage.memory_store import MemoryStore


def test_bundled_model_on_onnx_is_the_default_and_shared_per_process(embedder):
    assert embedder.name == BUNDLED_MODEL and embedder.backend == "onnx"
    assert embedder.identity == BUNDLED_MODEL
    assert get_embedder("all-MiniLM-L6-v2") is embedder
    assert embedder.ready and embedder.dimension == 384 and embedder.max_tokens == 256


def test_embed_batches_unit_vectors_and_counts_tokens(embedder):
    result = embedder.embed(["hello world", "a much longer sentence about something else"])
    assert result.vectors.shape == (2, 384) and result.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)
    assert result.token_counts == [4, 9]  # [CLS] hello world [SEP]; ... with specials


def test_batched_and_single_vectors_agree(embedder):
    batch = embedder.embed(["first text", "second text"]).vectors
    single = embedder.embed(["second text"]).vectors[0]
    assert float(batch[1] @ single) > 0.9999


def test_a_query_embeds_as_a_one_text_batch(embedder):
    query = embedder.embed_query("when is the dentist")
    assert query.shape == (384,) and query.dtype == np.float32
    assert np.array_equal(query, embedder.embed(["when is the dentist"]).vectors[0])


def test_an_unknown_model_fails_clearly_without_network():
    broken = Embedder("no-such-org/no-such-model")
    with pytest.raises(ModelLoadError, match="no-such-org/no-such-model"):
        broken.load()
    assert not broken.ready and "no-such-model" in broken.error


@pytest.mark.slow
def test_importing_the_app_does_not_import_torch():
    code = "import memory_server, sys; memory_server.create_app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


TEXTS = ["Meeting notes from Q4 planning", "I adopted a golden retriever puppy", "tax day"]


@pytest.fixture(scope="module")
def torch_embedder():
    model = Embedder(BUNDLED_MODEL, backend="torch")
    model.load()
    return model


@pytest.mark.slow
def test_onnx_and_torch_give_the_same_vectors(embedder, torch_embedder):
    onnx = embedder.embed(TEXTS).vectors
    torch = torch_embedder.embed(TEXTS).vectors
    assert np.all(np.sum(onnx * torch, axis=1) > 0.9999)
    assert torch_embedder.identity == embedder.identity  # the database may switch between them


@pytest.mark.slow
def test_int8_is_close_but_recorded_as_another_model(tmp_path, embedder):
    int8 = Embedder(BUNDLED_MODEL, backend="onnx-int8", cache_dir=tmp_path)
    quantized = int8.embed(TEXTS).vectors
    assert np.all(np.sum(quantized * embedder.embed(TEXTS).vectors, axis=1) > 0.97)
    assert int8.identity == BUNDLED_MODEL + "#int8"
    assert [p.name for p in tmp_path.rglob("*int8*.onnx")] == [
        Path(int8._loaded()[0].auto_model.path).name
    ]  # the quantized file is the one loaded


@pytest.mark.slow
def test_two_workers_exporting_at_once_both_get_a_whole_model(tmp_path):
    results, errors = [], []

    def start():
        try:
            results.append(Embedder(BUNDLED_MODEL, cache_dir=tmp_path).embed(["x"]).vectors)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{BUNDLED_MODEL.replace('/', '_')}-onnx"]
    assert np.allclose(results[0], results[1])


@pytest.mark.slow
def test_two_worker_processes_exporting_at_once_both_get_a_whole_model(tmp_path):
    """Two processes (as two gunicorn workers) start on an empty cache at the same moment."""
    code = (
        "import sys; from memory_server.embedding.model import Embedder; "
        f"print(Embedder({BUNDLED_MODEL!r}, cache_dir=sys.argv[1]).embed(['x']).vectors[0][:3])"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]
    assert outputs[0] == outputs[1] and outputs[0].strip()
    assert [p.name for p in tmp_path.iterdir()] == [f"{BUNDLED_MODEL.replace('/', '_')}-onnx"]


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        Embedder(BUNDLED_MODEL, backend="tensorrt")


@pytest.mark.slow
def test_a_database_of_fp32_vectors_refuses_int8(tmp_path, embedder):
    db = Database(tmp_path / "fp32.db")
    db.migrate()
    MemoryStore(db).bind_embedding_model(embedder.identity, 384)
    int8 = Embedder(BUNDLED_MODEL, backend="onnx-int8", cache_dir=tmp_path / "cache")
    with pytest.raises(StartupError, match="MEMORY_API_EMBEDDING_BACKEND=onnx or torch"):
        MemoryService(MemoryStore(db), int8).prepare()
    # torch reads the same vectors: allowed.
    MemoryService(MemoryStore(db), Embedder(BUNDLED_MODEL, backend="torch")).prepare()


def test_chunk_spans_locate_exactly_the_chunks_that_are_embedded(embedder):
    from memory_server.embedding.chunking import chunk_spans, split_text

    tokenizer = embedder._loaded().tokenizer
    text = "\n\n".join(
        f"Section {i}. " + " ".join(f"Sentence {j} of section {i} says little." for j in range(9))
        for i in range(12)
    )
    spans = chunk_spans(text, tokenizer)
    assert len(spans) > 5
    assert [text[s:e] for s, e in spans] == split_text(text, tokenizer)
    assert spans == sorted(spans) and all(0 <= s < e <= len(text) for s, e in spans)
    assert chunk_spans("A short memory.", tokenizer) == [(0, 15)]


def test_a_short_texts_count_from_splitting_is_the_models_own(embedder):
    from memory_server.embedding.chunking import WHOLE_TEXT_TOKENS, split_counted, split_text

    model = embedder._loaded()
    texts = ["", "hi", "Carol is allergic to peanuts.", "日本語のテキスト " * 30, "x" * 3000]
    texts += [
        "word " * n for n in (WHOLE_TEXT_TOKENS - 1, WHOLE_TEXT_TOKENS, WHOLE_TEXT_TOKENS + 1)
    ]
    for text in texts:
        chunks, count = split_counted(text, model.tokenizer)
        assert chunks == split_text(text, model.tokenizer)
        if len(chunks) == 1:
            assert [count] == Embedder._count(model, chunks), text[:30]
        else:
            assert count is None
    # What a create bills: the same counts whether the texts were counted once or twice.
    assert embedder.embed_documents(["hi there"])[0].token_counts == [4]
    assert embedder.embed_documents(["hi there", "word " * 300])[0].token_counts == [4]
