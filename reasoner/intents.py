"""Few-shot intent classification with a calibrated out-of-scope rejection.

The classifier is a *cosine classifier* over sentence embeddings (plus, optionally, TF-IDF word and
character n-grams, which catch the verbs and keywords that MiniLM blurs: "set" vs "query" an alarm):
each intent is a unit weight vector, an utterance's score for it is a scaled cosine, and the weights
start at the intent's prototype (mean example) and are then trained with a softmax over all intents.
Because every intent lives in the same space as a prototype would, a new intent is added at once by
*imprinting* its prototype (Qi et al., CVPR 2018), without retraining the others; its prototype
cosine is put on the trained intents' scale by a line fitted at training time (trained weights drift
from their prototypes, so raw prototype cosines run higher and would swallow the neighbours).

Out-of-scope rejection compares the best intent's score (its familiarity: the combined cosine) with
a threshold set by split-conformal calibration: the scores of held-out in-scope examples fix the
threshold so that about ``target_in_scope_recall`` of in-scope utterances pass. The held-out scores
come from cross-validating the head while the encoder is frozen, or from a calibration share kept
out of fine-tuning (a fine-tuned encoder has seen its training examples, so their cross-validated
scores would be optimistic: measured on CLINC150, a threshold set that way rejected 7% of in-scope
validation queries instead of 3%). Out-of-scope examples, when given, train a background class and
report the recall that threshold buys.

Optional fine-tuning (``finetune_encoder``) trains MiniLM itself with the same cosine softmax: on a
public intent corpus once (adaptation, cached), or on the task's own examples.

>>> clf = IntentClassifier("minilm").fit(texts, labels)          # doctest: +SKIP
>>> clf.predict(["switch the lamp on"])[0].intent                # doctest: +SKIP
'lights_on'
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from reasoner.embeddings import (
    Encoder,
    MiniLMEncoder,
    StaticEncoder,
    cache_dir,
    get_encoder,
    minilm_path,
    quiet_loading,
    write_folder,
)
from reasoner.errors import IntentDataError, ModelFileError, NotFittedError

__all__ = [
    "IntentPrediction",
    "CalibrationResult",
    "IntentClassifier",
    "IntentEnsemble",
    "finetune_encoder",
    "nearest_neighbour_predict",
]

OOS_LABEL = "__out_of_scope__"  # the background class trained from out-of-scope examples
FORMAT_VERSION = 1


@dataclass(frozen=True)
class IntentPrediction:
    """What the classifier makes of one utterance.

    ``intent`` is None when the utterance is out of scope; ``top_k`` still lists the nearest intents
    with their probabilities, so the layer above can ask "did you mean …?".
    """

    text: str
    intent: str | None
    confidence: float  # softmax probability of the best in-scope intent
    top_k: tuple[tuple[str, float], ...]
    out_of_scope: bool
    familiarity: float  # the score compared with the threshold

    @property
    def best_guess(self) -> str:
        """The nearest intent, even when the utterance was rejected."""
        return self.top_k[0][0]

    # the names reasoner.understanding reads (label / score / alternatives)
    @property
    def label(self) -> str | None:
        return self.intent

    @property
    def score(self) -> float:
        return self.confidence

    @property
    def alternatives(self) -> tuple[tuple[str, float], ...]:
        return self.top_k


@dataclass(frozen=True)
class CalibrationResult:
    """How the out-of-scope threshold was set, and what it does on the calibration data."""

    threshold: float
    score: str  # "cosine" or "probability"
    method: str  # "cross-validation", "held-out" or "fixed"
    target_in_scope_recall: float
    in_scope_recall: float  # share of held-out in-scope examples that pass
    oos_recall: float | None  # share of out-of-scope examples rejected (None: none given)
    n_in_scope: int
    n_out_of_scope: int


# ---------------------------------------------------------------------------------------------
# lexical features


class _Lexical:
    """TF-IDF over word 1-2-grams and character 2-4-grams, rows L2-normalised."""

    PARAMS = (
        dict(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, max_features=20000),
        dict(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, max_features=30000),
    )

    def __init__(self) -> None:
        self.vectorizers: list[Any] = []

    @property
    def dim(self) -> int:
        return sum(len(v.vocabulary_) for v in self.vectorizers)

    def fit(self, texts: Sequence[str]) -> "_Lexical":
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizers = [TfidfVectorizer(dtype=np.float32, **p).fit(texts) for p in self.PARAMS]
        return self

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        if len(texts) <= 4:  # one utterance at a time (a live turn): skip sklearn's overheads
            return self._transform_few(texts)
        from sklearn.preprocessing import normalize

        parts = [v.transform(texts) for v in self.vectorizers]
        return normalize(sparse.hstack(parts, format="csr", dtype=np.float32))

    def _transform_few(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """What ``transform`` computes (sublinear tf × idf, each vectoriser's part L2-normalised,
        then the whole row), in plain Python: 0.1 ms an utterance instead of 1 ms."""
        tables = self.__dict__.get("_tables")
        if tables is None:
            tables, offset = [], 0
            for v in self.vectorizers:
                tables.append((v.build_analyzer(), v.vocabulary_, np.asarray(v.idf_, np.float64), offset))
                offset += len(v.vocabulary_)
            self._tables = tables
        indptr, indices, data = [0], [], []
        for text in texts:
            row_idx: list[int] = []
            row_val: list[float] = []
            for analyze, vocab, idf, offset in tables:
                counts: dict[int, int] = {}
                for gram in analyze(text):
                    j = vocab.get(gram)
                    if j is not None:
                        counts[j] = counts.get(j, 0) + 1
                if not counts:
                    continue
                cols = np.fromiter(counts, dtype=np.int64, count=len(counts))
                vals = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * idf[cols]
                vals /= max(float(np.sqrt(vals @ vals)), 1e-300)
                row_idx.extend((cols + offset).tolist())
                row_val.extend(vals.tolist())
            vals = np.asarray(row_val, dtype=np.float64)
            norm = float(np.sqrt(vals @ vals)) if len(vals) else 0.0
            order = np.argsort(row_idx, kind="stable")
            indices.extend(np.asarray(row_idx, dtype=np.int64)[order].tolist())
            data.extend((vals[order] / norm if norm > 0 else vals[order]).tolist())
            indptr.append(len(indices))
        return sparse.csr_matrix((np.asarray(data, np.float32), np.asarray(indices, np.int32),
                                  np.asarray(indptr, np.int32)), shape=(len(texts), self.dim))

    def state(self) -> tuple[list[dict], dict[str, np.ndarray]]:
        vocab = [{k: int(i) for k, i in v.vocabulary_.items()} for v in self.vectorizers]
        return vocab, {f"idf{i}": v.idf_.astype(np.float32) for i, v in enumerate(self.vectorizers)}

    @classmethod
    def from_state(cls, vocab: list[dict], arrays: Any) -> "_Lexical":
        from sklearn.feature_extraction.text import TfidfVectorizer

        lex = cls()
        for i, (p, voc) in enumerate(zip(cls.PARAMS, vocab)):
            params = {k: v for k, v in p.items() if k != "max_features"}
            v = TfidfVectorizer(dtype=np.float32, vocabulary=voc, **params)
            v.idf_ = np.asarray(arrays[f"idf{i}"], dtype=np.float64)
            lex.vectorizers.append(v)
        return lex


# ---------------------------------------------------------------------------------------------
# the cosine head


def _unit_rows(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def _class_sums(y: np.ndarray, k: int, X: np.ndarray | sparse.spmatrix) -> np.ndarray:
    onehot = sparse.csr_matrix((np.ones(len(y), np.float32), (y, np.arange(len(y)))), shape=(k, len(y)))
    out = onehot @ X
    return np.asarray(out.todense() if sparse.issparse(out) else out, dtype=np.float32)


def _fit_head(
    E: np.ndarray,
    L: sparse.csr_matrix | None,
    y: np.ndarray,
    k: int,
    *,
    scale: float,
    lexical_weight: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Train unit weight rows (embedding part, lexical part) by softmax cross-entropy with L-BFGS.

    Returns the trained rows and the prototypes they started from.
    """
    import torch

    We0 = _unit_rows(_class_sums(y, k, E))
    Wl0 = _unit_rows(_class_sums(y, k, L)) if L is not None else None
    if max_iter <= 0:
        return We0, Wl0, We0, Wl0
    yt = torch.from_numpy(y.astype(np.int64))
    Et = torch.from_numpy(E)
    We = torch.nn.Parameter(torch.from_numpy(We0.copy()))
    params = [We]
    if L is not None:
        L = L.tocsr()
        # CSR: its product and backward are ~2.5x faster than COO's on CPU
        with warnings.catch_warnings():  # "sparse CSR support is in beta": known, and it works
            warnings.simplefilter("ignore", UserWarning)
            Lt = torch.sparse_csr_tensor(
                torch.from_numpy(L.indptr.astype(np.int64)), torch.from_numpy(L.indices.astype(np.int64)),
                torch.from_numpy(L.data.astype(np.float32)), size=L.shape, check_invariants=False,
            )
        Wl = torch.nn.Parameter(torch.from_numpy(Wl0.copy()))
        params.append(Wl)
    norm = torch.nn.functional.normalize
    lam = lexical_weight if L is not None else 0.0

    def logits() -> Any:
        z = Et @ norm(We, dim=1).T
        if L is not None:
            z = z + lam * (Lt @ norm(Wl, dim=1).T)
        return scale * z / (1.0 + lam)

    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits(), yt)
        loss.backward()
        return loss

    # One thread: these are small products, and on shared cores a second thread mostly spins
    # (measured: 1.2 s on one thread vs 17 s on two for the same 60-example fit under load).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        opt.step(closure)
    finally:
        torch.set_num_threads(threads)
    We_out = _unit_rows(We.detach().numpy())
    Wl_out = _unit_rows(Wl.detach().numpy()) if L is not None else None
    return We_out, Wl_out, We0, Wl0


def _passes(scores: np.ndarray, threshold: float) -> np.ndarray:
    """In scope: at or above the threshold, and not won by the background class (-inf)."""
    return (scores >= threshold) & (scores > -np.inf)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


# ---------------------------------------------------------------------------------------------
# fine-tuning MiniLM


def _corpus_key(texts: Sequence[str], labels: Sequence[str], params: dict[str, Any], base: Path) -> str:
    h = hashlib.sha256()
    h.update(str(base.resolve()).encode())
    h.update(json.dumps(params, sort_keys=True).encode())
    for t, lab in zip(texts, labels):
        h.update(t.encode())
        h.update(b"\x1f")
        h.update(lab.encode())
        h.update(b"\x1e")
    return h.hexdigest()[:16]


def finetune_encoder(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    base: MiniLMEncoder | str | os.PathLike | None = None,
    epochs: int = 2,
    learning_rate: float = 2e-5,
    batch_size: int = 32,
    scale: float = 20.0,
    label_smoothing: float = 0.1,
    seed: int = 0,
    cache: bool = True,
    name: str | None = None,
    log: Callable[[str], None] | None = None,
    freeze_layers: int = 0,
    head_learning_rate: float = 1e-3,
    threads: int | None = 1,
) -> MiniLMEncoder:
    """Fine-tune MiniLM on labelled utterances with a cosine-softmax head; return the new encoder.

    The head starts at the intents' prototypes; the encoder and head train together with
    AdamW (linear warm-up over 10% of the steps, then linear decay), label smoothing 0.1. With
    ``cache`` (the default) the model is saved under ``<cache>/finetuned-<hash>`` keyed by the base
    model, the data and the settings, so running it again costs nothing. On 2 CPU cores one epoch
    of 15,000 utterances takes ~10 minutes (more when the cores are shared).

    ``freeze_layers=N`` keeps the word embeddings and the lowest N transformer layers as they are:
    their output for each training utterance is computed once, and only the upper layers train
    (about twice as fast with N=3 of MiniLM's 6, and little data moves the lower layers little
    anyway). ``head_learning_rate`` is the cosine head's. ``threads`` caps torch's threads while
    training (None: leave them): on shared cores a second thread mostly waits for the first
    (measured under load: 0.75 s per 32-utterance step on one thread, 6 s on two).
    """
    import torch

    if len(texts) != len(labels) or not texts:
        raise IntentDataError(
            f"finetune_encoder needs as many labels as texts and at least one of each "
            f"(got {len(texts)} texts, {len(labels)} labels)"
        )
    base_path = (
        base.model_path if isinstance(base, MiniLMEncoder) else Path(base) if base else minilm_path()
    )
    params = dict(
        epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, scale=scale,
        label_smoothing=label_smoothing, seed=seed,
    )
    if freeze_layers < 0:
        raise IntentDataError(f"freeze_layers must be 0 or more, not {freeze_layers}")
    # newer settings enter the cache key only when set, so models cached before them keep their key
    if freeze_layers:
        params["freeze_layers"] = int(freeze_layers)
    if head_learning_rate != 1e-3:
        params["head_learning_rate"] = float(head_learning_rate)
    key = _corpus_key(texts, labels, params, base_path)
    folder = cache_dir() / f"finetuned-{key}"
    enc_name = name or f"minilm-ft-{key[:8]}"
    if cache and (folder / "config.json").exists():
        return MiniLMEncoder(folder, name=enc_name)

    from sentence_transformers import SentenceTransformer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(seed)
    gen = np.random.default_rng(seed)
    with quiet_loading():
        model = SentenceTransformer(str(base_path), device="cpu", local_files_only=True)
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    y = torch.tensor([index[c] for c in labels])
    texts = list(texts)

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(max(1, int(threads)))
    try:
        _train_encoder(
            model, texts, y, len(classes), epochs=epochs, learning_rate=learning_rate,
            head_learning_rate=head_learning_rate, batch_size=batch_size, scale=scale,
            label_smoothing=label_smoothing, freeze_layers=freeze_layers, gen=gen, log=log,
        )
    finally:
        torch.set_num_threads(old_threads)
    if not cache:
        return MiniLMEncoder.from_model(model, name=enc_name)
    _ensure(cache_dir())
    with quiet_loading():
        write_folder(folder, model.save, lambda err: ModelFileError(
            f"could not save the fine-tuned model to {folder}: {err}"))
    return MiniLMEncoder(folder, name=enc_name)


def _tokenize(model: Any, batch: list[str]) -> dict[str, Any]:
    # `tokenize` was renamed `preprocess` in sentence-transformers 6
    return (model.preprocess if hasattr(model, "preprocess") else model.tokenize)(batch)


def _bert_stack(model: Any, freeze_layers: int) -> tuple[Any, Any, Any]:
    """(the transformer, its embedding module, its list of layers) of a sentence-transformers
    model whose first module wraps a BERT-style encoder, checked against ``freeze_layers``."""
    try:
        bert = model[0].auto_model
        embeddings, layers = bert.embeddings, bert.encoder.layer
    except (AttributeError, IndexError, TypeError) as err:
        raise IntentDataError(
            "freeze_layers needs a BERT-style sentence-transformers model (embeddings, encoder.layer); "
            "use freeze_layers=0 for this one"
        ) from err
    if freeze_layers >= len(layers):
        raise IntentDataError(
            f"freeze_layers={freeze_layers} leaves nothing to train: the model has {len(layers)} layers"
        )
    return bert, embeddings, layers


def _given_states() -> Any:
    """A module to stand in for BERT's embeddings: it hands on the hidden states passed as
    ``inputs_embeds`` (the cached output of the frozen lower layers), so that the model's own
    forward (its attention masks included) runs the upper layers on them."""
    import torch

    class GivenStates(torch.nn.Module):
        def forward(self, input_ids=None, position_ids=None, token_type_ids=None, inputs_embeds=None,
                    **_: Any):
            return inputs_embeds

    return GivenStates()


def _train_encoder(
    model: Any,
    texts: list[str],
    y: Any,
    n_classes: int,
    *,
    epochs: int,
    learning_rate: float,
    head_learning_rate: float,
    batch_size: int,
    scale: float,
    label_smoothing: float,
    freeze_layers: int,
    gen: np.random.Generator,
    log: Callable[[str], None] | None,
) -> None:
    """The training loop of ``finetune_encoder`` (in place); with ``freeze_layers`` the lower
    layers' outputs are computed once and only the upper layers run forward and backward."""
    import torch

    norm = torch.nn.functional.normalize
    model.eval()
    with torch.inference_mode():
        E0 = model.encode(texts, batch_size=128, convert_to_numpy=True, normalize_embeddings=True)
    W = torch.nn.Parameter(torch.from_numpy(_unit_rows(_class_sums(y.numpy(), n_classes, E0))))
    states: list[Any] | None = None
    if freeze_layers > 0:
        bert, embeddings, layers = _bert_stack(model, freeze_layers)
        frozen = list(embeddings.parameters()) + [p for lay in layers[:freeze_layers] for p in lay.parameters()]
        for p in frozen:
            p.requires_grad_(False)
        states = [None] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(texts), 128):
                feats = _tokenize(model, texts[start:start + 128])
                out = bert(**{k: v for k, v in feats.items()
                              if k in ("input_ids", "attention_mask", "token_type_ids")},
                           output_hidden_states=True)
                hidden = out.hidden_states[freeze_layers]
                lengths = feats["attention_mask"].sum(dim=1).tolist()
                for r, n in enumerate(lengths):
                    states[start + r] = hidden[r, :int(n)].clone()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": trainable, "lr": learning_rate}, {"params": [W], "lr": head_learning_rate}],
        weight_decay=0.01,
    )
    steps = max(1, epochs * math.ceil(len(texts) / batch_size))
    warm = max(1, int(0.1 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm))
    )
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def embed(idx: np.ndarray) -> Any:
        if states is None:
            return model(_tokenize(model, [texts[i] for i in idx]))["sentence_embedding"]
        width = max(states[i].shape[0] for i in idx)
        x = torch.zeros(len(idx), width, states[idx[0]].shape[1])
        mask = torch.zeros(len(idx), width, dtype=torch.long)
        for r, i in enumerate(idx):
            x[r, :states[i].shape[0]] = states[i]
            mask[r, :states[i].shape[0]] = 1
        feats: dict[str, Any] = {"token_embeddings": bert(inputs_embeds=x, attention_mask=mask).last_hidden_state,
                                 "attention_mask": mask}
        for module in list(model)[1:]:  # pooling, normalisation: as the model itself does
            feats = module(feats)
        return feats["sentence_embedding"]

    if states is not None:  # the upper layers alone, fed the cached states
        bert.embeddings = _given_states()
        bert.encoder.layer = torch.nn.ModuleList(list(layers)[freeze_layers:])
    model.train()
    t0 = time.perf_counter()
    try:
        for epoch in range(epochs):
            order = gen.permutation(len(texts))
            total, n = 0.0, 0
            for start in range(0, len(texts), batch_size):
                idx = order[start:start + batch_size]
                loss = loss_fn(scale * norm(embed(idx), dim=1) @ norm(W, dim=1).T, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item()
                n += 1
            if log:
                log(f"fine-tune epoch {epoch + 1}/{epochs}: loss {total / max(1, n):.3f}, "
                    f"{time.perf_counter() - t0:.0f} s")
    finally:
        if states is not None:
            bert.embeddings, bert.encoder.layer = embeddings, layers
            for p in frozen:
                p.requires_grad_(True)
        model.eval()


def _ensure(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


# ---------------------------------------------------------------------------------------------
# baseline


def nearest_neighbour_predict(
    encoder: Encoder, train_texts: Sequence[str], train_labels: Sequence[str], texts: Sequence[str]
) -> list[str]:
    """1-nearest-neighbour by cosine: the baseline every classifier here must beat."""
    A = encoder.encode(list(train_texts))
    B = encoder.encode(list(texts))
    labels = np.asarray(list(train_labels), dtype=object)
    out: list[str] = []
    for s in range(0, len(B), 2048):
        out.extend(labels[np.argmax(B[s:s + 2048] @ A.T, axis=1)])
    return out


# ---------------------------------------------------------------------------------------------
# the classifier


def _encoder_spec(encoder: Encoder) -> dict[str, Any]:
    if isinstance(encoder, MiniLMEncoder):
        standard = encoder.model_path.resolve() == minilm_path().resolve()
        return {"kind": "minilm", "name": encoder.name, "path": None if standard else str(encoder.model_path)}
    if isinstance(encoder, StaticEncoder):
        return {"kind": "static", "name": encoder.name, "path": str(encoder.model_path)}
    return {"kind": "custom", "name": encoder.name, "path": None}


class IntentClassifier:
    """A cosine classifier over sentence embeddings with calibrated out-of-scope rejection.

    Args:
        encoder: an ``Encoder`` or a name for ``get_encoder`` ("minilm", "static").
        lexical_weight: weight of the TF-IDF n-gram part beside the embedding part (0 turns it off).
        scale: softmax temperature of the cosine logits.
        target_in_scope_recall: share of in-scope utterances the threshold should let through.
        oos_score: "cosine" (best intent's combined cosine: does not move when intents are added)
            or "probability" (best intent's softmax probability).
        oos_as_class: train out-of-scope examples given to ``fit`` as a background class too.
        calibration: where the held-out in-scope scores come from: "cross-validation" (k folds of
            the head; cheap with few examples, unbiased while the encoder is frozen), "held-out"
            (``calibration_fraction`` of each intent's examples kept out of the head *and* of
            fine-tuning: needed once the encoder is fine-tuned on the examples, which makes their
            cross-validated scores optimistic), or "auto" (held-out when fine-tuning or with 2,000+
            examples, cross-validation otherwise).
        folds: cross-validation folds (fewer when intents have fewer examples).
        finetune_epochs: fine-tune the (MiniLM) encoder on the training examples first.
        finetune_options: more keyword arguments for ``finetune_encoder`` (``learning_rate``,
            ``freeze_layers``, ``batch_size`` …).
        top_k: how many candidates each prediction lists.
        neighbour_weight: weight of a nearest-neighbour vote beside the trained head (0: none):
            each class's probability is multiplied by the ``neighbours`` most similar training
            examples' vote for it (each weighted ``exp(20 (cos - 1))``) raised to this power, then
            renormalised. It sharpens the ranking where an intent's examples are spread out (on
            SLURP devel at 0.35, chosen on fold split 1: +0.20, +0.50, +0.59 points on splits
            0, 1, 2); the out-of-scope score (the head's cosine) is not touched.
        neighbours: how many training examples vote.
    """

    def __init__(
        self,
        encoder: Encoder | str = "minilm",
        *,
        lexical_weight: float = 0.3,
        scale: float = 16.0,
        target_in_scope_recall: float = 0.97,
        oos_score: str = "cosine",
        oos_as_class: bool = True,
        calibration: str = "auto",
        calibration_fraction: float = 0.1,
        folds: int = 5,
        max_iter: int = 50,
        finetune_epochs: int = 0,
        finetune_cache: bool = False,
        finetune_options: dict[str, Any] | None = None,
        top_k: int = 3,
        seed: int = 0,
        log: Callable[[str], None] | None = None,
        neighbour_weight: float = 0.0,
        neighbours: int = 5,
    ):
        if oos_score not in ("cosine", "probability"):
            raise IntentDataError(f"oos_score must be 'cosine' or 'probability', not {oos_score!r}")
        if not 0.0 < target_in_scope_recall <= 1.0:
            raise IntentDataError("target_in_scope_recall must be in (0, 1]")
        self.encoder: Encoder = get_encoder(encoder)
        self.lexical_weight = float(lexical_weight)
        self.scale = float(scale)
        self.target_in_scope_recall = float(target_in_scope_recall)
        self.oos_score = oos_score
        self.oos_as_class = oos_as_class
        if calibration not in ("auto", "cross-validation", "held-out"):
            raise IntentDataError(
                f"calibration must be 'auto', 'cross-validation' or 'held-out', not {calibration!r}"
            )
        self.calibration_mode = calibration
        self.calibration_fraction = float(calibration_fraction)
        self.folds = int(folds)
        self.max_iter = int(max_iter)
        self.finetune_epochs = int(finetune_epochs)
        self.finetune_cache = finetune_cache
        self.finetune_options = dict(finetune_options or {})
        self.top_k = int(top_k)
        if neighbour_weight < 0 or neighbours < 1:
            raise IntentDataError("neighbour_weight must be 0 or more and neighbours 1 or more")
        self.neighbour_weight = float(neighbour_weight)
        self.neighbours = int(neighbours)
        # the training examples' embeddings and class indices the neighbour vote reads
        self._nbr: tuple[np.ndarray, np.ndarray] | None = None
        self.seed = seed
        self.log = log
        self.classes: list[str] = []
        self.examples: dict[str, list[str]] = {}
        self.oos_examples: list[str] = []
        self.imprinted: set[str] = set()
        self.calibration: CalibrationResult | None = None
        self._We: np.ndarray | None = None
        self._Wl: np.ndarray | None = None
        self._lex: _Lexical | None = None
        self._imprint_map: tuple[float, float] = (1.0, 0.0)
        self._calibration_scores: tuple[np.ndarray, np.ndarray, str] | None = None
        # the softmax scale of reported probabilities, fitted on held-out examples (temperature
        # scaling, Guo et al. 2017); None: the training scale
        self.probability_scale: float | None = None

    # -- properties ---------------------------------------------------------------------------

    @property
    def intents(self) -> list[str]:
        """The in-scope intents, in index order."""
        return [c for c in self.classes if c != OOS_LABEL]

    @property
    def threshold(self) -> float:
        return self.calibration.threshold if self.calibration else -math.inf

    def __contains__(self, intent: str) -> bool:
        return intent in self.classes and intent != OOS_LABEL

    def __repr__(self) -> str:
        state = f"{len(self.intents)} intents" if self._We is not None else "not fitted"
        return f"<IntentClassifier {self.encoder.name} {state}>"

    # -- training -----------------------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        oos_texts: Sequence[str] = (),
        calibrate: bool = True,
        calibrate_on: Sequence[bool] | None = None,
    ) -> "IntentClassifier":
        """Train on labelled examples (and optional out-of-scope examples); returns self.

        ``calibrate_on`` marks the examples whose held-out scores set the threshold (default: all);
        e.g. only hand-written ones, when the rest are sentences generated from templates, whose
        near-duplicates would make every held-out score look familiar.
        """
        texts, labels = list(texts), list(labels)
        self._check_data(texts, labels)
        mask = np.ones(len(texts), bool) if calibrate_on is None else np.asarray(list(calibrate_on), bool)
        if mask.shape != (len(texts),) or not mask.any():
            raise IntentDataError(
                f"calibrate_on needs one flag per text ({len(texts)}), at least one of them true"
            )
        oos_texts = list(oos_texts)
        if self.finetune_epochs > 0 and not isinstance(self.encoder, MiniLMEncoder):
            raise IntentDataError(
                f"finetune_epochs needs a MiniLM encoder, not {self.encoder.name!r}; "
                "fine-tune MiniLM and distil a StaticEncoder from it instead"
            )
        mode = self.calibration_mode
        if mode == "auto":
            mode = "held-out" if self.finetune_epochs > 0 or len(texts) >= 2000 else "cross-validation"
        held = np.zeros(len(texts), bool)
        held_oos = np.zeros(len(oos_texts), bool)
        if calibrate and mode == "held-out":
            held, held_oos = self._holdout(labels, len(oos_texts))
            if not held.any():
                mode = "cross-validation"
        fit_texts = [t for t, h in zip(texts, held) if not h]
        fit_labels = [lab for lab, h in zip(labels, held) if not h]
        fit_oos = [t for t, h in zip(oos_texts, held_oos) if not h]
        if self.finetune_epochs > 0:
            # fine-tune on the training part only: the held-out part must stay unseen
            self.encoder = finetune_encoder(
                fit_texts, fit_labels, base=self.encoder, epochs=self.finetune_epochs,
                seed=self.seed, cache=self.finetune_cache, log=self.log, **self.finetune_options,
            )
        self.examples = {}
        for t, lab in zip(texts, labels):
            self.examples.setdefault(lab, []).append(t)
        self.oos_examples = oos_texts
        self.imprinted = set()
        E = self.encoder.encode(texts)
        E_oos = self.encoder.encode(oos_texts) if oos_texts else np.zeros((0, self.encoder.dim), np.float32)
        self.calibration = None
        self.probability_scale = None
        if calibrate and mode == "held-out":
            fi = np.flatnonzero(~held)
            fo = np.flatnonzero(~held_oos)
            self._train(fit_texts, fit_labels, E[fi], fit_oos, E_oos[fo])
            hi, ho = np.flatnonzero(held & mask), np.flatnonzero(held_oos)
            in_scores = self._familiarity([texts[i] for i in hi], E[hi])[0]
            oos_scores = self._familiarity([oos_texts[i] for i in ho], E_oos[ho])[0]
            self._fit_probability_scale([self._held_logits([texts[i] for i in hi], E[hi],
                                                           [labels[i] for i in hi])])
            self.calibration = self._threshold_from(in_scores, oos_scores, "held-out")
        elif calibrate:
            self.calibration = self._calibrate(texts, labels, E, oos_texts, E_oos, mask)
        self._train(texts, labels, E, oos_texts, E_oos)  # the final head sees every example
        return self

    def _holdout(self, labels: list[str], n_oos: int) -> tuple[np.ndarray, np.ndarray]:
        """A stratified calibration split: a share of each intent with 3+ examples, and of the OOS ones."""
        rng = np.random.default_rng(self.seed)
        held = np.zeros(len(labels), bool)
        arr = np.asarray(labels, dtype=object)
        for lab in sorted(set(labels)):
            idx = np.flatnonzero(arr == lab)
            if len(idx) < 3:
                continue
            n = max(1, int(round(self.calibration_fraction * len(idx))))
            held[rng.choice(idx, size=n, replace=False)] = True
        held_oos = np.zeros(n_oos, bool)
        if n_oos >= 2:
            n = max(1, int(round(self.calibration_fraction * n_oos)))
            held_oos[rng.choice(n_oos, size=n, replace=False)] = True
        return held, held_oos

    def _check_data(self, texts: list[str], labels: list[str]) -> None:
        if len(texts) != len(labels):
            raise IntentDataError(f"got {len(texts)} texts but {len(labels)} labels; give one label per text")
        if not texts:
            raise IntentDataError("no training examples; give at least one utterance per intent")
        bad = [lab for lab in set(labels) if not isinstance(lab, str) or not lab or lab == OOS_LABEL]
        if bad:
            raise IntentDataError(f"unusable intent names {bad!r}; use non-empty strings other than {OOS_LABEL!r}")
        if len(set(labels)) < 2:
            raise IntentDataError(
                f"only one intent ({labels[0]!r}); a classifier needs at least two — "
                "give out-of-scope examples as another intent if there is really just one"
            )

    def _train(
        self,
        texts: list[str],
        labels: list[str],
        E: np.ndarray,
        oos_texts: list[str],
        E_oos: np.ndarray,
    ) -> None:
        """Fit the head (and the lexical vocabulary) on these examples; imprinted intents are reset."""
        all_texts, all_labels, all_E = texts, labels, E
        if oos_texts and self.oos_as_class:
            all_texts = texts + oos_texts
            all_labels = labels + [OOS_LABEL] * len(oos_texts)
            all_E = np.vstack([E, E_oos])
        classes = sorted(set(all_labels))
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[c] for c in all_labels])
        self._lex = L = None
        if self.lexical_weight > 0:
            self._lex = _Lexical().fit(texts)
            L = self._lex.transform(all_texts)
        We, Wl, Pe, Pl = _fit_head(
            all_E, L, y, len(classes), scale=self.scale, lexical_weight=self.lexical_weight,
            max_iter=self.max_iter,
        )
        self.classes, self._We, self._Wl = classes, We, Wl
        self._nbr = (np.asarray(all_E, np.float32), y.astype(np.int64)) if self.neighbour_weight > 0 else None
        self.imprinted = set()
        self._imprint_map = self._fit_imprint_map(all_E, L, Pe, Pl)

    def _combine(self, E: np.ndarray, L: sparse.csr_matrix | None, We: np.ndarray, Wl: np.ndarray | None) -> np.ndarray:
        Z = E @ We.T
        if L is not None and Wl is not None and self.lexical_weight > 0:
            Z = (Z + self.lexical_weight * np.asarray(L @ self._transposed(Wl))) / (1.0 + self.lexical_weight)
        return Z.astype(np.float32)

    def _transposed(self, W: np.ndarray) -> np.ndarray:
        """``W.T`` laid out in rows (kept for the last ``W``): a sparse row times a transposed
        view makes scipy copy the whole matrix first, 0.2 ms a prediction for 64 intents."""
        cached = self.__dict__.get("_t_cache")
        if cached is not None and cached[0] is W:
            return cached[1]
        WT = np.ascontiguousarray(W.T)
        self._t_cache = (W, WT)
        return WT

    def _fit_imprint_map(self, E, L, Pe, Pl) -> tuple[float, float]:
        """A line from prototype cosines to trained-weight cosines, fitted on the training examples.

        Trained weights drift away from their prototypes to separate the intents, so their cosines
        run lower than a raw prototype's: an imprinted intent, scored raw, would swallow its
        neighbours. Mapping its prototype cosine through this line (fitted on each example's five
        nearest prototypes, where decisions are made) puts it on the trained intents' scale.
        """
        Zp = self._combine(E, L, Pe, Pl)
        Zw = self._combine(E, L, self._We, self._Wl)
        k = min(5, Zp.shape[1])
        top = np.argpartition(-Zp, k - 1, axis=1)[:, :k]
        x = np.take_along_axis(Zp, top, 1).ravel()
        t = np.take_along_axis(Zw, top, 1).ravel()
        if x.size < 2 or np.ptp(x) < 1e-6:
            return 1.0, 0.0
        a, b = np.polyfit(x.astype(np.float64), t.astype(np.float64), 1)
        return float(a), float(b)

    # -- calibration --------------------------------------------------------------------------

    def _calibrate(self, texts, labels, E, oos_texts, E_oos, mask=None) -> CalibrationResult:
        """Held-out familiarity scores by k-fold cross-validation of the head (encoder frozen)."""
        counts = Counter(labels)
        k = min(self.folds, max(counts.values()))
        in_scores: list[float] = []
        oos_scores: list[float] = []
        if k < 2:
            self._train(texts, labels, E, oos_texts, E_oos)
            in_scores = list(self._familiarity(texts, E)[0][mask if mask is not None else slice(None)])
            oos_scores = list(self._familiarity(oos_texts, E_oos)[0]) if oos_texts else []
            return self._threshold_from(
                np.asarray(in_scores), np.asarray(oos_scores), "training data (one example per intent)"
            )
        rng = np.random.default_rng(self.seed)
        arr = np.asarray(labels, dtype=object)
        fold_of = np.empty(len(texts), dtype=int)
        for lab in sorted(counts):  # stratified: spread each intent's examples over the folds
            idx = np.flatnonzero(arr == lab)
            rng.shuffle(idx)
            fold_of[idx] = (np.arange(len(idx)) + rng.integers(k)) % k
        oos_fold = rng.integers(k, size=len(oos_texts))
        held_logits = []
        for f in range(k):
            tr, te = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
            if mask is not None:
                te = te[mask[te]]
            tr_labels = [labels[i] for i in tr]
            if len(te) == 0 or len(set(tr_labels)) < 2:
                continue
            o_tr, o_te = np.flatnonzero(oos_fold != f), np.flatnonzero(oos_fold == f)
            self._train(
                [texts[i] for i in tr], tr_labels, E[tr], [oos_texts[i] for i in o_tr], E_oos[o_tr]
            )
            in_scores.extend(self._familiarity([texts[i] for i in te], E[te])[0])
            held_logits.append(self._held_logits([texts[i] for i in te], E[te], [labels[i] for i in te]))
            if len(o_te):
                oos_scores.extend(self._familiarity([oos_texts[i] for i in o_te], E_oos[o_te])[0])
        self._fit_probability_scale(held_logits)
        return self._threshold_from(np.asarray(in_scores), np.asarray(oos_scores), "cross-validation")

    def _held_logits(self, texts: list[str], E: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(cosine rows, index of each row's true class) for held-out examples of known classes."""
        keep = [i for i, lab in enumerate(labels) if lab in self.classes]
        if not keep:
            return np.zeros((0, len(self.classes)), np.float32), np.zeros(0, int)
        Z = self._cosines([texts[i] for i in keep], E[keep])
        return Z, np.array([self.classes.index(labels[i]) for i in keep])

    def _fit_probability_scale(self, parts: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Temperature scaling: the softmax scale that best predicts held-out examples' intents
        (least negative log-likelihood over a grid), so that a reported probability of 0.8 is
        right about 80% of the time. Rankings do not change, only the probabilities."""
        parts = [(Z, y) for Z, y in parts if len(y)]
        if sum(len(y) for _, y in parts) < 10:
            return
        grid = np.geomspace(2.0, 128.0, 49)
        nll = np.zeros(len(grid))
        for Z, y in parts:
            Z = Z.astype(np.float64)
            true = Z[np.arange(len(y)), y]
            for j, g in enumerate(grid):
                a = g * Z
                m = a.max(axis=1)
                nll[j] += float(np.sum(m + np.log(np.exp(a - m[:, None]).sum(axis=1)) - g * true))
        self.probability_scale = float(grid[int(np.argmin(nll))])

    def _threshold_from(
        self, in_scores: np.ndarray, oos_scores: np.ndarray, method: str, *, target: float | None = None
    ) -> CalibrationResult:
        self._calibration_scores = (np.asarray(in_scores, np.float32), np.asarray(oos_scores, np.float32), method)
        target = self.target_in_scope_recall if target is None else target
        alpha = 1.0 - target
        s = np.sort(in_scores)
        # split-conformal: the floor(alpha (n+1))-th smallest score keeps >= 1 - alpha in expectation
        r = int(math.floor(alpha * (len(s) + 1)))
        threshold = float(s[r - 1]) if r >= 1 else -math.inf
        return CalibrationResult(
            threshold=threshold,
            score=self.oos_score,
            method=method,
            target_in_scope_recall=target,
            in_scope_recall=float(np.mean(_passes(in_scores, threshold))) if len(s) else 1.0,
            oos_recall=float(np.mean(~_passes(oos_scores, threshold))) if len(oos_scores) else None,
            n_in_scope=int(len(in_scores)),
            n_out_of_scope=int(len(oos_scores)),
        )

    def calibrate(
        self,
        in_scope_texts: Sequence[str],
        oos_texts: Sequence[str] = (),
        *,
        target_in_scope_recall: float | None = None,
    ) -> CalibrationResult:
        """Set the threshold from held-out in-scope utterances (and report on out-of-scope ones)."""
        self._require_fitted()
        if target_in_scope_recall is not None:
            self.target_in_scope_recall = float(target_in_scope_recall)
        ins = self._familiarity(list(in_scope_texts))[0]
        oos = self._familiarity(list(oos_texts))[0] if len(oos_texts) else np.array([])
        self.calibration = self._threshold_from(ins, oos, "held-out")
        return self.calibration

    def retarget(self, target_in_scope_recall: float) -> CalibrationResult:
        """Move the threshold to another in-scope recall target, reusing the last calibration's scores.

        Nothing is retrained: the held-out scores kept from ``fit``/``calibrate`` give the new quantile.
        """
        if self._calibration_scores is None:
            raise NotFittedError("no calibration scores yet; fit() or calibrate() first")
        if not 0.0 < target_in_scope_recall <= 1.0:
            raise IntentDataError("target_in_scope_recall must be in (0, 1]")
        ins, oos, method = self._calibration_scores
        self.target_in_scope_recall = float(target_in_scope_recall)
        self.calibration = self._threshold_from(ins, oos, method)
        return self.calibration

    def set_threshold(self, threshold: float) -> None:
        """Fix the threshold by hand (e.g. from an application's own tuning)."""
        base = self.calibration
        self.calibration = CalibrationResult(
            threshold=float(threshold), score=self.oos_score, method="fixed",
            target_in_scope_recall=base.target_in_scope_recall if base else self.target_in_scope_recall,
            in_scope_recall=math.nan, oos_recall=None, n_in_scope=0, n_out_of_scope=0,
        )

    # -- scoring ------------------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if self._We is None:
            raise NotFittedError("the intent classifier has no intents yet; call fit() or load() first")

    def _cosines(self, texts: list[str], E: np.ndarray | None = None) -> np.ndarray:
        if E is None:
            E = self.encoder.encode(texts)
        L = self._lex.transform(texts) if self._lex is not None and self._Wl is not None else None
        Z = self._combine(E, L, self._We, self._Wl)
        if self.imprinted:
            a, b = self._imprint_map
            cols = [i for i, c in enumerate(self.classes) if c in self.imprinted]
            Z[:, cols] = a * Z[:, cols] + b
        return Z

    def _familiarity(self, texts: list[str], E: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(familiarity score, probabilities over classes, in-scope column mask)."""
        if not texts:
            return np.array([]), np.zeros((0, len(self.classes))), np.ones(len(self.classes), bool)
        if E is None:
            E = self.encoder.encode(texts)
        Z = self._cosines(texts, E)
        P = _softmax((self.probability_scale or self.scale) * Z)
        if self._nbr is not None and len(self._nbr[1]):  # kept only when neighbour_weight > 0
            P = P * self._neighbour_vote(E) ** self.neighbour_weight
            P = P / P.sum(axis=1, keepdims=True)
        ins = np.array([c != OOS_LABEL for c in self.classes])
        if self.oos_score == "cosine":
            fam = Z[:, ins].max(axis=1)
        else:  # at the training scale: the threshold must not move when probabilities are rescaled
            fam = _softmax(self.scale * Z)[:, ins].max(axis=1)
        if not ins.all():  # the background class won outright: as unfamiliar as it gets
            won = Z.argmax(axis=1) == int(np.flatnonzero(~ins)[0])
            fam = np.where(won, -np.inf, fam)
        return fam, P, ins

    def _neighbour_vote(self, E: np.ndarray) -> np.ndarray:
        """Each class's share of the vote of the ``neighbours`` training examples nearest each
        row of ``E`` (a vote weighs ``exp(20 (cos - 1))``; every class keeps a floor of 1e-4)."""
        X, y = self._nbr
        k = min(self.neighbours, len(y))
        S = E @ X.T
        idx = np.argpartition(-S, k - 1, axis=1)[:, :k]
        votes = np.full((len(E), len(self.classes)), 1e-4)
        rows = np.repeat(np.arange(len(E)), k)
        np.add.at(votes, (rows, y[idx].ravel()), np.exp(20.0 * (np.take_along_axis(S, idx, 1).ravel() - 1.0)))
        return votes / votes.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence[str]) -> list[IntentPrediction]:
        """Classify utterances; an utterance below the threshold comes back with ``intent=None``."""
        self._require_fitted()
        if isinstance(texts, str):
            raise TypeError("predict() takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        fam, P, ins = self._familiarity(texts)
        names = np.array(self.classes, dtype=object)[ins]
        Pin = P[:, ins]
        k = min(self.top_k, Pin.shape[1])
        top = np.argsort(-Pin, axis=1)[:, :k]
        threshold = self.threshold
        out = []
        for i, text in enumerate(texts):
            cand = tuple((str(names[j]), float(Pin[i, j])) for j in top[i])
            oos = bool(fam[i] < threshold or fam[i] == -math.inf)
            out.append(
                IntentPrediction(
                    text=text,
                    intent=None if oos else cand[0][0],
                    confidence=cand[0][1],
                    top_k=cand,
                    out_of_scope=oos,
                    familiarity=float(fam[i]),
                )
            )
        return out

    def intent_probabilities(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """(the in-scope intents, their probabilities for each text as rows): the numbers
        ``predict`` reports, for every intent rather than the top ``top_k``."""
        self._require_fitted()
        fam, P, ins = self._familiarity(list(texts))
        return self.intents, P[:, ins] if len(P) else np.zeros((0, int(ins.sum())), np.float32)

    def predict_intents(self, texts: Sequence[str]) -> list[str | None]:
        """Just the intent names (None when out of scope)."""
        return [p.intent for p in self.predict(texts)]

    # -- growing and shrinking ------------------------------------------------------------------

    def add_intent(self, name: str, examples: Sequence[str], *, replace: bool = False) -> None:
        """Add an intent from a few examples at once, imprinting its prototype; nothing is retrained.

        Its weight is the normalised mean of its examples (and of their n-grams, within the
        vocabulary learnt at ``fit``); ``refit()`` later trains every intent together.
        """
        self._require_fitted()
        examples = [e for e in examples if isinstance(e, str) and e.strip()]
        if not name or name == OOS_LABEL:
            raise IntentDataError(f"unusable intent name {name!r}")
        if not examples:
            raise IntentDataError(f"intent {name!r} needs at least one non-empty example utterance")
        if name in self.classes and not replace:
            raise IntentDataError(
                f"intent {name!r} already exists; pass replace=True to overwrite it, or remove_intent() it first"
            )
        E = self.encoder.encode(examples)
        we = _unit_rows(E.mean(axis=0, keepdims=True))
        wl = None
        if self._lex is not None and self._Wl is not None:
            L = self._lex.transform(examples)
            wl = _unit_rows(np.asarray(L.sum(axis=0), dtype=np.float32))
        if self._nbr is not None:  # the new examples vote; replaced ones no longer do
            X, y = self._nbr
            i = self.classes.index(name) if name in self.classes else len(self.classes)
            keep = y != i
            self._nbr = (np.vstack([X[keep], E.astype(np.float32)]),
                         np.concatenate([y[keep], np.full(len(E), i, np.int64)]))
        if name in self.classes:
            i = self.classes.index(name)
            self._We[i] = we[0]
            if wl is not None:
                self._Wl[i] = wl[0]
                self._t_cache = None  # changed in place: its transpose is stale
        else:
            self.classes.append(name)
            self._We = np.vstack([self._We, we])
            if wl is not None:
                self._Wl = np.vstack([self._Wl, wl])
        self.examples[name] = list(examples)
        self.imprinted.add(name)

    def remove_intent(self, name: str) -> None:
        """Forget an intent (its weight row and examples)."""
        self._require_fitted()
        if name not in self:
            raise IntentDataError(f"no intent {name!r}; known intents: {', '.join(self.intents)}")
        i = self.classes.index(name)
        if len(self.intents) <= 1:
            raise IntentDataError("cannot remove the last intent")
        del self.classes[i]
        if self._nbr is not None:
            X, y = self._nbr
            keep = y != i
            self._nbr = (X[keep], np.where(y[keep] > i, y[keep] - 1, y[keep]))
        self._We = np.delete(self._We, i, axis=0)
        if self._Wl is not None:
            self._Wl = np.delete(self._Wl, i, axis=0)
        self.examples.pop(name, None)
        self.imprinted.discard(name)

    def refit(self) -> "IntentClassifier":
        """Train every intent (imprinted ones included) together and recalibrate."""
        self._require_fitted()
        texts = [t for ex in self.examples.values() for t in ex]
        labels = [lab for lab, ex in self.examples.items() for _ in ex]
        epochs, self.finetune_epochs = self.finetune_epochs, 0  # the encoder is already tuned
        try:
            return self.fit(texts, labels, oos_texts=self.oos_examples)
        finally:
            self.finetune_epochs = epochs

    # -- persistence --------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the classifier to a folder (JSON + NumPy arrays; a fine-tuned encoder alongside)."""
        self._require_fitted()
        path = Path(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            spec = _encoder_spec(self.encoder)
            if spec["kind"] == "minilm" and spec["path"] is not None and hasattr(self.encoder, "model"):
                # a fine-tuned encoder travels with the classifier
                enc_dir = path / "encoder"
                if Path(spec["path"]).resolve() != enc_dir.resolve():
                    if enc_dir.exists():
                        shutil.rmtree(enc_dir)
                    self.encoder.model.save(str(enc_dir))
                spec["path"] = "encoder"
            arrays: dict[str, np.ndarray] = {"We": self._We}
            vocab = None
            if self._lex is not None and self._Wl is not None:
                vocab, idf = self._lex.state()
                arrays.update(idf)
                arrays["Wl"] = self._Wl
            if self._calibration_scores is not None:
                arrays["cal_in"], arrays["cal_oos"] = self._calibration_scores[:2]
            if self._nbr is not None:
                arrays["nbr_E"], arrays["nbr_y"] = self._nbr
            np.savez_compressed(path / "weights.npz", **arrays)
            meta = {
                "format": "hearth-intent-classifier",
                "version": FORMAT_VERSION,
                "encoder": spec,
                "dim": int(self.encoder.dim),
                "classes": self.classes,
                "imprinted": sorted(self.imprinted),
                "imprint_map": list(self._imprint_map),
                "probability_scale": self.probability_scale,
                "settings": {
                    "lexical_weight": self.lexical_weight, "scale": self.scale,
                    "target_in_scope_recall": self.target_in_scope_recall,
                    "oos_score": self.oos_score, "oos_as_class": self.oos_as_class,
                    "calibration": self.calibration_mode,
                    "calibration_fraction": self.calibration_fraction,
                    "folds": self.folds, "max_iter": self.max_iter, "top_k": self.top_k,
                    "seed": self.seed, "neighbour_weight": self.neighbour_weight,
                    "neighbours": self.neighbours,
                },
                "calibration": asdict(self.calibration) if self.calibration else None,
                "calibration_scores_method": self._calibration_scores[2] if self._calibration_scores else None,
                "lexical_vocabulary": vocab,
                "examples": self.examples,
                "oos_examples": self.oos_examples,
            }
            (path / "classifier.json").write_text(json.dumps(meta, ensure_ascii=False, allow_nan=True))
        except OSError as err:
            raise ModelFileError(f"could not save the intent classifier to {path}: {err}") from err
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, encoder: Encoder | str | None = None) -> "IntentClassifier":
        """Read a classifier written by ``save``; ``encoder`` overrides the recorded one."""
        path = Path(path)
        try:
            meta = json.loads((path / "classifier.json").read_text())
            arrays = np.load(path / "weights.npz")
        except (OSError, ValueError) as err:
            raise ModelFileError(
                f"no readable intent classifier in {path} ({err}); it should hold classifier.json "
                "and weights.npz written by IntentClassifier.save()"
            ) from err
        if meta.get("format") != "hearth-intent-classifier" or meta.get("version") != FORMAT_VERSION:
            raise ModelFileError(
                f"{path} holds format {meta.get('format')!r} version {meta.get('version')!r}; "
                f"this hearth reads version {FORMAT_VERSION}"
            )
        if encoder is None:
            spec = meta["encoder"]
            if spec["kind"] == "minilm":
                encoder = (
                    get_encoder("minilm") if spec["path"] is None
                    else MiniLMEncoder(path / spec["path"], name=spec["name"])
                )
            elif spec["kind"] == "static":
                p = Path(spec["path"])
                encoder = StaticEncoder(p, name=spec["name"]) if p.exists() else get_encoder("static")
            else:
                raise ModelFileError(
                    f"{path} was trained with a custom encoder {spec['name']!r}; pass encoder= to load()"
                )
        enc = get_encoder(encoder)
        if enc.dim != meta["dim"]:
            raise ModelFileError(
                f"{path} was trained on {meta['dim']}-dimensional embeddings but encoder "
                f"{enc.name!r} gives {enc.dim}; load it with the encoder it was trained with"
            )
        s = meta["settings"]
        clf = cls(
            enc, lexical_weight=s["lexical_weight"], scale=s["scale"],
            target_in_scope_recall=s["target_in_scope_recall"], oos_score=s["oos_score"],
            oos_as_class=s["oos_as_class"], calibration=s["calibration"],
            calibration_fraction=s["calibration_fraction"], folds=s["folds"], max_iter=s["max_iter"],
            top_k=s["top_k"], seed=s["seed"], neighbour_weight=s.get("neighbour_weight", 0.0),
            neighbours=s.get("neighbours", 5),
        )
        clf.classes = list(meta["classes"])
        clf.imprinted = set(meta["imprinted"])
        clf._imprint_map = tuple(meta["imprint_map"])
        clf.probability_scale = meta.get("probability_scale")
        clf._We = np.asarray(arrays["We"], dtype=np.float32)
        if "nbr_E" in arrays:
            clf._nbr = (np.asarray(arrays["nbr_E"], np.float32), np.asarray(arrays["nbr_y"], np.int64))
        if meta["lexical_vocabulary"] is not None:
            clf._lex = _Lexical.from_state(meta["lexical_vocabulary"], arrays)
            clf._Wl = np.asarray(arrays["Wl"], dtype=np.float32)
        c = meta["calibration"]
        clf.calibration = CalibrationResult(**c) if c else None
        if meta.get("calibration_scores_method") and "cal_in" in arrays:
            clf._calibration_scores = (
                np.asarray(arrays["cal_in"]), np.asarray(arrays["cal_oos"]), meta["calibration_scores_method"]
            )
        clf.examples = {k: list(v) for k, v in meta["examples"].items()}
        clf.oos_examples = list(meta["oos_examples"])
        return clf


# ---------------------------------------------------------------------------------------------
# several classifiers together


class IntentEnsemble:
    """Intent classifiers voting together: a weighted product of their probabilities.

    Members that see utterances differently (an encoder fine-tuned on the task, the frozen
    encoders it started from, each beside its n-gram features) make different mistakes; the sum
    of their weighted log-probabilities, renormalised, is the ensemble's distribution. All members
    must know the same intents. The ensemble does not reject: every prediction is in scope, and
    ``familiarity`` is the combined probability of the best intent (calibrate a member for
    out-of-scope rejection).

    >>> ens = IntentEnsemble([IntentClassifier(tuned), IntentClassifier("minilm")],  # doctest: +SKIP
    ...                      weights=[1.0, 0.5]).fit(texts, labels)
    >>> ens.predict(["switch the lamp on"])[0].intent                               # doctest: +SKIP
    'lights_on'
    """

    def __init__(self, members: Sequence[IntentClassifier], *, weights: Sequence[float] | None = None,
                 top_k: int = 3):
        members = list(members)
        if not members:
            raise IntentDataError("an ensemble needs at least one member classifier")
        weights = [1.0] * len(members) if weights is None else [float(w) for w in weights]
        if len(weights) != len(members) or any(w < 0 for w in weights) or not any(weights):
            raise IntentDataError(
                f"give one non-negative weight per member ({len(members)}), not all zero; got {weights}"
            )
        self.members = members
        self.weights = weights
        self.top_k = int(top_k)

    def fit(self, texts: Sequence[str], labels: Sequence[str], *, calibrate: bool = True) -> "IntentEnsemble":
        """Fit every member on the same examples; returns self."""
        texts, labels = list(texts), list(labels)
        for m in self.members:
            m.fit(texts, labels, calibrate=calibrate)
        return self

    @property
    def intents(self) -> list[str]:
        return self.members[0].intents

    def intent_probabilities(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """(the intents, each text's combined probabilities over them as rows)."""
        intents = self.intents
        logp = np.zeros((len(texts), len(intents)), np.float64)
        for m, w in zip(self.members, self.weights):
            names, P = m.intent_probabilities(list(texts))
            if sorted(names) != sorted(intents):
                raise IntentDataError(
                    f"ensemble members know different intents ({len(names)} vs {len(intents)}); "
                    "fit them on the same examples"
                )
            if w:
                order = [names.index(c) for c in intents] if names != intents else slice(None)
                logp += w * np.log(np.maximum(P[:, order], 1e-12))
        return intents, _softmax(logp).astype(np.float32)

    def predict(self, texts: Sequence[str]) -> list[IntentPrediction]:
        """The best intent for each utterance (never out of scope) and the runners-up."""
        if isinstance(texts, str):
            raise TypeError("predict() takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        intents, P = self.intent_probabilities(texts)
        k = min(self.top_k, len(intents))
        top = np.argsort(-P, axis=1)[:, :k]
        out = []
        for i, text in enumerate(texts):
            cand = tuple((intents[j], float(P[i, j])) for j in top[i])
            out.append(IntentPrediction(text=text, intent=cand[0][0], confidence=cand[0][1], top_k=cand,
                                        out_of_scope=False, familiarity=cand[0][1]))
        return out

    def predict_intents(self, texts: Sequence[str]) -> list[str | None]:
        return [p.intent for p in self.predict(texts)]
