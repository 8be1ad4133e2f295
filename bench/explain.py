"""Shapley attribution benchmark (``reasoner.attribution``): time per explanation and accuracy of
the samplers against exact values, with baselines measured in the same run.

    python bench/explain.py --json

The scored decision is a classifier's confidence: a softmax over ``--classes`` outputs of a linear
model over a 384-d input that is the sum of one vector per present feature (a bag of recognisable
features: words, time of day, recent requests ...; absent = not added). 600 outputs make one call
of the per-coalition score function cost ~50 µs (``score_us``, measured and reported). Decisions
are drawn with a fixed seed; each explanation is timed once, ``--decisions`` of them per case.
BLAS runs on one thread (``--blas-threads``): on 2 shared cores two threads made the batched
score ~4x slower.

Cases and keys:
* ``exact_8_p95_ms``: exact Shapley values over 8 features (per-coalition score function).
* ``sampled_25_p95_ms`` / ``sampled_30_p95_ms``: the default sampler (``method="sampled"``,
  default budget) over 25 / 30 features, per-coalition score function; ``..._batched_p95_ms`` the
  same with ``score_batch`` (one vectorised call per chunk).
* ``explain_p95_ms``: the largest of the per-coalition p95s above (what a caller without a
  vectorised model sees); goal ≤ 500 ms for sampled on 2 cores.
* ``mae_12_<sampler>_<budget>``: mean absolute error of sampled values against exact ones over 12
  features, averaged over the decisions, for antithetic permutations and paired KernelSHAP at equal
  budgets of scored coalitions (1024 and 2048 are a quarter and a half of exact enumeration's 4096);
  ``mae_12_plain_<budget>`` the baseline (plain permutation sampling: no antithetic pairs, no
  memoisation), ``mae_ratio_plain_over_default`` its MAE over ours at 1024; ``mean_abs_value_12``
  the mean |exact value| for scale; ``se_coverage_12`` the share of sampled values within 2
  standard errors of the exact one (default sampler, 1024).
* ``exact_naive_ratio``: the time of naive exact enumeration (no memoisation: 2 calls per marginal,
  n·2^n calls) over the memoised one, 8 features.
* ``deletion_top_k_drop`` / ``deletion_random_k_drop``: the deletion test (k=3) over the 25-feature
  decisions.
* ``shap_*``: the PyPI ``shap`` package on the same 12-feature games, when it can be imported
  (``shap_import_s``, its ``PermutationExplainer`` and ``KernelExplainer`` p50/p95 times and MAE
  at the default budget, batched); absent otherwise. Compare with ``exact_12_batched_p95_ms``,
  ``permutation_12_batched_p95_ms`` and ``kernel_12_batched_p95_ms`` (ours, same games, batched).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reasoner.attribution import (DEFAULT_SAMPLES, Feature, ScoredDecision, attribute,  # noqa: E402
                                  evaluate_explanations)

DIM = 384


def make_decision(n: int, rng: np.random.Generator, classes: int):
    """A random intent model and an input of ``n`` features; the explained class is the winner."""
    W = rng.normal(size=(classes, DIM)).astype(np.float64) / math.sqrt(DIM)
    E = rng.normal(size=(n, DIM)) * 1.5 / math.sqrt(n) * 2
    b0 = rng.normal(size=DIM) * 0.3
    x_full = b0 + E.sum(axis=0)
    target = int(np.argmax(W @ x_full))
    names = [f"f{i}" for i in range(n)]
    index = {name: i for i, name in enumerate(names)}
    features = [Feature(name, f"feature {name}") for name in names]

    def score_fn(present: frozenset) -> float:
        x = b0 + E[[index[p] for p in present]].sum(axis=0) if present else b0
        z = W @ x
        z = np.exp(z - z.max())
        return float(z[target] / z.sum())

    def score_batch(masks: np.ndarray) -> np.ndarray:
        X = b0 + masks.astype(float) @ E
        Z = X @ W.T
        Z = np.exp(Z - Z.max(axis=1, keepdims=True))
        return Z[:, target] / Z.sum(axis=1)

    return features, score_fn, score_batch


def percentile(values, q):
    return float(np.percentile(np.asarray(values), q))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1000


def plain_permutation(score_batch, n, budget, rng):
    """Baseline sampler: independent permutations, no antithetic pairs, no memoisation."""
    perms = max(1, budget // (n - 1))
    phi = np.zeros(n)
    for _ in range(perms):
        order = rng.permutation(n)
        masks = np.zeros((n + 1, n), dtype=bool)
        for k, j in enumerate(order):
            masks[k + 1:, j] = True
        vals = score_batch(masks)
        phi[order] += np.diff(vals)
    return phi / perms


def naive_exact(score_fn, features):
    """Baseline exact: every marginal scored afresh (two calls each)."""
    names = [f.name for f in features]
    n = len(names)
    phi = np.zeros(n)
    for i, name in enumerate(names):
        others = [m for m in names if m != name]
        for size in range(n):
            w = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for combo in itertools.combinations(others, size):
                s = frozenset(combo)
                phi[i] += w * (score_fn(s | {name}) - score_fn(s))
    return phi


def run_shap(decisions, exact_values, budget):
    try:
        t = time.perf_counter()
        import shap
        import_s = time.perf_counter() - t
    except ImportError:
        return {}
    out = {"shap_version": shap.__version__, "shap_import_s": round(import_s, 2)}
    for kind in ("permutation", "kernel"):
        times, errs = [], []
        for (features, _fn, batch), exact in zip(decisions, exact_values):
            n = len(features)
            f = lambda X: batch(np.asarray(X) > 0.5)  # noqa: E731
            background, x = np.zeros((1, n)), np.ones((1, n))
            t = time.perf_counter()
            if kind == "permutation":
                explainer = shap.PermutationExplainer(f, shap.maskers.Independent(background))
                values = explainer(x, max_evals=budget, silent=True).values[0]
            else:
                explainer = shap.KernelExplainer(f, background, silent=True)
                values = explainer.shap_values(x, nsamples=budget, silent=True)[0]
            times.append((time.perf_counter() - t) * 1000)
            errs.append(float(np.mean(np.abs(np.asarray(values) - exact))))
        out[f"shap_{kind}_12_p50_ms"] = round(percentile(times, 50), 1)
        out[f"shap_{kind}_12_p95_ms"] = round(percentile(times, 95), 1)
        out[f"shap_{kind}_12_mae"] = round(float(np.mean(errs)), 5)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=20)
    parser.add_argument("--classes", type=int, default=600)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads for the batched score (several are ~4x slower on 2 "
                             "shared cores)")
    parser.add_argument("--no-shap", action="store_true", help="skip the shap package")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits
    with threadpool_limits(args.blas_threads):
        return run(args)


def run(args) -> int:
    rng = np.random.default_rng(args.seed)
    result: dict = {"decisions": args.decisions, "default_samples": DEFAULT_SAMPLES}

    features, score_fn, _ = make_decision(25, rng, args.classes)
    calls = [frozenset(f.name for f in features if rng.random() < 0.5) for _ in range(2000)]
    t = time.perf_counter()
    for s in calls:
        score_fn(s)
    result["score_us"] = round((time.perf_counter() - t) / len(calls) * 1e6, 1)

    # exact, 8 features, against naive enumeration
    times, naive_times = [], []
    for _ in range(args.decisions):
        features, score_fn, _ = make_decision(8, rng, args.classes)
        a, ms = timed(lambda: attribute(score_fn, features, method="exact"))
        times.append(ms)
    features, score_fn, _ = make_decision(8, rng, args.classes)
    for _ in range(3):
        ref, ms = timed(lambda: naive_exact(score_fn, features))
        naive_times.append(ms)
        a, ms_memo = timed(lambda: attribute(score_fn, features, method="exact"))
        assert np.allclose(ref, [c.value for c in a.contributions])
    result["exact_8_p95_ms"] = round(percentile(times, 95), 2)
    result["exact_naive_ratio"] = round(float(np.median(naive_times)) / percentile(times, 50), 1)

    # sampled, 25 and 30 features, per-coalition and batched
    decisions25 = []
    for n in (25, 30):
        per_call, batched, errors = [], [], []
        for _ in range(args.decisions):
            features, score_fn, score_batch = make_decision(n, rng, args.classes)
            if n == 25:
                decisions25.append(ScoredDecision(tuple(features), score_fn=score_fn))
            a, ms = timed(lambda: attribute(score_fn, features, method="sampled"))
            per_call.append(ms)
            b, ms_b = timed(lambda: attribute(None, features, score_batch=score_batch,
                                              method="sampled"))
            batched.append(ms_b)
            errors.append(a.error_estimate)
        result[f"sampled_{n}_p95_ms"] = round(percentile(per_call, 95), 1)
        result[f"sampled_{n}_batched_p95_ms"] = round(percentile(batched, 95), 1)
        result[f"sampled_{n}_max_se_mean"] = round(float(np.mean(errors)), 4)
    result["explain_p95_ms"] = max(result["sampled_25_p95_ms"], result["sampled_30_p95_ms"],
                                   result["exact_8_p95_ms"])

    # accuracy on 12 features against exact values
    games12 = [make_decision(12, rng, args.classes) for _ in range(args.decisions)]
    exact12, times = [], []
    for f, _fn, b in games12:
        a, ms = timed(lambda: attribute(None, f, score_batch=b, method="exact"))
        exact12.append(np.array([c.value for c in a.contributions]))
        times.append(ms)
    result["exact_12_batched_p95_ms"] = round(percentile(times, 95), 1)
    for budget in (1024, 2048, DEFAULT_SAMPLES):
        for sampler in ("permutation", "kernel"):
            errs, times = [], []
            for (f, _fn, b), exact in zip(games12, exact12):
                a, ms = timed(lambda: attribute(None, f, score_batch=b, method=sampler,
                                                samples=budget, seed=1))
                times.append(ms)
                errs.append(float(np.mean(np.abs(np.array([c.value for c in a.contributions])
                                                  - exact))))
            result[f"mae_12_{sampler}_{budget}"] = round(float(np.mean(errs)), 5)
            if budget == DEFAULT_SAMPLES:
                result[f"{sampler}_12_batched_p95_ms"] = round(percentile(times, 95), 1)
        errs = [float(np.mean(np.abs(plain_permutation(b, 12, budget, np.random.default_rng(1))
                                     - exact))) for (f, _fn, b), exact in zip(games12, exact12)]
        result[f"mae_12_plain_{budget}"] = round(float(np.mean(errs)), 5)
    covered = []
    for (f, _fn, b), exact in zip(games12, exact12):
        a = attribute(None, f, score_batch=b, method="sampled", samples=1024, seed=2)
        covered += [abs(c.value - e) <= 2 * c.std_error + 1e-12
                    for c, e in zip(a.contributions, exact)]
    result["se_coverage_12"] = round(float(np.mean(covered)), 3)
    plain, ours = result["mae_12_plain_1024"], result["mae_12_permutation_1024"]
    result["mae_ratio_plain_over_default"] = round(plain / max(ours, 1e-12), 1)
    result["mean_abs_value_12"] = round(float(np.mean([np.abs(e).mean() for e in exact12])), 5)

    ev = evaluate_explanations(decisions25, k=3, seed=3)
    result["deletion_top_k_drop"] = round(ev.top_k_drop, 4)
    result["deletion_random_k_drop"] = round(ev.random_k_drop, 4)

    if not args.no_shap:
        result.update(run_shap(games12, exact12, DEFAULT_SAMPLES))

    for key, value in result.items():
        print(f"{key:32s} {value}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
