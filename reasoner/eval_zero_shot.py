"""Zero-shot intents: an utterance → one of a data set's intents, knowing only the intents' names
and domains and what the knowledge bases say about those names (never a training utterance).

Each intent name (``freeze_account``, ``pto_request_status``, ``what_is_your_name``) is expanded
into a small set of texts (:func:`expand_name`):

* the name as written and as words ("freeze account");
* **typical requests** generated from the shape of the name, with the offline lexicon telling a
  verb from a noun: a verb first gives imperatives and wishes ("freeze my account", "I want to
  freeze my account", "how do I freeze account"); a noun phrase gives questions and checks ("what
  is my interest rate", "check my interest rate"); a trailing ``when``/``how``/``status``/
  ``change``/``update``/``request`` gives the matching frame ("when should I oil change", "what
  is the status of my pto request", "change my pin"); a question name stays a question ("how old
  are you?");
* **lexicon facts** (WordNet, offline): the gloss and synonyms of a multiword name WordNet knows
  as one lemma ("interest rate: the percentage of a sum of money charged for its use", "rate of
  interest"), and, for a one-noun name, its synonyms and kinds (hyponyms: "greeting" → hello,
  good morning);
* optionally (``--conceptnet``), **related terms** from ConceptNet for each word of the name,
  through the connectors' transport: fetched with ``--online`` and kept in the on-disk cache
  (``~/.cache/hearth``), so a later ``--offline`` run reproduces the figures from the cache.

An utterance's score for an intent blends its MiniLM cosine similarity to the name as written
(0.3) and the mean of its three most similar expansion texts (0.7). The baseline, in the same run
and with the same encoder, is the plain cosine similarity between the utterance and the name.

    hearth eval zero-shot --format clinc150 --data data_full.json --split val --json

The last line is one JSON object: ``top1``, ``top3`` (percent), ``baseline_top1``,
``baseline_top3``, ``lexicon_off_top1``/``lexicon_off_top3`` (the same method without the
lexicon facts, an ablation), ``utterances``, ``intents``, ``expansions``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("hearth.reasoner.eval_zero_shot")

__all__ = ["Expansion", "ZeroShotIntents", "evaluate", "expand_name", "load_clinc150", "main"]

_QUESTION_WORDS = {"what", "who", "how", "where", "when", "why", "are", "do", "is", "can",
                   "which", "whats", "does", "will"}
_PERSONAL = {"you", "your", "i", "my", "me"}
_ACTION_TAILS = ("change", "update", "request")
_STOP = {"my", "the", "a", "an", "to", "of", "for", "in", "on", "and", "or", "you", "your", "i",
         "me", "is", "are", "do", "what", "who", "how", "where", "when", "can"}


@dataclass(frozen=True)
class Expansion:
    """One text standing for an intent, and where it came from: ``name``, ``template``,
    ``wordnet`` or ``conceptnet``."""

    text: str
    source: str


def _is_verb(word: str, lexicon) -> bool:
    """A word that can open an imperative: WordNet knows it as a verb, and its verb senses are
    the more frequent (or at least as many as its noun senses)."""
    if lexicon is None:
        return False
    verbs = lexicon.lookup(word, pos="v").synsets
    if not verbs:
        return False
    senses = lexicon.synsets(word)
    nouns = lexicon.lookup(word, pos="n").synsets
    return (bool(senses) and senses[0].pos == "v") or len(verbs) >= len(nouns)


def typical_requests(name: str, lexicon=None) -> list[str]:
    """Requests a person might make of an intent, generated from the shape of its name.

    >>> typical_requests("pin_change")[:3]
    ['pin change', 'change my pin', 'I want to change my pin']
    >>> typical_requests("how_old_are_you")[:2]
    ['how old are you', 'how old are you?']
    """
    words = [w for w in name.lower().replace("-", "_").split("_") if w]
    phrase = " ".join(words)
    out = [phrase]
    if not words:
        return out
    if words[0] in _QUESTION_WORDS or (len(words) > 1 and words[1] in _PERSONAL):
        return out + [f"{phrase}?", f"tell me {phrase}", f"I want to know {phrase}"]
    tail, core = words[-1], " ".join(words[:-1])
    if len(words) > 1 and tail in ("when", "how", "status"):
        if tail == "when":
            out += [f"when should I {core}", f"when is my next {core}", f"when do I need {core}"]
        elif tail == "how":
            out += [f"how do I {core}", f"how to {core}", f"show me how to {core}"]
        else:
            out += [f"what is the status of my {core}", f"has my {core} been approved",
                    f"check on my {core}"]
        return out
    if len(words) > 1 and tail in _ACTION_TAILS:
        return out + [f"{tail} my {core}", f"I want to {tail} my {core}",
                      f"can you {tail} my {core}", f"please {tail} the {core}",
                      f"I need to {tail} {core}"]
    if _is_verb(words[0], lexicon):
        if len(words) > 1:
            v, obj = words[0], " ".join(words[1:])
            return out + [f"{v} my {obj}", f"I want to {v} my {obj}", f"can you {v} my {obj}",
                          f"please {v} the {obj}", f"how do I {v} {obj}", f"help me {v} {obj}",
                          f"I need to {v} a {obj}"]
        v = words[0]
        out += [f"I want to {v}", f"can you {v}", f"please {v}", f"{v} it", f"help me {v}"]
    return out + [f"what is my {phrase}", f"what is the {phrase}", f"tell me about {phrase}",
                  f"check my {phrase}", f"how much is my {phrase}", f"I need {phrase}",
                  f"{phrase} please", f"what about {phrase}"]


def lexicon_expansions(name: str, lexicon) -> list[str]:
    """What WordNet says about a name: the gloss and synonyms of a multiword part it knows as
    one lemma, and for a one-noun name its synonyms and kinds (hyponyms)."""
    if lexicon is None:
        return []
    words = [w for w in name.lower().split("_") if w]
    out: list[str] = []
    for size in range(len(words), 1, -1):
        for i in range(len(words) - size + 1):
            part = " ".join(words[i:i + size])
            entry = lexicon.lookup(part, max_senses=1)
            if entry.found and entry.lemma and "_" in entry.lemma:
                out.append(f"{part}: {entry.glosses[0]}")
                out += [" ".join(words[:i] + [s] + words[i + size:])
                        for s in entry.synonyms[:2]]
    if len(words) == 1 and words[0] not in _STOP:
        entry = lexicon.lookup(words[0], pos="n", max_senses=1)
        if entry.found:
            synset = entry.synsets[0]
            out += [w for w in synset.lemmas if w.lower() != words[0]][:4]
            out += [lexicon.lemmas_of(p.target)[0] for p in synset.targets("hyponym")][:6]
    return out


def conceptnet_expansions(name: str, client, *, limit: int = 5) -> tuple[list[str], int]:
    """Related terms from ConceptNet for each word of the name, as the name with the word
    replaced ("pto balance" → "vacation balance"). Returns the texts and how many lookups
    failed (offline and not cached, or the service failing)."""
    from connectors.errors import ConnectorError
    words = [w for w in name.lower().split("_") if w]
    out, failed = [], 0
    for i, word in enumerate(words):
        if word in _STOP or len(word) < 2:
            continue
        try:
            related = client.related(word, limit=limit)
        except ConnectorError:
            failed += 1
            continue
        for item in related.related[:limit]:
            out.append(" ".join(words[:i] + [item.label] + words[i + 1:]))
    return out, failed


def expand_name(name: str, *, domain: str | None = None, lexicon=None, conceptnet=None
                ) -> list[Expansion]:
    """Every text standing for an intent name (see the module docstring)."""
    out = [Expansion(name, "name")]
    out += [Expansion(t, "template") for t in typical_requests(name, lexicon)]
    out += [Expansion(t, "wordnet") for t in lexicon_expansions(name, lexicon)]
    if conceptnet is not None:
        texts, _ = conceptnet_expansions(name, conceptnet)
        out += [Expansion(t, "conceptnet") for t in texts]
    seen: dict[str, Expansion] = {}
    for e in out:
        seen.setdefault(e.text, e)
    return list(seen.values())


def _normalize(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


class ZeroShotIntents:
    """Maps utterances to intents from their names alone (and their expansions).

    ``encoder``: anything with ``encode(texts)``; ``name_weight``: the share of the similarity
    to the name as written; ``k``: how many of an intent's most similar expansions count.
    """

    def __init__(self, names: Sequence[str], encoder, *,
                 expansions: Mapping[str, Sequence[Expansion]] | None = None,
                 domains: Mapping[str, str] | None = None, lexicon=None,
                 name_weight: float = 0.3, k: int = 3,
                 sources: Iterable[str] = ("name", "template", "wordnet", "conceptnet")):
        self.names = list(names)
        self.encoder = encoder
        self.name_weight = name_weight
        self.k = k
        domains = domains or {}
        if expansions is None:
            expansions = {n: expand_name(n, domain=domains.get(n), lexicon=lexicon)
                          for n in self.names}
        keep = set(sources)
        texts, owner = [], []
        for i, n in enumerate(self.names):
            for e in expansions[n]:
                if e.source in keep:
                    texts.append(e.text)
                    owner.append(i)
        self.texts = texts
        self.owner = np.array(owner)
        self.vectors = _normalize(encoder.encode(texts)) if texts else np.zeros((0, 1))
        self.name_vectors = _normalize(encoder.encode(self.names))

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        vectors = _normalize(vectors)
        sims = vectors @ self.vectors.T
        expanded = np.full((len(vectors), len(self.names)), -1.0, dtype=np.float32)
        for i in range(len(self.names)):
            cols = sims[:, self.owner == i]
            if cols.shape[1]:
                kk = min(self.k, cols.shape[1])
                expanded[:, i] = -np.sort(-cols, axis=1)[:, :kk].mean(axis=1)
        plain = vectors @ self.name_vectors.T
        return self.name_weight * plain + (1 - self.name_weight) * expanded

    def rank(self, texts: Sequence[str], *, top: int = 3) -> list[list[tuple[str, float]]]:
        """The ``top`` intents for each text, best first, with their scores."""
        scores = self.scores(self.encoder.encode(list(texts)))
        order = np.argsort(-scores, axis=1)[:, :top]
        return [[(self.names[j], float(scores[r, j])) for j in row]
                for r, row in enumerate(order)]


def _top(scores: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    order = np.argsort(-scores, axis=1)
    top1 = float((order[:, 0] == gold).mean() * 100)
    top3 = float((order[:, :3] == gold[:, None]).any(axis=1).mean() * 100)
    return round(top1, 2), round(top3, 2)


def load_clinc150(data: str | Path, *, split: str = "val", domains: str | Path | None = None
                  ) -> tuple[list[str], list[str], list[str], dict[str, str]]:
    """(utterances, gold intents, intent names, domain of each intent) of a CLINC150 split; the
    out-of-scope queries are left out (zero-shot mapping is over in-scope intents)."""
    path = Path(data)
    if path.is_dir():
        path = path / "data_full.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SystemExit(f"cannot read CLINC150 data from {path}: {err}; pass --data "
                         "data_full.json (the CLINC150 release)") from None
    if split not in raw:
        raise SystemExit(f"{path} has no split {split!r}; its splits: {', '.join(raw)}")
    dom_path = Path(domains) if domains else path.with_name("domains.json")
    if dom_path.exists():
        dom = json.loads(dom_path.read_text(encoding="utf-8"))
        domain_of = {n: d for d, intents in dom.items() for n in intents}
        names = [n for intents in dom.values() for n in intents]
    else:
        domain_of = {}
        names = sorted({label for _, label in raw[split] if label != "oos"})
    pairs = [(t, label) for t, label in raw[split] if label != "oos" and label in set(names)]
    return [t for t, _ in pairs], [label for _, label in pairs], names, domain_of


def evaluate(texts: Sequence[str], gold: Sequence[str], names: Sequence[str], encoder, *,
             domains: Mapping[str, str] | None = None, lexicon=None, conceptnet=None) -> dict:
    """Scores the zero-shot mapping, its ablation without the lexicon, and the baseline
    (similarity to the name as written), over one encoding of the utterances."""
    started = time.perf_counter()
    domains = domains or {}
    expansions = {n: expand_name(n, domain=domains.get(n), lexicon=lexicon,
                                 conceptnet=conceptnet) for n in names}
    index = {n: i for i, n in enumerate(names)}
    y = np.array([index[g] for g in gold])
    vectors = _normalize(encoder.encode(list(texts)))
    full = ZeroShotIntents(names, encoder, expansions=expansions)
    no_lex = ZeroShotIntents(names, encoder, expansions=expansions,
                             sources=("name", "template", "conceptnet"))
    baseline = vectors @ full.name_vectors.T
    top1, top3 = _top(full.scores(vectors), y)
    lex1, lex3 = _top(no_lex.scores(vectors), y)
    base1, base3 = _top(baseline, y)
    counts: dict[str, int] = {}
    for exp in expansions.values():
        for e in exp:
            counts[e.source] = counts.get(e.source, 0) + 1
    return {"top1": top1, "top3": top3, "baseline_top1": base1, "baseline_top3": base3,
            "lexicon_off_top1": lex1, "lexicon_off_top3": lex3,
            "utterances": len(texts), "intents": len(names), "expansions": counts,
            "elapsed_s": round(time.perf_counter() - started, 1)}


def main(argv: Sequence[str] | None = None) -> int:
    """``hearth eval zero-shot --format clinc150 --data FILE --split val [--json]``."""
    parser = argparse.ArgumentParser(prog="hearth eval zero-shot", description=(
        "Map utterances to intents from the intents' names and knowledge-base expansions "
        "alone; the baseline is MiniLM similarity to the name."))
    parser.add_argument("--format", default="clinc150", choices=["clinc150"])
    parser.add_argument("--data", required=True, help="CLINC150's data_full.json (or its folder)")
    parser.add_argument("--domains", help="domains.json (default: beside the data)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, help="only the first N utterances (a quick check)")
    parser.add_argument("--encoder", default="minilm", help="minilm or static")
    parser.add_argument("--conceptnet", action="store_true",
                        help="add ConceptNet's related terms (from the cache unless --online)")
    parser.add_argument("--online", action="store_true",
                        help="with --conceptnet: fetch what the cache lacks")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))

    texts, gold, names, domains = load_clinc150(args.data, split=args.split,
                                                domains=args.domains)
    if args.limit:
        texts, gold = texts[:args.limit], gold[:args.limit]
    from connectors.lexicon import Lexicon

    from .embeddings import get_encoder
    encoder = get_encoder(args.encoder)
    lexicon = Lexicon.default()
    conceptnet = None
    if args.conceptnet:
        from connectors.conceptnet import ConceptNetClient
        from connectors.transport import Transport
        conceptnet = ConceptNetClient(transport=Transport.default(offline=not args.online))
    result = evaluate(texts, gold, names, encoder, domains=domains, lexicon=lexicon,
                      conceptnet=conceptnet)
    result.update({"format": args.format, "split": args.split, "encoder": args.encoder,
                   "conceptnet": bool(args.conceptnet)})
    print(f"zero-shot over {result['intents']} intents, {result['utterances']} utterances "
          f"({args.split}): top-1 {result['top1']:.1f}, top-3 {result['top3']:.1f}; "
          f"baseline (name similarity) top-1 {result['baseline_top1']:.1f}, "
          f"top-3 {result['baseline_top3']:.1f}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
