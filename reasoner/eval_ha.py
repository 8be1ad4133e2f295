"""Scores Home Assistant's intent tests against its sentences, with slot lists from the graph.

The mock home of the tests (``tests/_fixtures.yaml``: floors, areas, entities) is loaded into an
in-memory household through ``kg.importers.homeassistant.read_fixtures``; the slot lists the
templates match against are then drawn from that household's graph, not from the file. Each test
sentence is matched (with the test's context, e.g. the area of the satellite that heard it), and
scored as Home Assistant's own test suite does:

* **intent accuracy**: the matched intent is the test's;
* **exact match**: the intent is right *and* the slots are exactly the test's: every matched slot
  is expected with that value (a list in either place means "one of"), and every expected slot
  was matched.

    python -m reasoner.eval_ha --data DIR [--tests DIR] [--language en] [--json]

``DIR`` is a checkout of the Home Assistant intents repository (``sentences/<lang>``,
``tests/<lang>`` or ``tests``). The last line is one JSON object with ``exact_match`` and
``intent_accuracy`` (percentages), ``sentences`` and the counts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["evaluate", "main", "slots_match"]


def slots_match(matched: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Home Assistant's rule: every matched slot is expected with that value (a list on either
    side means one of), and every expected slot was matched."""
    for name, value in matched.items():
        want = expected.get(name)
        if want is None:
            return False
        if isinstance(want, list):
            if isinstance(value, list):
                if not set(want) <= set(value):
                    return False
            elif value not in want:
                return False
        elif isinstance(value, list):
            if want not in value:
                return False
        elif value != want:
            return False
    return all(name in matched for name in expected)


def _tests_dir(data: Path, tests: Path | None, language: str) -> Path:
    for candidate in ([tests] if tests else []) + [data / "tests" / language, data / "tests"]:
        if candidate is not None and candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    raise SystemExit(f"no Home Assistant test files under {tests or data}: expected "
                     f"{data}/tests/{language}/*.yaml or {data}/tests/*.yaml")


def evaluate(data: str | Path, *, tests: str | Path | None = None, language: str = "en",
             fixtures: str | Path | None = None) -> dict:
    """Runs every test sentence; returns the scores and the failures."""
    from kg.household import Hearth
    from kg.importers.homeassistant import read_fixtures

    from .ha_intents import HomeAssistantIntents, SlotLists

    data = Path(data)
    tests_dir = _tests_dir(data, Path(tests) if tests else None, language)
    fixtures_path = Path(fixtures) if fixtures else tests_dir / "_fixtures.yaml"
    start = time.perf_counter()
    home = Hearth.in_memory().create_household("ha-tests", name="Home Assistant test home",
                                               time="2026-01-01T00:00:00Z")
    home.append_many(list(read_fixtures(fixtures_path,
                                        time=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))))
    ha = HomeAssistantIntents.from_folder(data, language=language)
    lists = SlotLists.for_household(home)
    load_s = time.perf_counter() - start

    total = right_intent = exact = unmatched = 0
    failures: list[dict] = []
    per_file: dict[str, Counter] = {}
    start = time.perf_counter()
    for path in sorted(tests_dir.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        counts = per_file.setdefault(path.stem, Counter())
        for test in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("tests") or []:
            want = test["intent"]
            expected = want.get("slots") or {}
            for sentence in test.get("sentences") or []:
                total += 1
                counts["sentences"] += 1
                match = ha.recognize(sentence, lists, context=want.get("context") or {})
                if match is None:
                    unmatched += 1
                    failures.append({"file": path.stem, "sentence": sentence,
                                     "expected": {"intent": want["name"], "slots": expected},
                                     "got": None})
                    continue
                if match.intent == want["name"]:
                    right_intent += 1
                    counts["intent"] += 1
                    if slots_match(match.slots, expected):
                        exact += 1
                        counts["exact"] += 1
                        continue
                failures.append({"file": path.stem, "sentence": sentence,
                                 "expected": {"intent": want["name"], "slots": expected},
                                 "got": {"intent": match.intent, "slots": match.slots}})
    match_s = time.perf_counter() - start
    pct = (lambda n: round(100.0 * n / total, 2) if total else 0.0)
    return {
        "exact_match": pct(exact),
        "intent_accuracy": pct(right_intent),
        "sentences": total,
        "exact": exact,
        "intent_correct": right_intent,
        "unmatched": unmatched,
        "templates_skipped": len(ha.skipped),
        "devices": len(home.state.devices),
        "areas": len(home.state.areas),
        "floors": len(home.state.floors),
        "per_file": {k: dict(v) for k, v in sorted(per_file.items())},
        "load_s": round(load_s, 3),
        "ms_per_sentence": round(1000 * match_s / total, 2) if total else None,
        "failures": failures,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hearth eval ha-intents", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--data", required=True, help="Home Assistant intents checkout")
    parser.add_argument("--tests", help="folder of test files (default: DATA/tests[/LANG])")
    parser.add_argument("--fixtures", help="the mock home (default: TESTS/_fixtures.yaml)")
    parser.add_argument("--language", default="en")
    parser.add_argument("--json", action="store_true", help="print one JSON object, last")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    result = evaluate(args.data, tests=args.tests, language=args.language,
                      fixtures=args.fixtures)
    failures = result.pop("failures")
    if not args.json:
        for f in failures[:50]:
            print(f"{f['file']}: {f['sentence']!r}: expected {f['expected']}, got {f['got']}")
        print(f"{result['sentences']} sentences: exact match {result['exact_match']}%, intent "
              f"accuracy {result['intent_accuracy']}% ({result['unmatched']} unmatched, "
              f"{result['templates_skipped']} templates skipped)")
    result["failures"] = len(failures)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
