"""How faithful and how fast the engine's explanations are: ``hearth eval explanations --json``.

**Faithfulness** is a deletion test (:func:`reasoner.attribution.deletion_test`) over a sample of
the engine's own scored decisions: every learned score on the built-in demo day (the intent
confidences of its utterances, its hunches, its resolution suggestions) and the intent confidences
of dev utterances (HWU64's valid split, or CLINC150's val, read from the shared data folder) under
the understanding classifier. For each decision, the ``k`` features with the largest positive
attributions are removed (set to their baselines: a word left out of the utterance, a fact left
out of the graph, a condition reset) and the score is recomputed; so are ``k`` features drawn at
random. A faithful explanation makes ``top_k_drop`` clearly larger than ``random_k_drop``. ``k``
is at most half of a decision's features (rounded up), so that a two-word utterance keeps a word.

**Speed**: ``rule_explain_p95_ms`` is the 95th percentile of ``explain()`` over the conclusions
drawn by rules and patterns (their derivations, down to the input events; goal 50 ms);
``shapley_explain_p95_ms`` that of computing the Shapley values of a learned score (exact or
sampled; goal 500 ms on 2 cores); ``explain_p95_ms`` is over both. An intent's attribution
re-encodes up to 64 masked utterances (more words: sampled, with a 350 ms deadline), so its time
follows the encoder's: ``encode_64_texts_ms`` measures that in the same run, and
``load_average_1m`` says how busy the machine was.

    hearth eval explanations [--data DIR] [--dev hwu64|clinc150|none] [--dev-samples 60]
                             [--k 2] [--seed 0] [--json]

Prints a summary (unless ``--json``) and one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .attribution import deletion_test

__all__ = ["main", "evaluate", "demo_household", "dev_utterances", "find_data"]

def find_data(given: str | None = None) -> Path | None:
    """The shared data folder: ``--data``, ``$HEARTH_DATA``, ``../shared/data`` beside the
    checkout, or ``/work/shared/data``; None when none exists."""
    if given:
        return Path(given) if Path(given).is_dir() else None
    candidates = [os.environ.get("HEARTH_DATA"),
                  str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                  "/work/shared/data"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return None


def dev_utterances(data: Path, dataset: str, *, n: int, seed: int) -> list[str]:
    """``n`` utterances drawn (seeded) from HWU64's valid split or CLINC150's val split."""
    if dataset == "hwu64":
        path = data / "hwu64" / "valid" / "seq.in"
        texts = [t.strip() for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    elif dataset == "clinc150":
        raw = json.loads((data / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
        texts = [t for t, _ in raw["val"]]
    else:
        raise SystemExit(f"unknown dev data set {dataset!r}: use hwu64, clinc150 or none")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(texts), size=min(n, len(texts)), replace=False)
    return [texts[i] for i in sorted(picks)]


def demo_household():
    """The built-in demo day, replayed into an in-memory household with the default pipeline."""
    from hearth import Hearth
    from hearth.demo import DEMO_DAY
    from kg.ingest import parse_lines

    events, _ = parse_lines(DEMO_DAY.read_text().splitlines())
    home = Hearth.in_memory().create_household("rivera", name="The Riveras",
                                               time=events[0].time)
    for e in events:
        home.append(e)
    return home


def _p95(values: Sequence[float]) -> float | None:
    return round(float(np.percentile(values, 95)), 2) if len(values) else None


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if len(values) else None


class _Tally:
    def __init__(self):
        self.tops: list[float] = []
        self.randoms: list[float] = []
        self.attr_ms: list[float] = []
        self.methods: dict[str, int] = {}

    def add(self, top: float, rand: float, ms: float, method: str) -> None:
        self.tops.append(top)
        self.randoms.append(rand)
        self.attr_ms.append(ms)
        self.methods[method] = self.methods.get(method, 0) + 1

    def as_dict(self) -> dict:
        return {"decisions": len(self.tops), "top_k_drop": _mean(self.tops),
                "random_k_drop": _mean(self.randoms),
                "top_beats_random": _mean([float(t > r + 1e-12)
                                           for t, r in zip(self.tops, self.randoms)]),
                "shapley_p95_ms": _p95(self.attr_ms), "methods": dict(self.methods)}


def _delete(score, attribution, k: int, rng, repeats: int) -> tuple[float, float]:
    n = len(score.features)
    k_eff = max(1, min(k, math.ceil(n / 2)))
    r = deletion_test(score.score_fn, score.features, attribution, k_eff, rng=rng,
                      score_batch=score.score_batch, repeats=repeats)
    return float(r.top_k_drop), float(r.random_k_drop)


def evaluate(*, data: Path | None, dev: str = "hwu64", dev_samples: int = 60, k: int = 2,
             seed: int = 0, repeats: int = 16, log=print, home=None, classifier=None) -> dict:
    """The deletion test and the timings (see the module docstring). ``home``: the household
    whose conclusions are explained (default: the demo day, :func:`demo_household`);
    ``classifier``: the intent classifier for the dev utterances (default: understanding's)."""
    from kg import events as E

    from .attribution import attribute
    from .explain import INTENT_OPTIONS, LearnedScore, explain, learned_score
    from .patterns import ActivityInferred, SuggestionMade
    from .understanding import _as_prediction, default_understander, score_features

    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    home = demo_household() if home is None else home
    log(f"demo household: {home.head} events ({time.perf_counter() - started:.1f} s)")
    rule_ms: list[float] = []
    explain_ms: list[float] = []
    reach = []
    groups: dict[str, _Tally] = {}
    kinds: dict[str, _Tally] = {}
    retracted = home.state.retracted
    for seq, event in home.events():
        if not event.derived_from or home.ids.event(seq) in retracted:
            continue
        score = learned_score(home, seq)
        t = time.perf_counter()
        why = explain(home, seq)
        ms = (time.perf_counter() - t) * 1000
        explain_ms.append(ms)
        reach.append(bool(why.input_events()))
        if score is None:
            if isinstance(event, (E.FactInferred, ActivityInferred, SuggestionMade)):
                rule_ms.append(ms)
                if isinstance(event, E.FactInferred):  # and the triples it concluded
                    for triple in E.parse_triples(event.rdf):
                        t = time.perf_counter()
                        explain(home, triple)
                        rule_ms.append((time.perf_counter() - t) * 1000)
            continue
        t = time.perf_counter()
        attribution = score.attribute()
        attr_ms = (time.perf_counter() - t) * 1000
        top, rand = _delete(score, attribution, k, rng, repeats)
        kind = why.kind
        for table, key in ((groups, "demo"), (kinds, kind)):
            table.setdefault(key, _Tally()).add(top, rand, attr_ms, attribution.method)
    log(f"demo: {len(explain_ms)} conclusions explained, {len(rule_ms)} rule explanations")
    dev_path = None
    encode_64_ms = None
    if dev != "none" and data is not None:
        classifier = classifier or default_understander().classifier
        texts = dev_utterances(data, dev, n=dev_samples, seed=seed)
        dev_path = str(data / dev)
        encoder = getattr(classifier, "encoder", None)
        if encoder is not None:  # the machine's speed now: 64 new short texts, as one batch
            probe = [f"{t} ({seed}:{i})" for i, t in enumerate((texts * 64)[:64])]
            t = time.perf_counter()
            encoder.encode(probe)
            encode_64_ms = round((time.perf_counter() - t) * 1000, 1)
        for text in texts:
            p = _as_prediction(classifier.predict([text])[0])
            intent = None if p.out_of_scope else p.label
            features, score_batch = score_features(text, intent, classifier=classifier)
            if not features:
                continue
            t = time.perf_counter()
            attribution = attribute(None, features, score_batch=score_batch, **INTENT_OPTIONS)
            attr_ms = (time.perf_counter() - t) * 1000
            explain_ms.append(attr_ms)
            score = LearnedScore(tuple(features), score_batch=score_batch)
            top, rand = _delete(score, attribution, k, rng, repeats)
            for table, key in ((groups, dev), (kinds, "interpretation")):
                table.setdefault(key, _Tally()).add(top, rand, attr_ms, attribution.method)
        log(f"{dev}: {len(texts)} utterances attributed")
    all_tops = [x for g in groups.values() for x in g.tops]
    all_rand = [x for g in groups.values() for x in g.randoms]
    shapley_ms = [x for g in groups.values() for x in g.attr_ms]
    methods: dict[str, int] = {}
    for g in groups.values():
        for m, c in g.methods.items():
            methods[m] = methods.get(m, 0) + c
    return {
        "top_k_drop": _mean(all_tops), "random_k_drop": _mean(all_rand),
        "top_beats_random": _mean([float(t > r + 1e-12) for t, r in zip(all_tops, all_rand)]),
        "explain_p95_ms": _p95(explain_ms + rule_ms),
        "rule_explain_p95_ms": _p95(rule_ms), "shapley_explain_p95_ms": _p95(shapley_ms),
        "decisions": len(all_tops), "k": k, "rule_explanations": len(rule_ms),
        "demo_conclusions": len(reach), "reach_input_events": _mean([float(r) for r in reach]),
        "by_source": {key: g.as_dict() for key, g in groups.items()},
        "by_kind": {key: g.as_dict() for key, g in kinds.items()},
        "methods": methods, "dev_data": dev_path, "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "encode_64_texts_ms": encode_64_ms,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hearth eval explanations",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="the shared data folder (with hwu64/ or clinc150/)")
    parser.add_argument("--dev", default="hwu64", choices=["hwu64", "clinc150", "none"])
    parser.add_argument("--dev-samples", type=int, default=60)
    parser.add_argument("--k", type=int, default=2, help="features removed per decision")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    data = find_data(args.data)
    if args.data and data is None:
        raise SystemExit(f"no data folder at {args.data}")
    log = (lambda *a: None) if args.json else print
    if data is None and args.dev != "none":
        log("no shared data folder found (--data DIR or $HEARTH_DATA): dev data skipped")
    result = evaluate(data=data, dev=args.dev, dev_samples=args.dev_samples, k=args.k,
                      seed=args.seed, log=log)
    if not args.json:
        print(f"deletion test over {result['decisions']} decisions (k={result['k']}): top-k "
              f"drop {result['top_k_drop']} vs random {result['random_k_drop']} "
              f"(top beats random in {result['top_beats_random']:.0%})")
        print(f"p95: rule explanations {result['rule_explain_p95_ms']} ms, Shapley "
              f"{result['shapley_explain_p95_ms']} ms, all {result['explain_p95_ms']} ms")
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
