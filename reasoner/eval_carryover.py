"""Evaluate cross-skill carryover on Schema-Guided Dialogue, with its baseline in the same run.

``main(argv)`` (wired by the lead to ``hearth eval carryover --data DIR --split dev --json``):

* fits :class:`reasoner.carryover.CarryoverModel` on the train split (or loads ``--model``;
  the fitted model is cached under ``--cache-dir``, default ``/tmp/hearth-cache``, keyed by the
  train files' names, sizes and times and by the model's format version);
* scores every carryover point of the evaluated split, as defined in the docstring of
  :mod:`reasoner.carryover`: ``carryover_precision/recall/f1`` count the carries into the new
  service's first frame (the definition of issue 5; also printed as ``first_frame_carryover_*``);
  ``with_later_carryover_*`` add the values the new service gains later from context without the
  user giving them (through a system proposal the user accepts), a stricter reading;
* scores the baseline on the same points and the same gold: slot-pair carry rates learned from
  train (``baseline_carryover_*``, ``baseline_with_later_carryover_*``): a value of source slot
  *a* fills target slot *b* when the slot-name pair *a* -> *b* carried in at least half of the
  train points where both were present (the best rate wins, one value per slot);
* reports the decision latency per point (``decide_p50_ms``, ``decide_p95_ms``), after
  :meth:`~reasoner.carryover.CarryoverModel.warm_up` on the split's schema;
* with ``--next-service``, adds the next-service figures of :mod:`reasoner.transitions` on the
  same split (``next_service_top1/top3``, ``baseline_next_service_top1/top3``).

With ``--json`` the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from reasoner.carryover import (
    FORMAT_VERSION,
    CarryoverModel,
    CarryPoint,
    RateBaseline,
    file_fingerprint,
    iter_carry_points,
    load_sgd_dialogues,
    load_sgd_schemas,
    sgd_split_paths,
    value_matches,
)

__all__ = ["main", "score"]


def score(decide, points: Sequence[CarryPoint], *, first_frame: bool = False) -> dict[str, float]:
    """Micro precision, recall and F1 of ``decide(point) -> decisions`` against the gold."""
    tp = n_pred = n_gold = 0
    for p in points:
        gold = p.gold if first_frame else p.gold_all
        n_gold += len(gold)
        for d in decide(p):
            n_pred += 1
            tp += d.target_slot in gold and value_matches(d.value, gold[d.target_slot])
    prec = tp / n_pred if n_pred else 0.0
    rec = tp / n_gold if n_gold else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4),
            "predicted": n_pred, "gold": n_gold, "correct": tp}


def _fit_or_load(args, train_dialogues: Path, train_schema: Path, train_points, log) -> CarryoverModel:
    if args.model:
        log(f"loading {args.model}")
        return CarryoverModel.load(args.model)
    code = Path(__file__).with_name("carryover.py")
    key = f"carryover-v{FORMAT_VERSION}-{file_fingerprint(train_dialogues, train_schema, code)}"
    cache = Path(args.cache_dir) / key if args.cache_dir else None
    if cache is not None and (cache / "config.json").exists():
        log(f"loading cached model {cache}")
        return CarryoverModel.load(cache)
    t0 = time.perf_counter()
    schemas = load_sgd_schemas(train_schema)
    model = CarryoverModel().fit([], schemas, points=train_points)
    log(f"fitted on {model.train_summary['points']} train points in {time.perf_counter() - t0:.0f} s")
    if cache is not None:
        model.save(cache)
    return model


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="eval carryover", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="SGD folder: {split}_dialogues.json.gz, {split}_schema.json")
    ap.add_argument("--split", default="dev", help="split to score (default dev)")
    ap.add_argument("--train-split", default="train", help="split to learn from (default train)")
    ap.add_argument("--model", help="a saved CarryoverModel folder to use instead of fitting")
    ap.add_argument("--cache-dir", default="/tmp/hearth-cache",
                    help="where the fitted model is cached ('' to disable)")
    ap.add_argument("--next-service", action="store_true",
                    help="also score next-service ranking (reasoner.transitions) on the split")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    t_start = time.perf_counter()
    data = Path(args.data)
    train_dialogues, train_schema = sgd_split_paths(data, args.train_split)
    test_dialogues, test_schema = sgd_split_paths(data, args.split)
    train_schemas = load_sgd_schemas(train_schema)
    train_raw = load_sgd_dialogues(train_dialogues)
    train_points = list(iter_carry_points(train_raw, train_schemas))
    model = _fit_or_load(args, train_dialogues, train_schema, train_points, log)

    test_schemas = load_sgd_schemas(test_schema)
    test_points = list(iter_carry_points(load_sgd_dialogues(test_dialogues), test_schemas))
    model.register_schemas(test_schemas)
    model.warm_up(test_schemas)

    latencies: list[float] = []
    decisions = {}
    for i, p in enumerate(test_points):
        t0 = time.perf_counter()
        decisions[i] = model.decide(p.context, test_schemas[p.service], exclude_slots=p.given,
                                    turn=p.turn_index)
        latencies.append((time.perf_counter() - t0) * 1000)
    index = {id(p): i for i, p in enumerate(test_points)}
    decide = lambda p: decisions[index[id(p)]]  # noqa: E731

    baseline = RateBaseline(key="name").fit(train_points, train_schemas)
    base_decide = lambda p: baseline.decide(p.context, test_schemas[p.service],  # noqa: E731
                                            exclude_slots=p.given)

    result: dict[str, object] = {"split": args.split, "points": len(test_points)}
    for prefix, fn in (("", decide), ("baseline_", base_decide)):
        for ff, label in ((True, "carryover"), (False, "with_later_carryover")):
            s = score(fn, test_points, first_frame=ff)
            result[f"{prefix}{label}_precision"] = s["precision"]
            result[f"{prefix}{label}_recall"] = s["recall"]
            result[f"{prefix}{label}_f1"] = s["f1"]
            if not prefix:
                result[f"{label}_gold"] = s["gold"]
                result[f"{label}_predicted"] = s["predicted"]
    for key in ("precision", "recall", "f1", "gold", "predicted"):
        result[f"first_frame_carryover_{key}"] = result[f"carryover_{key}"]
    result["decide_p50_ms"] = round(float(np.percentile(latencies, 50)), 2)
    result["decide_p95_ms"] = round(float(np.percentile(latencies, 95)), 2)

    if args.next_service:
        from reasoner.transitions import iter_transition_points, next_service_figures

        t_points = iter_transition_points(train_raw, train_schemas, with_context=True)
        e_points = iter_transition_points(load_sgd_dialogues(test_dialogues), test_schemas, with_context=True)
        ns = next_service_figures(t_points, e_points, train_schemas, test_schemas)
        result |= {k: v for k, v in ns.items() if k != "points"}

    result["seconds"] = round(time.perf_counter() - t_start, 1)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
