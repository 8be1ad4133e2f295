"""The ontologies, shapes, rules and knowledge that ship with hearth (Turtle files)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def path(*parts: str) -> Path:
    """The path of a file shipped in ``ontologies/``, e.g. ``path("hearth.ttl")``."""
    return ROOT.joinpath(*parts)
