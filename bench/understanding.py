"""Benchmark: understanding utterances (encoder + intent classifier), beside plain sentence-transformers.

    python bench/understanding.py [--n 4000] [--repeats 200] [--threads N] [--json]

Two figures, each measured beside its baseline in the same run:
- ``batch_utterances_per_s``: the fast path (the static model2vec encoder + the intent classifier,
  out-of-scope check included) over N distinct utterances, against MiniLM through plain
  ``SentenceTransformer.encode`` (batch 64) on the same utterances (encoding only).
- ``single_p95_ms``: one utterance at a time through MiniLM (hearth runs it through ONNX Runtime,
  see ``reasoner.embeddings``; ``HEARTH_ENCODER_BACKEND=torch`` for sentence-transformers) + the
  intent classifier, against one ``SentenceTransformer.encode([text])`` call. Embedding caches
  are off, so every utterance is really encoded.

The classifier is trained on the hand-written fixture in ``tests/fixtures/intents``. With ``--json``
the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "fixtures" / "intents" / "home_intents.json"
SUFFIXES = (
    "", "please", "now", "right now", "in the kitchen", "in the bedroom", "for me", "thanks",
    "if you can", "quickly", "again", "for the kids", "this evening", "before dinner", "after lunch",
    "in the living room", "upstairs", "downstairs", "when you get a chance", "for a bit",
)


def utterances(n: int) -> tuple[list[str], list[str], list[str]]:
    """(training texts, labels, n distinct test utterances built from the fixture)."""
    data = json.loads(FIXTURE.read_text())
    texts = [t for ts in data["train"].values() for t in ts]
    labels = [k for k, ts in data["train"].items() for _ in ts]
    base = [t for ts in data["heldout"].values() for t in ts] + data["out_of_scope"] + texts
    out: list[str] = []
    i = 0
    while len(out) < n:
        for b in base:
            sfx = SUFFIXES[i % len(SUFFIXES)]
            out.append(f"{b} {sfx} {i // len(SUFFIXES)}".strip() if i >= len(SUFFIXES) else f"{b} {sfx}".strip())
            if len(out) >= n:
                break
        i += 1
    return texts, labels, list(dict.fromkeys(out))


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4000, help="distinct utterances for the batch figure")
    ap.add_argument("--repeats", type=int, default=200, help="single utterances for the latency figure")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads for both the pipeline and the baseline (default: torch's own); "
                         "1 keeps single-utterance latency steadier on shared cores")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)

    from reasoner.embeddings import MiniLMEncoder, StaticEncoder
    from reasoner.intents import IntentClassifier

    texts, labels, test = utterances(args.n)
    minilm = MiniLMEncoder(cache_size=0)
    static = StaticEncoder(cache_size=0)
    st = minilm.model  # the plain SentenceTransformer

    t0 = time.perf_counter()
    fast = IntentClassifier(static).fit(texts, labels)
    fit_static_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = IntentClassifier(minilm).fit(texts, labels)
    fit_minilm_s = time.perf_counter() - t0

    # warm up every path once
    fast.predict(test[:64])
    slow.predict(test[:8])
    st.encode(test[:64], batch_size=64)

    batch_fast_s = best_of(lambda: fast.predict(test))
    batch_static_only_s = best_of(lambda: static.encode(test))
    with torch.inference_mode():
        batch_st_s = best_of(lambda: st.encode(test, batch_size=64, convert_to_numpy=True), repeats=1)

    singles = test[: args.repeats]
    lat_pipeline, lat_st, lat_fast = [], [], []
    for text in singles:
        t0 = time.perf_counter()
        slow.predict([text])
        lat_pipeline.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with torch.inference_mode():
            st.encode([text], convert_to_numpy=True)
        lat_st.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fast.predict([text])
        lat_fast.append(time.perf_counter() - t0)

    n = len(test)
    result = {
        "batch_utterances_per_s": round(n / batch_fast_s, 1),
        "baseline_st_batch_utterances_per_s": round(n / batch_st_s, 1),
        "batch_speedup": round(batch_st_s / batch_fast_s, 1),
        "static_encode_only_utterances_per_s": round(n / batch_static_only_s, 1),
        "single_p95_ms": round(1000 * p95(lat_pipeline), 2),
        "single_median_ms": round(1000 * statistics.median(lat_pipeline), 2),
        "baseline_st_single_p95_ms": round(1000 * p95(lat_st), 2),
        "baseline_st_single_median_ms": round(1000 * statistics.median(lat_st), 2),
        "single_p95_ratio_to_baseline": round(p95(lat_pipeline) / p95(lat_st), 2),
        "fast_single_p95_ms": round(1000 * p95(lat_fast), 3),
        "n_batch": n,
        "n_single": len(singles),
        "n_intents": len(set(labels)),
        "fit_static_s": round(fit_static_s, 2),
        "fit_minilm_s": round(fit_minilm_s, 2),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    if not args.json:
        for k, v in result.items():
            print(f"{k:>38}: {v}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
