"""Sentence encoders: unit float32 rows, one model per process, an LRU cache, a cached static model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reasoner.embeddings import (
    EmbeddingCache,
    Encoder,
    MiniLMEncoder,
    StaticEncoder,
    build_static_model,
    cache_dir,
    get_encoder,
)
from reasoner.errors import EncoderUnavailableError, UnknownEncoderError

SENTENCES = [
    "turn on the kitchen light",
    "switch the lamp in the kitchen on",
    "what is the capital of france",
    "set a timer for ten minutes",
]


@pytest.fixture(scope="session")
def minilm() -> MiniLMEncoder:
    return get_encoder("minilm")


@pytest.fixture(scope="session")
def static() -> StaticEncoder:
    # distilled once into ~/.cache/hearth (or $HEARTH_CACHE), loaded from there afterwards
    return get_encoder("static")


# -- without a model ----------------------------------------------------------------------------


def test_quiet_loading_hides_progress_bars_and_restores_the_setting():
    from transformers.utils import logging as tlog

    from reasoner.embeddings import quiet_loading

    tlog.enable_progress_bar()
    with quiet_loading():
        assert not tlog.is_progress_bar_enabled()
    assert tlog.is_progress_bar_enabled()


def test_embedding_cache_evicts_the_least_recently_used():
    cache = EmbeddingCache(2)
    cache.put("a", np.ones(3, np.float32))
    cache.put("b", np.zeros(3, np.float32))
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", np.full(3, 2, np.float32))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    assert len(cache) == 2


def test_embedding_cache_of_size_zero_keeps_nothing():
    cache = EmbeddingCache(0)
    cache.put("a", np.ones(3, np.float32))
    assert cache.get("a") is None and len(cache) == 0


def test_unknown_encoder_name_lists_the_available_ones():
    with pytest.raises(UnknownEncoderError) as err:
        get_encoder("word2vec")
    assert "minilm" in str(err.value) and "static" in str(err.value)
    assert isinstance(err.value, KeyError)


def test_cache_dir_follows_hearth_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HEARTH_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("HEARTH_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "hearth"


def test_a_folder_without_a_model_is_refused_with_advice(tmp_path):
    with pytest.raises(EncoderUnavailableError) as err:
        MiniLMEncoder(tmp_path)
    assert "config.json" in str(err.value)


# -- MiniLM -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_minilm_gives_unit_float32_rows(minilm):
    E = minilm.encode(SENTENCES)
    assert isinstance(minilm, Encoder)
    assert E.shape == (4, 384) and minilm.dim == 384
    assert E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_minilm_puts_paraphrases_closer_than_unrelated_sentences(minilm):
    E = minilm.encode(SENTENCES)
    assert E[0] @ E[1] > E[0] @ E[2] + 0.3
    assert E[0] @ E[1] > E[0] @ E[3]


@pytest.mark.slow
def test_minilm_model_is_loaded_once_per_process(minilm):
    other = MiniLMEncoder()
    assert other.model is minilm.model
    assert get_encoder("minilm") is minilm


@pytest.mark.slow
def test_repeated_sentences_come_from_the_cache(minilm):
    enc = MiniLMEncoder(cache_size=16)
    first = enc.encode(["dim the hallway lights", "dim the hallway lights"])
    hits = enc.cache.hits
    again = enc.encode(["dim the hallway lights"])
    assert enc.cache.hits == hits + 1
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[0], first[1])


@pytest.mark.slow
def test_encode_refuses_a_bare_string(minilm):
    with pytest.raises(TypeError):
        minilm.encode("turn on the light")
    assert minilm.encode([]).shape == (0, 384)


# -- static (model2vec) -------------------------------------------------------------------------


@pytest.mark.slow
def test_static_encoder_gives_unit_float32_rows(static):
    E = static.encode(SENTENCES)
    assert E.shape == (4, static.dim) and static.dim == 256
    assert E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_static_model_is_distilled_once_then_read_from_the_cache(static):
    folder = static.model_path
    assert folder.parent == cache_dir()
    stamp = (folder / "model.safetensors").stat().st_mtime
    assert build_static_model() == folder  # no second distillation
    assert (folder / "model.safetensors").stat().st_mtime == stamp
    assert StaticEncoder().model is static.model


@pytest.mark.slow
def test_static_encoder_ranks_like_its_teacher(static, minilm):
    S, M = static.encode(SENTENCES), minilm.encode(SENTENCES)
    # the paraphrase pair is the closest pair for both
    for E in (S, M):
        sims = E @ E.T
        np.fill_diagonal(sims, -1)
        assert np.unravel_index(np.argmax(sims), sims.shape) in ((0, 1), (1, 0))


# -- MiniLM through ONNX Runtime ----------------------------------------------------------------


@pytest.mark.slow
def test_onnx_backend_gives_the_same_rows_as_sentence_transformers(minilm):
    assert minilm.backend == "onnx"
    texts = SENTENCES + ["a much longer request that needs more tokens than all of the others "
                         "in this batch, so that the rows are padded differently", "ok"]
    onnx = minilm._encode_uncached(texts)
    torch_rows = minilm._encode_torch(texts)
    assert onnx.shape == torch_rows.shape == (6, 384)
    assert np.abs(onnx - torch_rows).max() < 1e-5
    assert minilm._onnx_runner() is not None and minilm.backend == "onnx"
    # texts sorted by length into small batches come back in their own order
    small = minilm._onnx_runner().encode(texts, batch_size=2)
    assert np.abs(small - torch_rows).max() < 1e-5
    # the export is cached once per weights file
    assert list((cache_dir() / "onnx").glob("*.onnx"))


@pytest.mark.slow
def test_torch_backend_can_be_chosen(monkeypatch, minilm):
    torch_enc = MiniLMEncoder(backend="torch")
    assert torch_enc.model is minilm.model  # one model per process either way
    np.testing.assert_allclose(torch_enc.encode(SENTENCES), minilm.encode(SENTENCES), atol=1e-5)
    assert torch_enc._onnx_runner() is None
    monkeypatch.setenv("HEARTH_ENCODER_BACKEND", "torch")
    assert MiniLMEncoder().backend == "torch"
    with pytest.raises(UnknownEncoderError, match="backend 'tpu'"):
        MiniLMEncoder(backend="tpu")


@pytest.mark.slow
def test_a_model_onnx_cannot_reproduce_falls_back_to_torch(monkeypatch, minilm):
    import reasoner.embeddings as emb
    monkeypatch.setattr(emb, "_onnx_ready", lambda *a: False)
    enc = MiniLMEncoder(cache_size=0)
    enc._runner = None
    rows = enc.encode(SENTENCES[:2])
    assert enc.backend == "torch" and rows.shape == (2, 384)
