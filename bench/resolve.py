"""Resolution latency, offline: unfamiliar commands resolved in a demo-like household, beside a
baseline that only embeds the command and takes the nearest catalogue intent, in the same run.

    python bench/resolve.py --json

The household is the demo's (``hearth/data/demo_day.jsonl``: seven rooms, lights, a thermostat,
a TV, a speaker, a kettle …) in an in-memory store, without the reasoner pipeline. The commands
are phrased as people say what they want rather than what to do ("make it cozy", "I'm
freezing", "time for a cuppa"). Resolution runs offline (graph, commonsense, the WordNet lexicon,
MiniLM ranking). Before the timed rounds, one warm-up round loads the models and builds the
indexes; in each timed round the encoder's sentence cache is cleared first, so every command
is encoded again as a new utterance would be.

Baseline: encode the command with the same MiniLM and return the catalogue intent whose label
or sample is most similar (no knowledge, no slots, no explanation).

Keys: resolve_p50_ms, resolve_p95_ms, resolve_max_ms, baseline_p50_ms, baseline_p95_ms,
p95_ratio (resolve / baseline), no_encoder_p50_ms and no_encoder_p95_ms (resolution ranked by
ontology links alone: the knowledge part without the sentence encoder), commands, rounds,
suggested (commands that got a suggestion), threads (torch threads, ``--threads``, default 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMMANDS = (
    "make it cozy", "I'm freezing", "it's way too bright in here", "it's boiling in here",
    "time for a cuppa", "set a romantic mood", "it's a bit stuffy", "I want to relax",
    "the living room feels chilly", "too dark to read in the kitchen", "make the place toasty",
    "I can't hear myself think", "is it beach weather tomorrow", "let's have a film night",
    "I'm off to bed", "keep the house safe tonight", "it's getting gloomy in the hall",
    "make it snug in the bedroom", "we need some fresh air", "the kids need quiet for homework",
)


def _pct(values: list[float], q: float) -> float:
    import numpy as np
    return round(float(np.percentile(values, q)), 2)


def build_home():
    from hearth.demo import DEMO_DAY
    from kg.household import Hearth
    from kg.ingest import parse_lines
    events, _ = parse_lines(DEMO_DAY.read_text().splitlines())
    home = Hearth.in_memory().create_household("bench", name="Demo", time=events[0].time)
    home.append_many(events)
    return home


class Baseline:
    """The nearest catalogue intent by MiniLM similarity to its label and samples."""

    def __init__(self, encoder, catalogue):
        import numpy as np
        self.encoder = encoder
        self.labels, texts = [], []
        for intent in catalogue.intents():
            for text in [intent.label] + [s.text for s in intent.samples]:
                texts.append(text)
                self.labels.append(intent.id)
        self.vectors = np.asarray(encoder.encode(texts))
        self.np = np

    def __call__(self, text: str) -> str:
        vec = self.np.asarray(self.encoder.encode([text]))[0]
        return self.labels[int(self.np.argmax(self.vectors @ vec))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: one short sentence gains little from more, and a "
                        "shared machine's other jobs make more threads wait)")
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    args = p.parse_args()

    from reasoner.resolution import Resolver
    from reasoner.skills import Catalogue
    from reasoner.understanding import default_encoder

    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    home = build_home()
    encoder = default_encoder()
    knowledge_only = Resolver(online=False, encoder=None)
    resolver = Resolver(online=False)
    baseline = Baseline(encoder, Catalogue.load())
    suggested = 0
    for text in COMMANDS:  # warm-up: models, indexes, the lexicon's caches
        suggested += bool(resolver.resolve(home, text).suggestions)
        baseline(text)
    clear = getattr(getattr(encoder, "cache", None), "clear", lambda: None)
    resolve_ms, base_ms, graph_ms = [], [], []
    for text in COMMANDS:
        knowledge_only.resolve(home, text)
    for _ in range(args.rounds):
        for text in COMMANDS:
            started = time.perf_counter()
            knowledge_only.resolve(home, text)
            graph_ms.append((time.perf_counter() - started) * 1000)
        clear()
        for text in COMMANDS:
            started = time.perf_counter()
            resolver.resolve(home, text)
            resolve_ms.append((time.perf_counter() - started) * 1000)
        clear()
        for text in COMMANDS:
            started = time.perf_counter()
            baseline(text)
            base_ms.append((time.perf_counter() - started) * 1000)
    try:
        import torch
        threads = torch.get_num_threads()
    except ImportError:
        threads = os.cpu_count()
    result = {
        "resolve_p50_ms": _pct(resolve_ms, 50), "resolve_p95_ms": _pct(resolve_ms, 95),
        "resolve_max_ms": round(max(resolve_ms), 2),
        "baseline_p50_ms": _pct(base_ms, 50), "baseline_p95_ms": _pct(base_ms, 95),
        "p95_ratio": round(_pct(resolve_ms, 95) / max(_pct(base_ms, 95), 1e-9), 2),
        "no_encoder_p50_ms": _pct(graph_ms, 50), "no_encoder_p95_ms": _pct(graph_ms, 95),
        "commands": len(COMMANDS), "rounds": args.rounds, "suggested": suggested,
        "threads": threads,
    }
    print(f"resolution p95 {result['resolve_p95_ms']} ms (p50 {result['resolve_p50_ms']}) vs "
          f"nearest-intent baseline p95 {result['baseline_p95_ms']} ms: ratio "
          f"{result['p95_ratio']}; {suggested}/{len(COMMANDS)} commands got a suggestion")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
