"""The bundled all-MiniLM-L6-v2, for real."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from embeddings import Embedder, ModelLoadError, get_embedder
from settings import BUNDLED_MODEL


def test_bundled_model_is_the_default_and_shared_per_process(embedder):
    assert embedder.name == BUNDLED_MODEL
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


def test_an_unknown_model_fails_clearly_without_network():
    broken = Embedder("no-such-org/no-such-model")
    with pytest.raises(ModelLoadError, match="no-such-org/no-such-model"):
        broken.load()
    assert not broken.ready and "no-such-model" in broken.error


def test_importing_the_app_does_not_import_torch():
    code = "import app, sys; app.create_app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
