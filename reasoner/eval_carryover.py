"""Evaluate cross-skill carryover on Schema-Guided Dialogue, with its baseline in the same run.

``main(argv)`` (``hearth eval carryover --data DIR --split dev --json``; ``hearth eval sgd
--train FILE --test FILE --schema FILE --json``, issue 5's form, is :func:`sgd_main`: the same with
the next-service figures, the train schema found beside the train file or given by
``--train-schema``):

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
  same split (``next_service_top1/top3``, ``baseline_next_service_top1/top3``);
* with ``--online``, also scores prequentially (keys prefixed ``online_``): the dialogues are
  visited in a seeded random order as one assistant's history; each point is decided before its
  dialogue is learned from, then what carried in it is counted into a
  :class:`~reasoner.carryover.CarryHistory` (and, with ``--next-service``, its transitions into
  a :class:`~reasoner.transitions.TransitionHistory`) that later decisions read;
* with ``--validate-train``, scores nothing of ``--split`` and instead cross-validates the model
  inside the train split (:func:`validate_on_train`), the ground for its design choices; with
  ``--next-service`` (``hearth eval sgd`` adds it), also the next-service model and baseline, by
  folds of dialogues, of SGD generation files and of domain combinations
  (:func:`reasoner.transitions.validate_on_train`, key ``next_service_validation``).

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
    CarryHistory,
    CarryoverError,
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

__all__ = ["REGIMES", "main", "score", "validate_on_train"]


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


# The held-out situations the model is trained for, as validated inside train: the regime of
# CarryoverModel.training_matrix's rows, and which points a held-out fold must not train on.
REGIMES = {"seen": 0, "new_service": 1, "new_domain_pair": 2}


def validate_on_train(
    points: Sequence[CarryPoint],
    schemas,
    *,
    labels: Sequence[str] = ("first_frame", "all"),
    thresholds: Sequence[float] = (0.5,),
    seeds: Sequence[int] = (13,),
    embedder=None,
    log=lambda msg: None,
) -> dict:
    """Cross-validated carryover figures inside a training split, per training-label choice.

    For each regime of :data:`REGIMES` and each fold of it, the pair classifier is fitted on the
    rows of the points that do not touch the fold (other dialogues; no held-out service; no
    held-out domain pair) and scores the fold's rows, whose statistics were counted without it
    (:meth:`~reasoner.carryover.CarryoverModel.training_matrix`). Decisions are one-to-one per
    point as in :meth:`~reasoner.carryover.CarryoverModel.decide`, and are scored against both
    gold readings (``first_frame_*``: issue 5's; ``with_later_*``) over the carries a context
    value can reach. Returns ``{labels: {regime: {threshold: figures}}}``, figures averaged
    over ``seeds`` (which reshuffle the folds; held-out domain pairs vary most with them).
    """
    from reasoner.carryover import CarryoverModel

    out: dict = {}
    for lab in labels:
        runs = []
        for seed in seeds:
            t0 = time.perf_counter()
            m = CarryoverModel(labels=lab, seed=seed, embedder=embedder)
            X, y, regime, pts = m.training_matrix([], schemas, points=points)
            runs.append(_validate_rows(m, X, y, regime, pts, thresholds))
            log(f"validated labels={lab} seed={seed} in {time.perf_counter() - t0:.0f} s")
        out[lab] = {
            rg: {thr: {k: round(float(np.mean([r[rg][thr][k] for r in runs])), 4)
                       for k in runs[0][rg][thr]} for thr in thresholds}
            for rg in REGIMES
        }
    return out


def _validate_rows(m: CarryoverModel, X, y, regime, points, thresholds) -> dict:
    meta = m._train_rows
    point, sid, tid, fold = meta["point"], meta["sid"], meta["tid"], meta["fold"]
    # both gold readings per row, whatever the classifier was trained on
    ctx = [{m._slot_ids[c.slot.key]: c for c in p.context} for p in points]
    slots = m._slots
    gold_of = {"first_frame": [p.gold for p in points], "with_later": [p.gold_all for p in points]}
    labels = {}
    for name, golds in gold_of.items():
        lab = np.zeros(len(y), dtype=bool)
        for r, (k, a, b) in enumerate(zip(point, sid, tid)):
            g = golds[k].get(slots[b].name)
            lab[r] = bool(g) and any(value_matches(v, g) for v in ctx[k][a].variants)
        labels[name] = lab
    trains = {
        0: lambda f: meta["point_dialogue_fold"] != f,
        1: lambda f: ~meta["point_service_folds"][:, f],
        2: lambda f: ~meta["point_pair_folds"][:, f],
    }
    out: dict = {}
    for name, rg in REGIMES.items():
        prob = np.full(len(y), np.nan)
        for f in np.unique(fold[regime == rg]):
            ev = (regime == rg) & (fold == f)
            tr = trains[rg](f)[point]
            if not ev.any() or tr.sum() == 0 or len(np.unique(y[tr])) < 2:
                continue
            prob[ev] = m.fit_classifier(X[tr], y[tr]).predict_proba(X[ev])
        rows = np.flatnonzero((regime == rg) & ~np.isnan(prob))
        out[name] = {}
        for thr in thresholds:
            chosen = _decide_rows(rows, prob, point, fold, sid, tid, ctx, thr)
            figures = {}
            for g, lab in labels.items():
                n_gold = len({(fold[r], point[r], tid[r]) for r in rows if lab[r]})
                tp = int(lab[chosen].sum()) if len(chosen) else 0
                prec = tp / len(chosen) if len(chosen) else 0.0
                rec = tp / n_gold if n_gold else 0.0
                figures[f"{g}_precision"] = prec
                figures[f"{g}_recall"] = rec
                figures[f"{g}_f1"] = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
            figures["rows"] = len(rows)
            out[name][thr] = figures
    return out


def _decide_rows(rows, prob, point, fold, sid, tid, ctx, threshold) -> np.ndarray:
    """Greedy one-to-one decisions per (fold, point), as CarryoverModel.decide takes them."""
    groups: dict[tuple[int, int], list[int]] = {}
    for r in rows:
        groups.setdefault((int(fold[r]), int(point[r])), []).append(int(r))
    chosen = []
    for (_, k), rs in groups.items():
        rs.sort(key=lambda r: (-prob[r], -ctx[k][sid[r]].turn))
        used_t, used_v = set(), set()
        for r in rs:
            if prob[r] < threshold:
                break
            v = ctx[k][sid[r]].value.strip().lower()
            if tid[r] in used_t or v in used_v:
                continue
            used_t.add(tid[r])
            used_v.add(v)
            chosen.append(r)
    return np.array(chosen, dtype=np.int64)


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
    ap.add_argument("--data", help="SGD folder: {split}_dialogues.json.gz, {split}_schema.json")
    ap.add_argument("--split", default="dev", help="split to score (default dev)")
    ap.add_argument("--train-split", default="train", help="split to learn from (default train)")
    ap.add_argument("--train", help="instead of --data: the train dialogues (a JSON list, .gz allowed)")
    ap.add_argument("--test", help="instead of --data: the dialogues to score")
    ap.add_argument("--schema", help="with --test: the test split's schema")
    ap.add_argument("--train-schema", help="with --train: its schema (default: beside it, "
                    "{prefix}_schema.json or schema.json)")
    ap.add_argument("--online", action="store_true",
                    help="also score prequentially, learning from each dialogue once scored")
    ap.add_argument("--model", help="a saved CarryoverModel folder to use instead of fitting")
    ap.add_argument("--cache-dir", default="/tmp/hearth-cache",
                    help="where the fitted model is cached ('' to disable)")
    ap.add_argument("--next-service", action="store_true",
                    help="also score next-service ranking (reasoner.transitions) on the split")
    ap.add_argument("--validate-train", action="store_true",
                    help="cross-validate inside the train split instead (seen services, held-out "
                         "services, held-out domain pairs), for each --labels choice")
    ap.add_argument("--labels", default="first_frame,all",
                    help="with --validate-train: the training labels to compare")
    ap.add_argument("--thresholds", default="0.5",
                    help="with --validate-train: decision thresholds")
    ap.add_argument("--seeds", default="13",
                    help="with --validate-train: fold seeds to average over")
    ap.add_argument("--groupings", default="dialogue,file,combination",
                    help="with --validate-train and --next-service: how next-service folds group "
                         "the train dialogues (reasoner.transitions.GROUPINGS)")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    t_start = time.perf_counter()
    train_dialogues, train_schema, test_dialogues, test_schema = _paths(args)
    train_schemas = load_sgd_schemas(train_schema)
    train_raw = load_sgd_dialogues(train_dialogues)
    train_points = list(iter_carry_points(train_raw, train_schemas))
    if args.validate_train:
        figures = validate_on_train(
            train_points, train_schemas, labels=args.labels.split(","),
            thresholds=[float(t) for t in args.thresholds.split(",")],
            seeds=[int(x) for x in args.seeds.split(",")], log=log)
        result = {"split": args.train_split, "points": len(train_points), "validation": figures}
        if args.next_service:
            from reasoner.transitions import iter_transition_points, validate_on_train as ns_validate

            t_points = iter_transition_points(train_raw, train_schemas, with_context=True)
            result["next_service_validation"] = {
                g: ns_validate(t_points, train_schemas, grouping=g, log=log)
                for g in args.groupings.split(",")}
        result["seconds"] = round(time.perf_counter() - t_start, 1)
        print(json.dumps(result) if args.json else json.dumps(result, indent=1))
        return 0
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
    scorers = [("", decide)]
    if args.online:
        learned = online_decisions(model, test_points, test_schemas)
        scorers.append(("online_", lambda p: learned[id(p)]))

    baseline = RateBaseline(key="name").fit(train_points, train_schemas)
    base_decide = lambda p: baseline.decide(p.context, test_schemas[p.service],  # noqa: E731
                                            exclude_slots=p.given)

    result: dict[str, object] = {"split": args.split if args.data else str(test_dialogues),
                                 "points": len(test_points)}
    for prefix, fn in scorers + [("baseline_", base_decide)]:
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
        ns = next_service_figures(t_points, e_points, train_schemas, test_schemas,
                                  online=args.online)
        result |= {k: v for k, v in ns.items() if k != "points"}

    result["seconds"] = round(time.perf_counter() - t_start, 1)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


def online_decisions(model: CarryoverModel, points: Sequence[CarryPoint], schemas, *,
                     seed: int = 13) -> dict[int, list]:
    """Prequential decisions (by ``id`` of the point): dialogues in a seeded random order, each
    point decided with what the earlier dialogues taught (:class:`CarryHistory`), then its own
    carries counted in."""
    import random
    from collections import defaultdict

    by_dialogue: dict[str, list[CarryPoint]] = defaultdict(list)
    for p in points:
        by_dialogue[p.dialogue_id].append(p)
    order = sorted(by_dialogue)
    random.Random(seed).shuffle(order)
    history = CarryHistory()
    out: dict[int, list] = {}
    for d in order:
        for p in by_dialogue[d]:
            out[id(p)] = model.decide(p.context, schemas[p.service], exclude_slots=p.given,
                                      turn=p.turn_index, history=history)
        for p in by_dialogue[d]:
            history.add(p.context, schemas[p.service], p.gold, exclude_slots=p.given)
    return out


def _beside(dialogues: Path) -> Path:
    """The schema file next to a dialogues file: ``{prefix}_schema.json``, else ``schema.json``."""
    name = dialogues.name
    prefix = name.split("_dialogues")[0] if "_dialogues" in name else None
    for candidate in ([dialogues.with_name(f"{prefix}_schema.json")] if prefix else []) + \
            [dialogues.with_name("schema.json")]:
        if candidate.is_file():
            return candidate
    raise CarryoverError(
        f"no schema beside {dialogues} (looked for "
        f"{(prefix + '_schema.json, ') if prefix else ''}schema.json): pass --train-schema FILE")


def _paths(args) -> tuple[Path, Path, Path, Path]:
    """(train dialogues, train schema, test dialogues, test schema) from ``--data``/``--split``
    or from ``--train``/``--test``/``--schema``."""
    if args.train or args.test:
        if not (args.train and args.test and args.schema):
            raise SystemExit("--train, --test and --schema go together (or pass --data DIR)")
        train = Path(args.train)
        for path in (train, Path(args.test), Path(args.schema)):
            if not path.exists():
                raise CarryoverError(f"no file at {path}: --train and --test take SGD dialogue files "
                                     "(.json or .json.gz), --schema the test split's schema.json")
        train_schema = Path(args.train_schema) if args.train_schema else _beside(train)
        return train, train_schema, Path(args.test), Path(args.schema)
    if not args.data:
        raise SystemExit("pass --data DIR (an SGD folder) or --train FILE --test FILE --schema FILE")
    train, train_schema = sgd_split_paths(args.data, args.train_split)
    test, test_schema = sgd_split_paths(args.data, args.split)
    return train, train_schema, test, test_schema


def sgd_main(argv: Sequence[str] | None = None) -> int:
    """``hearth eval sgd --train FILE --test FILE --schema FILE [--online] --json``: carryover and
    next-service figures in one run (:func:`main` with ``--next-service``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return main(argv if "--next-service" in argv else ["--next-service", *argv])


if __name__ == "__main__":
    sys.exit(main())
