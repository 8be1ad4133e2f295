"""Slot spans learned from annotated examples: ``"wake me at [time : five am]"``.

The rule-based :mod:`reasoner.slots` knows the household's own words (devices, rooms, people from
the graph; numbers, times, dates, durations). Skills brought by data come with slot types of
their own (SLURP's 53: ``event_name``, ``media_type``, ``place_name`` …); :class:`SlotTagger`
learns those from a few thousand annotated utterances:

* every token is tagged ``B-type``, ``I-type`` or ``O`` by a multinomial logistic regression over
  sparse features: the word, its neighbours two either side, word pairs, prefixes and suffixes,
  its shape, number words, the utterance's intent and scenario (alone and with the word), and a
  **gazetteer** of the values seen in training (longest match; for the training tokens themselves
  the gazetteer is cross-fitted: built from the other half, so the model learns how far to trust
  a value it has not seen);
* the tag sequence is decoded with Viterbi under the BIO constraint (``I-x`` only after ``B-x`` or
  ``I-x``).

Scored by span: a predicted (type, words) pair is right when the gold has the same pair
(:func:`span_f1`, micro over utterances; values compared case-insensitively).

>>> tagger = SlotTagger().fit(["wake me at [time : five am]", "set an alarm for [time : six pm]",
...                            "play [artist_name : adele]", "play some [artist_name : queen]"])
>>> [(s.type, s.value) for s in tagger.tag("wake me at six pm")]
[('time', 'six pm')]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ReasonerError

__all__ = ["Span", "SlotTagger", "SlotTaggerError", "parse_annotation", "span_f1", "spans_of"]

_MARK = re.compile(r"\[\s*([\w.-]+)\s*:\s*([^\]]*?)\s*\]")
_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred thousand half quarter first second third fourth fifth".split())


class SlotTaggerError(ReasonerError, ValueError):
    """Annotated examples that cannot be read, or a tagger used before it is fitted."""


@dataclass(frozen=True)
class Span:
    """A slot value found in an utterance: its type, its words and their token positions."""

    type: str
    value: str
    start: int
    end: int  # exclusive


def parse_annotation(text: str) -> tuple[list[str], list[str]]:
    """Tokens and BIO tags of an annotated utterance (``"play [artist_name : adele]"``)."""
    if text.count("[") != text.count("]"):
        raise SlotTaggerError(f"unbalanced brackets in the annotated example {text!r}: mark a "
                              "slot as [type : words]")
    tokens: list[str] = []
    tags: list[str] = []
    pos = 0
    for m in _MARK.finditer(text):
        outside = text[pos:m.start()].split()
        tokens += outside
        tags += ["O"] * len(outside)
        words = m.group(2).split()
        tokens += words
        tags += [f"{'B' if i == 0 else 'I'}-{m.group(1)}" for i in range(len(words))]
        pos = m.end()
    rest = text[pos:].split()
    if any("[" in t or "]" in t for t in rest):
        raise SlotTaggerError(f"cannot read the slot markup in {text!r}: write [type : words]")
    tokens += rest
    tags += ["O"] * len(rest)
    return tokens, tags


def spans_of(tokens: Sequence[str], tags: Sequence[str]) -> list[Span]:
    """The spans a BIO tag sequence marks."""
    out: list[Span] = []
    start, kind = None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
            out.append(Span(kind, " ".join(tokens[start:i]), start, i))
            start, kind = None, None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, kind = i, tag[2:]
    return out


def _shape(word: str) -> str:
    if word.isdigit():
        return "digits"
    if any(c.isdigit() for c in word):
        return "mixed-digits"
    if word[:1].isupper():
        return "title"
    return "lower" if word.isalpha() else "other"


class _Gazetteer:
    """Known values per type, matched longest first over lower-cased tokens."""

    def __init__(self, examples: Sequence[tuple[list[str], list[str]]], max_len: int = 6):
        self.values: dict[tuple[str, ...], set[str]] = {}
        self.max_len = max_len
        for tokens, tags in examples:
            for s in spans_of(tokens, tags):
                key = tuple(w.lower() for w in tokens[s.start:s.end])
                if len(key) <= max_len:
                    self.values.setdefault(key, set()).add(s.type)

    def marks(self, tokens: Sequence[str]) -> list[list[str]]:
        low = [w.lower() for w in tokens]
        out: list[list[str]] = [[] for _ in tokens]
        i = 0
        while i < len(low):
            for n in range(min(self.max_len, len(low) - i), 0, -1):
                types = self.values.get(tuple(low[i:i + n]))
                if types:
                    for t in types:
                        out[i].append(f"gaz=B-{t}")
                        for j in range(i + 1, i + n):
                            out[j].append(f"gaz=I-{t}")
                    i += n
                    break
            else:
                i += 1
        return out


def _features(tokens: Sequence[str], gaz_marks: Sequence[list[str]], intent: str | None
              ) -> list[dict[str, float]]:
    low = [w.lower() for w in tokens]
    pad = ["<s2>", "<s>", *low, "</s>", "</s2>"]
    scenario = intent.split("_")[0] if intent else None
    rows = []
    for i, w in enumerate(low):
        j = i + 2
        f = {"bias": 1.0, f"w={w}": 1.0, f"p3={w[:3]}": 1.0, f"s3={w[-3:]}": 1.0,
             f"shape={_shape(tokens[i])}": 1.0, f"w-1={pad[j - 1]}": 1.0, f"w+1={pad[j + 1]}": 1.0,
             f"w-2={pad[j - 2]}": 1.0, f"w+2={pad[j + 2]}": 1.0,
             f"w-1|w={pad[j - 1]}|{w}": 1.0, f"w|w+1={w}|{pad[j + 1]}": 1.0}
        if w in _NUMBER_WORDS or w.isdigit():
            f["number"] = 1.0
        if intent:
            f[f"intent={intent}"] = 1.0
            f[f"intent|w={intent}|{w}"] = 1.0
            f[f"scenario={scenario}"] = 1.0
        for m in gaz_marks[i]:
            f[m] = 1.0
            if intent:
                f[f"{m}|scenario={scenario}"] = 1.0
        rows.append(f)
    return rows


class SlotTagger:
    """BIO slot tagging learned from annotated utterances (see the module docstring).

    ``c``: the inverse regularisation strength of the logistic regression.
    """

    def __init__(self, *, c: float = 4.0, seed: int = 0):
        self.c = c
        self.seed = seed
        self.tags: list[str] = []
        self._vec = None
        self._clf = None
        self._gaz: _Gazetteer | None = None
        self._allowed: np.ndarray | None = None

    @property
    def is_fitted(self) -> bool:
        return self._clf is not None

    def fit(self, annotated: Sequence[str], intents: Sequence[str | None] | None = None
            ) -> "SlotTagger":
        """Learns from utterances with their slots marked ``[type : words]``; ``intents``
        (optional, one per utterance) become features, and ``tag`` then takes one too."""
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        examples = [parse_annotation(a) for a in annotated]
        if intents is not None and len(intents) != len(examples):
            raise SlotTaggerError(f"fit got {len(examples)} utterances but {len(intents)} intents")
        intents = list(intents) if intents is not None else [None] * len(examples)
        labels = sorted({t for _, tags in examples for t in tags} | {"O"})
        if len(labels) == 1:
            raise SlotTaggerError("none of the examples marks a slot: write [type : words]")
        # the gazetteer features of training tokens come from the other half of the examples
        rng = np.random.default_rng(self.seed)
        half = rng.permutation(len(examples)) % 2
        gaz = [_Gazetteer([e for e, h in zip(examples, half) if h == side]) for side in (0, 1)]
        X, y = [], []
        for (tokens, tags), intent, h in zip(examples, intents, half):
            X += _features(tokens, gaz[1 - h].marks(tokens), intent)
            y += tags
        self._vec = DictVectorizer(dtype=np.float32)
        M = self._vec.fit_transform(X)
        self._clf = LogisticRegression(C=self.c, max_iter=300)
        self._clf.fit(M, y)
        self.tags = list(self._clf.classes_)
        self._gaz = _Gazetteer(examples)
        n = len(self.tags)
        allowed = np.ones((n + 1, n), dtype=bool)  # row n: the start of the utterance
        for j, t in enumerate(self.tags):
            if t.startswith("I-"):
                for i, p in enumerate(self.tags):
                    allowed[i, j] = p in (f"B-{t[2:]}", t)
                allowed[n, j] = False
        self._allowed = allowed
        return self

    def tag(self, text: str | Sequence[str], intent: str | None = None) -> list[Span]:
        """The slot spans of an utterance (a string split on whitespace, or its tokens)."""
        if not self.is_fitted:
            raise SlotTaggerError("this SlotTagger is not fitted: call fit(annotated) first")
        tokens = text.split() if isinstance(text, str) else list(text)
        if not tokens:
            return []
        M = self._vec.transform(_features(tokens, self._gaz.marks(tokens), intent))
        logp = np.log(np.clip(self._clf.predict_proba(M), 1e-12, None))
        return spans_of(tokens, self._viterbi(logp))

    def _viterbi(self, logp: np.ndarray) -> list[str]:
        n = len(self.tags)
        neg = -1e9
        score = np.where(self._allowed[n], logp[0], neg)
        back = np.zeros(logp.shape, dtype=np.int64)
        trans = np.where(self._allowed[:n], 0.0, neg)
        for t in range(1, len(logp)):
            cand = score[:, None] + trans
            back[t] = cand.argmax(axis=0)
            score = cand.max(axis=0) + logp[t]
        path = [int(score.argmax())]
        for t in range(len(logp) - 1, 0, -1):
            path.append(int(back[t, path[-1]]))
        return [self.tags[i] for i in reversed(path)]


def span_f1(gold: Sequence[Sequence[tuple[str, str]]],
            predicted: Sequence[Sequence[tuple[str, str]]]) -> dict[str, float]:
    """Micro precision, recall and F1 of (type, value) pairs, utterance by utterance (values
    compared case-insensitively; a pair counts as often as it occurs)."""
    from collections import Counter

    tp = n_gold = n_pred = 0
    for g, p in zip(gold, predicted):
        gc = Counter((t, v.lower()) for t, v in g)
        pc = Counter((t, v.lower()) for t, v in p)
        tp += sum((gc & pc).values())
        n_gold += sum(gc.values())
        n_pred += sum(pc.values())
    prec = tp / n_pred if n_pred else 0.0
    rec = tp / n_gold if n_gold else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1}
