"""Zero-shot intents: an utterance → one of a data set's intents, knowing only the intents' names
and domains and what the knowledge bases say about those names (never a training utterance).

Each intent name (``freeze_account``, ``pto_request_status``, ``what_is_your_name``) is expanded
into a set of texts (:func:`expand_name`):

* the name as written and as words ("freeze account");
* **typical requests** generated from the shape of the name by generic English rules, the
  offline lexicon (WordNet) telling parts of speech and forms apart:

  - a verb first gives imperatives, wishes and questions ("freeze my account", "I'd like to
    freeze a account", "how do I freeze account"); a word mostly used as a noun opens the name
    as a verb when one of its WordNet verb senses names the rest in its gloss or examples
    ("book": "reserve me a seat on a flight", so "book_flight" is booked); a verb of telling
    takes its hearer ("tell_joke" → "tell me a joke"); a one-word name that WordNet's
    sense-tagged corpus meets as a verb at least half as often as a noun is read both ways
    ("order": 52 verb uses to 57 noun uses, so "I want to order" beside "what is my order");
  - a noun phrase gives questions and checks ("what is my interest rate", "check my interest
    rate"), shaped by the WordNet class of its head: a list is read ("what is on my shopping
    list", "what meetings do I have"), an amount asked for ("how much is left"; a noun with a
    possession sense among its first two is an amount: "pto_balance" → "how much pto do I have
    left"), a time or a day asked for ("how long should I cook it", "what time is it"), a date
    ("when is the expiration date"), a path followed ("directions" → "how do I get there"), a
    place ("where am I"), a record ("what have I spent"); a noun whose first senses are
    attributes with adjective values is asked about with them ("distance" → "how far is it");
  - a nominalisation is turned back into its verb through WordNet's derivational links ("meal
    suggestion" → "suggest a meal", "expiration date" → "when does it expire");
  - a trailing participle or adjective describes a state ("account_blocked" → "why is my
    account blocked", "bill_due" → "when is my bill due"), a leading participle too
    ("lost_luggage" → "I lost my luggage"; irregular forms from WordNet's exception lists);
  - frame words: ``when``/``how``/``status``/``request``; ``update``/``change`` (a list is added
    to and removed from, anything else set, created, deleted; "change_X" is read as
    "X_change"); ``next``/``last``/``new``;
    ``user``/``ai`` are the two sides of the conversation ("change_user_name" → "change my
    name", "change_ai_name" → "change your name");
  - a question name stays a question ("how old are you?", "what_song" → "what song is this")
    and is embedded as one ("who_do_you_work_for" → "tell me who you work for");
* **lexicon facts** (WordNet, offline): the gloss and synonyms of a multiword name WordNet knows
  as one lemma ("interest rate: the percentage of a sum of money charged for its use", "rate of
  interest"); for a one-word name, the glosses and the other words of its first noun and verb
  senses and the kinds (hyponyms) of its first noun sense ("greeting" → salutation, hello);
* **glossary** (:class:`connectors.lexicon.Glossary`, ``ontologies/lexical.yaml``): general
  lexical knowledge WordNet 3.0 lacks or misreads, hand-written as a dictionary or Wikidata
  states it: abbreviations ("pto": paid time off; "apr": annual percentage rate; "w2", "401k",
  "mpg"), compounds newer than WordNet ("smart home", "direct deposit", "carry on" as a bag)
  and senses limited to a subject field ("routing" in banking: routing number; "rewards" of
  a credit card: points, cash back; "maintenance" of a car: its servicing). The glossary
  gives its terms' parts of speech to the rules above, and its own texts: the term's full form,
  gloss and related terms, and the typical requests again with the term spelt out or replaced by
  a synonym ("what is the status of my paid time off request", "how many vacation days do I have
  left"), plus what the thing is used for. These texts stand in the domain's context when there
  is one ("work: how much vacation time do I have left"): bare, a glossed name's many variants
  outweighed the other names (-0.6 top-1 on the development set);
* **domain context**: the name and each typical request in its domain ("banking: balance",
  "balance (banking)", "banking: what is my balance");
* optionally (``--conceptnet``), **related terms** from ConceptNet for each word of the name,
  through the connectors' transport: fetched with ``--online`` and kept in the on-disk cache
  (``~/.cache/hearth``), so a later ``--offline`` run reproduces the figures from the cache.

No rule names an intent of a data set: the rules key on parts of speech, WordNet classes and
links, and English function words; the glossary states what words mean, not how any data set's
utterances are phrased.

An utterance's score for an intent is the mean MiniLM cosine similarity of its ``k`` = 5 most
similar expansion texts, mixed with ``prototype_weight`` = 0.15 of its similarity to the intent's
*prototype*, the normalised mean of the embeddings of its typical requests (all its texts when it
has none): the nearest texts say what the utterance is closest to, the prototype what the
intent's requests have in common; ``name_weight`` = 0 (the name as written adds nothing once
expanded).
Three adjustments follow (:class:`ZeroShotIntents`), all computed from the intents' names and
generated texts, never from utterances: each intent loses ``hub_weight`` = 0.2 of its
*hubness*, its mean score for the ``hub_k`` = 300 typical requests of other intents it scores
highest (CSLS's hubness term, with the intents' generated requests standing in for queries: an
intent near many others' requests attracts less); each intent gains ``domain_weight`` = 0.25 of
the best score among its domain's intents (the first place cannot change; the next places go
to the likelier domain's intents); and when the best intent and one of the next two are
*siblings*, names sharing a word (``todo_list`` and ``todo_list_update``, ``user_name`` and
``what_is_your_name``; a closed compound WordNet writes open counts as its words, "timezone"
as time and zone), their order is decided again with ``sibling_weight`` = 0.4 times the words
that tell their texts apart (each word of the utterance: the share of one intent's texts
holding it minus the share of the other's; "add", "my" against "your") and ``shape_weight`` =
0.1 times the agreement of the utterance's grammatical *shape* with theirs
(:func:`request_shape`: about the speaker or the hearer, in the past by WordNet's verb forms, a
question or an imperative; each feature the utterance has counts +1, each it lacks -1, times the
difference of the two intents' shares of typical requests having it, averaged over the five
features: "how many days have I used" leans to the sibling whose requests are in the past).

These settings, and which rules and glossary placements to keep, were chosen on a development set
drawn from CLINC150's *train* split: set A, 30 utterances per intent (each intent's train
utterances shuffled by one ``random.Random(0)``, intents in ``domains.json`` order; the first 30),
set B the next 30 of the same shuffle, as a check. Train utterances only scored settings, by
aggregate accuracy and by which intents the errors fall on; they were never used as expansions or
prototypes, and no val utterance was looked at. A mechanism was kept only when it helped on both
sets (``--dev A`` / ``--dev B`` score them). With the glossary as first written, set A gave top-1
79.96, top-3 93.11 (B 79.27 / 93.04) and val, measured once, 80.47 / 92.90. A review then removed
what in the glossary read like a data set's requests rather than what words mean (a
voice-assistant "whisper mode" entry, request-shaped uses of "smart home" and "travel
notification", pairing verbs given as synonyms of "sync"): set A 78.49 / 92.13, B 77.84 / 91.82
(baseline on A 67.73 / 86.44), val 79.53 / 92.23 (baseline 68.17 / 85.63), below the goal of 80 /
93. The domain's best score raised top-3 on both development sets and lowers it on val
(``domain_pool_off``); it was left as chosen, since changing it after seeing val would make val a
development set. A later session, choosing again on A and B only, added the hubness term (A 78.53
/ 92.49, B 78.13 / 92.49 alone; over a grid of hub_k 150-500 and weights 0.15-0.3 top-3 rose on
both sets, top-1 held or rose for hub_k 300-500), the sibling comparison against the third intent
too and the open-compound siblings (A 78.67 / 92.49, B 78.24 / 92.49), and two glossary senses
limited to a subject field, "rewards" (credit cards) and "maintenance" (cars): set A 78.89 /
92.60, B 78.56 / 92.67; and a glossary term's related terms joined in one text (A 78.93 / 92.62, B
78.58 / 92.69, a gain of one or two utterances on each set). Val, measured once at the end: 79.73
/ 92.70 (hub_off 79.70 / 92.37), still below the goal. The next session, again choosing on A and B
only, added the prototype term: A 79.02 / 92.96, B 78.76 / 93.07 (``prototype_off`` gives the
figures before it, A 78.93 / 92.62, B 78.58 / 92.69); top-3 rose on both sets for every weight
from 0.1 to 0.25, and a prototype of the typical requests alone did better on both than one of all
texts (A 79.09 / 92.87, B 78.51 / 93.07 at 0.2), of the domain texts or of the lexicon and
glossary texts; hub_k 200-400 and hub_weight 0.25 with it changed nothing clearly. Left out in
that session, as they did not help on both sets: the static (model2vec) encoder's score mixed with
MiniLM's (measured before the prototype, 0.1: A 78.96 / 92.36, B 78.42 / 92.69; more was worse), a
second prototype of the domain, glossary or lexicon texts, a domain prototype or the mean of a
domain's best two in place of its best, intents' scores z-scored by their mean and deviation over
the other intents' requests, numbers and amounts in the utterance replaced by a type word (A
78.71, B 78.42 top-1), the word contrast of the siblings applied to any two of the top three or to
any two of a domain, a contrastive re-ranking of the top three or five by the prototypes less
their mean, the siblings compared again by embedding with the words their names share removed from
the utterance and their texts, the utterance encoded in each candidate's domain context,
pseudo-relevance feedback (the utterance moved towards its nearest texts), centring the embeddings
on the texts' mean or removing their first principal components (better on A, worse on B), and the
synonyms of a one-word name whose first sense is an adverb. Val, measured once at the end: 79.67 /
93.07 (prototype_off 79.73 / 92.70): top-3 reaches the goal of 93, top-1 stays below 80 (two
utterances fewer than without the prototype). The session after, on A and B only and on the
siblings (about 29% of the top-1 errors, most with the gold intent second), added the
grammatical shape to the sibling comparison: A 79.40 / 92.96, B 78.87 / 93.07 (``shape_off``
gives the figures before it, A 79.02 / 92.96, B 78.76 / 93.07; A gains 32 utterances and loses
15, B gains 27 and loses 22); both sets rose for every weight from 0.08 to 0.15 (at 0.05 B
fell to 78.71). A first version
that counted WordNet's present forms of "be" ("is") as past gave A 79.47, B 78.93, and was
corrected, not tuned. Left out in that session (measured with the first version where no
figure says otherwise), as they did not help on both sets: features
of wishes ("want", "would like"), the future, negation, "can you" and "please" beside the five
(each alone or all together level or lower); dropping one of the five (better on one set, worse
on the other); the shape measured over the glossary and domain texts as well as the typical
requests (A 79.42, B 78.89 before the correction); the shape applied to any two best intents, not
only siblings (+0.0-0.1), or to a sibling in fourth or fifth place (top-3 fell); against the
comparison by words alone (A 79.02, B 78.76), a *contrast vector* for each sibling pair, the
utterance's projection on the difference of their prototypes (A 78.80, B 78.69 at 0.1, lower
with more; normalised, the same), on a Fisher direction of their texts (regularised pooled
covariance; A 79.07, B 78.76 at best) or the difference of their nearest typical requests (A
79.09, B 78.69); and, beside the first shape (A 79.47, B 78.93), the words a sibling's name adds
(with their first WordNet gloss) compared by embedding with the utterance less the shared name
words (A 79.33, B 79.00 at best). Val, measured once at the end: 80.03 / 93.07 (shape_off
79.67 / 93.07, sibling_off 79.40 / 93.07): both goals are met, top-1 by one utterance (2401 of
3000), so the margin is within the noise of a single rule. Tried on A and B in the session
before the prototype's and left out,
as they did not help on both: a per-text hubness penalty, a max/mean mixture and other ``k``,
weights by source, the domain-context and bare forms of a request counted once, hubness measured
on other kinds of texts than typical requests, other word weights for siblings, stripping
politeness from the utterance, a lexical (IDF word overlap) term added to the cosine, WordNet
example sentences, the derivations of a glossary compound's head ("travel notification" → notify),
more requests for a side's own noun ("what name do you have for me"), a text for each related
term, glossary senses of "credit score", "credit limit", "bot", "gas", "reservation", "transfer".
The baseline, in the same run and with the same encoder, is the plain cosine similarity between
the utterance and the name as written.

    hearth eval zero-shot --format clinc150 --data data_full.json --split val --json

The last line is one JSON object: ``top1``, ``top3`` (percent), ``baseline_top1``,
``baseline_top3``; ablations over the same encoding of the utterances (:data:`ABLATIONS`,
:data:`REBUILT_ABLATIONS`): ``lexicon_off_top1/3`` (without the WordNet facts; the templates
still use WordNet), ``templates_only_top1/3`` (the name and its typical requests),
``no_lexicon_top1/3`` (no WordNet anywhere: the templates lose its parts of speech,
morphology, derivations and classes too, and siblings are compared on words as written),
``glossary_off_top1/3`` (no glossary anywhere), ``domain_off_top1/3`` (the names expanded
without their domains, and no domain's best score added); and of the scoring
(:data:`SCORING_ABLATIONS`): ``sibling_off_top1/3`` (no sibling comparison: neither words nor
shape), ``shape_off_top1/3``, ``domain_pool_off_top1/3``, ``hub_off_top1/3``,
``prototype_off_top1/3``; the settings ``k``, ``name_weight``, ``domain_weight``,
``sibling_weight``, ``hub_weight``, ``hub_k``, ``prototype_weight``, ``shape_weight``
(``--domain-weight``, ``--sibling-weight``, ``--hub-weight``, ``--prototype-weight``,
``--shape-weight``);
``utterances``, ``intents``, ``expansions`` (texts per source), ``glossary_terms``.
``--no-glossary`` leaves the glossary out of the main figures too. Expansion embeddings are
cached under ``~/.cache/hearth/zero-shot/`` (one file per encoder, only new texts are encoded;
``--no-cache`` encodes them all afresh); the utterances are always encoded afresh.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("hearth.reasoner.eval_zero_shot")

__all__ = ["ABLATIONS", "REBUILT_ABLATIONS", "SCORING_ABLATIONS", "SHAPE_FEATURES", "Expansion",
           "ZeroShotIntents", "domain_expansions", "evaluate", "expand_name",
           "glossary_expansions", "glossary_requests", "lexicon_expansions", "load_clinc150",
           "main", "request_shape", "typical_requests"]

_QUESTION_WORDS = {"what", "who", "how", "where", "when", "why", "are", "do", "is", "can",
                   "which", "whats", "does", "will", "should", "could", "would"}
_PERSONAL = {"you", "your", "i", "my", "me"}
# The two sides of a conversation, written as nouns in names: the person speaking, the assistant.
_REFERENTS = {"user": ("my", "me"), "ai": ("your", "you"), "assistant": ("your", "you"),
              "bot": ("your", "you")}
_UPDATE_TAILS = ("update", "change", "edit")
_STOP = {"my", "the", "a", "an", "to", "of", "for", "in", "on", "and", "or", "you", "your", "i",
         "me", "is", "are", "do", "what", "who", "how", "where", "when", "can"}


@dataclass(frozen=True)
class Expansion:
    """One text standing for an intent, and where it came from: ``name``, ``template``,
    ``wordnet``, ``domain`` or ``conceptnet``."""

    text: str
    source: str


def _an(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _is_verb(word: str, lex) -> bool:
    """A word that can open an imperative: a verb lemma as written (not a gerund or a past
    form), whose verb senses are the more frequent or at least as many as its noun senses."""
    if lex is None or word.endswith("ing") or word not in lex.base_forms(word, "v"):
        return False
    verbs = lex.lookup(word, pos="v").synsets
    if not verbs:
        return False
    senses = lex.synsets(word)
    nouns = lex.lookup(word, pos="n").synsets
    return (bool(senses) and senses[0].pos == "v") or len(verbs) >= len(nouns)


def _takes_object(verb: str, rest: list[str], lex) -> bool:
    """Whether WordNet shows a word mostly used as a noun taking the rest of the name as its
    object: one of its first verb senses names it in its gloss or examples ("book": "reserve me
    a seat on a flight"; "register in a hotel"), so "book_flight" is read as verb + object."""
    if lex is None or len(rest) != 1 or not _can_open(verb, lex):
        return False
    obj = rest[0]
    forms = {obj, *lex.base_forms(obj, "n")}
    for sense in lex.lookup(verb, pos="v").synsets[:5]:
        said = set(re.findall(r"[a-z]+", " ".join((sense.gloss, *sense.examples)).lower()))
        if forms & said:
            return True
    return False


def _also_a_verb(words: list[str], lex) -> bool:
    """A one-word name read as a verb as well as a noun: WordNet's sense-tagged corpus meets
    the word as a verb at least half as often as a noun ("order": 52 verb uses, 57 noun uses,
    so "order" is also "I want to order"; "time": 8 and 595, so it stays a noun)."""
    if lex is None or len(words) != 1 or not _can_open(words[0], lex):
        return False
    verb = lex.sense_frequency(words[0], "v")
    return verb > 0 and 2 * verb >= lex.sense_frequency(words[0], "n")


def _can_open(word: str, lex) -> bool:
    """A verb lemma as written (not a gerund or a past form) with verb senses."""
    return (lex is not None and not word.endswith("ing") and " " not in word
            and word in lex.base_forms(word, "v") and lex.lookup(word, pos="v").found)


def _participle_base(word: str, lex) -> str | None:
    """'blocked' -> 'block', 'lost' -> 'lose', 'used' -> 'use'; None when not a participle."""
    if lex is None or len(word) < 4:
        return None
    bases = lex.base_forms(word, "v")
    if not bases or word in bases or word.endswith(("s", "ing")):
        return None
    return bases[0]


def _derived_verbs(noun: str, lex, limit: int = 2) -> list[str]:
    """Verbs WordNet derives the noun from (reservation -> reserve), morphologically close."""
    if lex is None:
        return []
    out = []
    for s in lex.lookup(noun, pos="n").synsets[:4]:
        for p in s.targets("derivation"):
            t = lex.synset_by_id(p.target)
            if t.pos != "v":
                continue
            v = t.lemmas[p.target_word - 1] if p.target_word else t.lemmas[0]
            v = v.replace("_", " ")
            k = min(4, len(v) - 1, len(noun) - 1)
            if " " in v or v[:k] != noun[:k] or v == noun or v in out:
                continue
            out.append(v)
    return out[:limit]


def _head_class(head: str, lex) -> str | None:
    """A coarse class of a head noun from its WordNet hypernyms (three levels, two senses):
    ``list``, ``date``, ``time``, ``record``, ``place``, ``amount`` or None."""
    if lex is None:
        return None
    hyp = set(lex.hypernyms(head, pos="n", max_senses=2, depth=3))
    if not lex.lookup(head, pos="n").found:
        return None
    last = head.split()[-1]
    if last == "list" or "list" in hyp:
        return "list"
    if last == "date" or hyp & {"day", "calendar day"}:
        return "date"
    if last in {"time", "duration"} or hyp & {"time period", "duration", "time unit"}:
        return "time"
    if hyp & {"record", "past"}:
        return "record"
    if hyp & {"path", "way", "route"}:
        return "path"
    if last == "location" or hyp & {"location", "point"}:
        return "place"
    if hyp & {"magnitude", "amount", "quantity", "measure", "financial gain", "charge",
              "fixed charge", "assets", "sum", "rate"}:
        return "amount"
    # a noun with a sense among the first two in WordNet's possession class ("balance": the
    # equality of an account's credit and debit totals) is an amount of money
    if any(s.lexname == "noun.possession" for s in lex.lookup(head, pos="n").synsets[:2]):
        return "amount"
    return None


def _plural(word: str) -> str:
    if word.endswith("s"):
        return word
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("ch", "sh", "x")):
        return word + "es"
    return word + "s"


def _np_forms(words: list[str]) -> tuple[str, str, str, str]:
    """(bare, my, the, a) forms of a noun phrase; a role word becomes a possessive."""
    if len(words) > 1 and words[0] in _REFERENTS:
        p = f"{_REFERENTS[words[0]][0]} {' '.join(words[1:])}"
        return p, p, p, p
    p = " ".join(words)
    return p, f"my {p}", f"the {p}", f"{_an(p)} {p}"


def _attribute_adjectives(noun: str, lex) -> list[str]:
    """Adjectives whose values a noun measures (distance -> far, speed -> fast)."""
    if lex is None:
        return []
    out = []
    for s in lex.lookup(noun, pos="n").synsets[:2]:
        if s.lexname != "noun.attribute":  # "directions" relates to incoming, not as a value
            continue
        for p in s.targets("attribute"):
            a = lex.synset_by_id(p.target).lemmas[0].replace("_", " ")
            if a not in out:
                out.append(a)
    return out


def _past(verb: str, lex) -> str:
    """The past tense: WordNet's exception lists for irregular verbs (spend → spent), else -ed."""
    if lex is not None:
        irregular = [f for f in lex.irregular_forms(verb, "v") if not f.endswith("ing")]
        if irregular:
            return irregular[0]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


def _noun_queries(words: list[str], lex) -> list[str]:
    """Questions and checks about a noun phrase, shaped by the class of its head."""
    bare, my, the, a = _np_forms(words)
    head = words[-1]
    cls = None if _attribute_adjectives(head, lex) else _head_class(head, lex)
    out = [f"what is {my}", f"what's {the}", f"tell me {the}", f"check {my}",
           f"show me {my}", f"can you tell me {the}", f"I want to know {the}",
           f"look up {my}", f"what about {my}", f"find out {the}"]
    if cls != "list":  # a list is read: "I need the list" may as well be to add to it
        out += [f"give me {the}", f"{bare} please", f"I need {the}"]
    if head.endswith("s") and not head.endswith("ss"):
        out += [f"what are {my}", f"list {my}", f"do I have any {bare}"]
    if cls == "list":
        out += [f"what is on {my}", f"what do I have on {my}", f"read me {my}",
                f"is there anything on {my}", f"what's on {the} today"]
        if len(words) > 1:
            items = _plural(words[-2])
            out += [f"what {items} do I have", f"do I have any {items}", f"read my {items}",
                    f"what {items} do I need", f"what {items} are in this",
                    f"list the {items} for this", f"what are the {items} for it"]
    elif cls == "time":
        out += [f"how long is {the}", f"how much time for {the}", f"how long does it take"]
        if len(words) > 1 and lex.lookup(words[-2], pos="v").found:
            mods = " ".join(words[:-1])
            out += [f"how long should I {mods} it", f"how long to {mods} this",
                    f"how long does it take to {mods}"]
    elif cls == "date":
        out += [f"when is {the}", f"what day is {the}", f"what date is {the}"]
    if cls in ("time", "date") and len(words) == 1:  # "what time is it", "what day is it"
        out += [f"what {bare} is it", f"what {bare} is it now", f"tell me what {bare} it is",
                f"do you know what {bare} it is"]
    elif cls == "path":  # directions, a route: "a line leading to a place" (WordNet)
        out += [f"give me {the} there", f"how do I get there", f"how do I get to this place",
                f"what is the best way to get there", f"show me the way there",
                f"{bare} to get there", f"how can I get there from here", f"take me there",
                "where is it", "where is this place"]
    elif cls == "place":
        out += [f"where is {the}", f"where am I", f"where is it"]
    for adj in _attribute_adjectives(head, lex)[:1]:  # distance → "how far is it"
        out += [f"how {adj} is it", f"how {adj} is it from here", f"how {adj} away is it",
                f"how {adj} is it to get there"]
    if cls == "amount" or head in ("amount", "total", "sum"):
        out += [f"how much is {my}", f"how much {the}", f"what is the amount of {my}"]
        if len(words) > 1:
            m = " ".join(words[:-1])
            out += [f"how much {m} do I have", f"how much is on my {m}",
                    f"how much do I have in my {m}", f"how many {_plural(words[-2])} do I have",
                    f"how much {m} do I have left", f"how much {m} is left",
                    f"how many {_plural(words[-2])} do I have left", f"my remaining {m}"]
        else:
            out += ["how much do I have", "how much is left", "how much money do I have"]
    return out


_SPEECH_ACT_GLOSS = re.compile(r"\b(remark|expression|affirmative|negative|reply)\b")


def _lexname(word: str, pos: str, lex) -> str | None:
    entry = lex.lookup(word, pos=pos, max_senses=1) if lex is not None else None
    return entry.synsets[0].lexname if entry else None


def _is_speech_act(phrase: str, lex) -> bool:
    """A name that is itself something said: a word whose noun sense WordNet glosses as a
    remark or expression ("goodbye", "thank you", "yes", "no"), or an adverb alone ("maybe")."""
    if lex is None:
        return False
    entry = lex.lookup(phrase, pos="n", max_senses=1)
    if entry and entry.synsets[0].lexname == "noun.communication" \
            and _SPEECH_ACT_GLOSS.search(entry.glosses[0]):
        return True
    return {s.pos for s in lex.synsets(phrase)} == {"r"}


def _verb_phrases(words: list[str], lex) -> list[tuple[str, str]]:
    """Verb phrases hidden in a noun phrase: a nominalisation turned back into its verb
    ('meal suggestion' -> 'suggest a meal', 'expiration date' -> 'expire')."""
    out = []
    head, mods = words[-1], words[:-1]
    if words[0] in _REFERENTS:
        return out
    for v in _derived_verbs(head, lex):
        obj = " ".join(mods)
        out.append((v, obj))
    for i, m in enumerate(mods):
        for v in _derived_verbs(m, lex, limit=1):
            out.append((v, " ".join(words[:i]) if i else ""))
    return out


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[_\-\s]+", name.lower()) if w]


def _units(name: str, glossary, domain: str | None
           ) -> tuple[list[str], list[tuple[int, object]], dict[str, str]]:
    """The name's words with the glossary's terms joined into one unit each ("carry on",
    "todo list"); the units that have glossary entries (position, entry); each such unit's
    part of speech."""
    words = _words(name)
    if glossary is None:
        return words, [], {}
    units, found, pos = [], [], {}
    at = 0
    for (i, j), entry in glossary.find(words, context=domain):
        units += words[at:i]
        unit = " ".join(words[i:j])
        found.append((len(units), entry))
        pos[unit] = entry.pos
        units.append(unit)
        at = j
    units += words[at:]
    return units, found, pos


_AUXILIARIES = {"is", "are", "do", "does", "can", "will", "should", "could", "would"}
_PRONOUNS = {"you", "I", "it", "we", "they", "he", "she"}


def _embedded_question(words: list[str]) -> str | None:
    """A question as it is embedded in a sentence: "who do you work for" → "who you work
    for", "how old are you" → "how old you are", "are you a bot" → "if you are a bot"."""
    words = ["I" if w == "i" else w for w in words]
    aux = next((i for i, w in enumerate(words) if w in _AUXILIARIES), None)
    if aux is None or aux + 1 >= len(words):
        return None
    head, verb, rest = words[:aux], words[aux], words[aux + 1:]
    lead = " ".join(head) if head else "if"
    if verb in ("do", "does"):
        return f"{lead} {' '.join(rest)}"
    if verb in ("is", "are") and rest[0] not in _PRONOUNS:  # what your name is
        return f"{lead} {' '.join(rest)} {verb}"
    return f"{lead} {rest[0]} {verb} {' '.join(rest[1:])}".strip()


def typical_requests(name: str, lexicon=None, *, glossary=None, domain: str | None = None
                     ) -> list[str]:
    """Requests a person might make of an intent, generated from the shape of its name by
    generic rules (see the module docstring); ``lexicon`` (WordNet) tells verbs, nouns,
    participles and adjectives apart and supplies derivations and classes; ``glossary``
    (:class:`connectors.lexicon.Glossary`) tells the part of speech of the abbreviations and
    compounds WordNet lacks or misreads ("carry on" is a bag, "pto" a noun), in ``domain``.

    >>> typical_requests("pin_change")[:3]
    ['pin change', 'change my pin', 'I want to change my pin']
    >>> typical_requests("how_old_are_you")[:2]
    ['how old are you', 'how old are you?']
    """
    units, _, pos = _units(name, glossary, domain)
    return _requests(units, _Glossed(lexicon, pos) if pos else lexicon)


def glossary_requests(name: str, lexicon=None, *, glossary=None, domain: str | None = None,
                      alternatives: int = 4) -> list[str]:
    """The typical requests of the name with each glossary term replaced by what it stands for
    or a synonym ("pto_balance" → "what is my paid time off balance", "how much vacation time
    do I have"), up to ``alternatives`` of them per term."""
    units, found, pos = _units(name, glossary, domain)
    out: list[str] = []
    for at, entry in found:
        for alt in entry.alternatives[:alternatives]:
            alt = alt.lower()
            variant = units[:at] + [alt] + units[at + 1:]
            out += _requests(variant, _Glossed(lexicon, {**pos, alt: entry.pos}))
        for use in entry.used_for:  # what the thing is for, asked for
            out += [use, f"I want to {use}", f"can you {use}", f"help me {use}",
                    f"I need to {use}"]
    return list(dict.fromkeys(out))


class _Glossed:
    """The lexicon, with the glossary's units answered as the glossary says: a part of speech
    and nothing more (a multiword noun's class is its last word's)."""

    def __init__(self, lexicon, pos: Mapping[str, str]):
        self.lex = lexicon
        self.pos = dict(pos)

    def __getattr__(self, name):
        return getattr(self.lex, name)

    def _entry(self, word: str, pos: str | None):
        from connectors.lexicon import LexiconEntry, Synset
        p = self.pos[word]
        if pos is not None and pos[:1] != p:
            return LexiconEntry(word, None, (), (), (), (), (), ())
        synset = Synset(f"glossary:{word}", p, (word,), "", (), "", ())
        return LexiconEntry(word, word, (synset,), (), (), (), (), ())

    def lookup(self, word: str, *, pos: str | None = None, max_senses: int | None = None):
        if word in self.pos:
            return self._entry(word, pos)
        if self.lex is None:
            from connectors.lexicon import LexiconEntry
            return LexiconEntry(word, None, (), (), (), (), (), ())
        return self.lex.lookup(word, pos=pos, max_senses=max_senses)

    def synsets(self, word: str, *, pos: str | None = None):
        return self.lookup(word, pos=pos).synsets

    def base_forms(self, word: str, pos: str) -> tuple[str, ...]:
        if word in self.pos:
            return (word,) if self.pos[word] == pos[:1] else ()
        return self.lex.base_forms(word, pos) if self.lex is not None else ()

    def hypernyms(self, word: str, **kw) -> tuple[str, ...]:
        if word in self.pos:
            last = word.split()[-1]
            if " " in word and self.pos[word] == "n" and self.lex is not None:
                return self.lex.hypernyms(last, **kw)
            return ()
        return self.lex.hypernyms(word, **kw) if self.lex is not None else ()

    def irregular_forms(self, base: str, pos: str = "v") -> tuple[str, ...]:
        if base in self.pos or self.lex is None:
            return ()
        return self.lex.irregular_forms(base, pos)

    def sense_frequency(self, word: str, pos: str) -> int:
        if word in self.pos or self.lex is None:
            return 0
        return self.lex.sense_frequency(word, pos)


def _requests(words: list[str], lex) -> list[str]:
    phrase = " ".join(words)
    out = [phrase]
    if not words:
        return out
    if _is_speech_act(phrase, lex):
        return out + [f"{phrase}!", f"{phrase}.", f"I'd say {phrase}", f"my answer is {phrase}",
                      f"the answer is {phrase}", f"I said {phrase}", f"well, {phrase}",
                      f"ok, {phrase}", f"{phrase} then", f"I think {phrase}"]
    if words[0] in _QUESTION_WORDS or (len(words) > 1 and words[1] in _PERSONAL):
        out += [f"{phrase}?", f"tell me {phrase}", f"I want to know {phrase}",
                f"can you tell me {phrase}", f"I was wondering {phrase}", f"so {phrase}"]
        embedded = _embedded_question(words)
        if embedded:  # "who do you work for" → "tell me who you work for"
            out += [f"tell me {embedded}", f"I want to know {embedded}",
                    f"I'd like to know {embedded}", f"I wonder {embedded}"]
        if words[0] in ("what", "which") and len(words) == 2:
            n = words[1]
            out += [f"what {n} is this", f"what is this {n}", f"what {n} is that",
                    f"tell me what {n} this is", f"name this {n}", f"identify this {n}"]
        if words[0] == "how" and len(words) == 2:
            adj = words[1]
            out += [f"how {adj} is it", f"how {adj} is it right now", f"is it {adj}",
                    f"how {adj} is it going to be", f"is it {adj} there"]
        return out
    if len(words) > 1 and words[0] in _UPDATE_TAILS and words[-1] not in _UPDATE_TAILS:
        words = words[1:] + words[:1]  # "change_user_name" is asked as "user_name_change"
    tail, core = words[-1], words[:-1]
    bare, my, the, a = _np_forms(core) if core else ("", "", "", "")
    if core and tail in ("when", "how"):
        c = " ".join(core)
        vp = [c]
        if len(core) >= 2 and _is_verb(core[-1], lex):
            vp.append(f"{core[-1]} my {' '.join(core[:-1])}")
            vp.append(f"{core[-1]} the {' '.join(core[:-1])}")
        for v in vp:
            if tail == "when":
                out += [f"when should I {v}", f"when do I need to {v}", f"when is my next {c}",
                        f"how often should I {v}", f"when do I have to {v}", f"is it time to {v}"]
            else:
                out += [f"how do I {v}", f"how to {v}", f"show me how to {v}",
                        f"what are the steps to {v}", f"teach me how to {v}", f"how do you {v}"]
        return out
    if core and tail == "status":
        out += [f"what is the status of {my}", f"has {my} been approved", f"check on {my}",
                f"where is {my}", f"what's happening with {my}", f"any update on {my}",
                f"has {my} gone through", f"is {my} done yet", f"check {my} status"]
        for v, obj in _verb_phrases(core, lex):
            out.append(" ".join(f"did my {obj} {v}".split()))
        return out
    if core and tail in _UPDATE_TAILS:
        out += [f"{tail} {my}", f"I want to {tail} {my}", f"can you {tail} {my}",
                f"please {tail} {the}", f"I need to {tail} {bare}", f"{tail} {the}",
                f"I'd like to {tail} {my}", f"I need a new {bare}", f"make a change to {my}"]
        if len(core) >= 2 and core[0] in _REFERENTS:
            poss, obj = _REFERENTS[core[0]]
            rest = " ".join(core[1:])
            out += [f"I want to {tail} {poss} {rest}", f"call {obj} something else",
                    f"I want to call {obj} something else", f"{poss} new {rest} is",
                    f"from now on call {obj}", f"I'll call {obj} by a new {rest}",
                    f"change the {rest} {'I' if obj == 'me' else 'you'} use"]
        cls = _head_class(core[-1], lex)
        if cls == "list":
            out += [f"add this to {my}", f"add something to {my}", f"remove this from {my}",
                    f"delete something from {my}", f"put this on {my}", f"take this off {my}",
                    f"add an item to {my}"]
        else:
            out += [f"add {a}", f"set {a}", f"create {a}", f"make a new {bare}",
                    f"delete {my}", f"remove {my}", f"cancel {my}", f"add to {my}",
                    f"put something on {my}", f"remove something from {my}"]
            for v in _derived_verbs(core[-1], lex, limit=1):
                out += [f"{v} me to do this", f"{v} me about this", f"{v} me later"]
        return out
    if core and tail == "request":
        c = " ".join(core)
        out += [f"request {c}", f"I want to request {c}", f"can I request {c}",
                f"submit a request for {c}", f"I'd like to ask for {c}",
                f"put in a request for {c}", f"I need to take {c}", f"can I get {c}",
                f"request my {c}"]
        return out
    pp = _participle_base(tail, lex) if core and not _is_verb(words[0], lex) else None
    if pp is not None:
        c = " ".join(core)
        out += [f"my {c} is {tail}", f"why is my {c} {tail}", f"why was my {c} {tail}",
                f"my {c} got {tail}", f"is my {c} {tail}", f"my {c} has been {tail}",
                f"what do I do if my {c} is {tail}", f"how much {c} have I {tail}",
                f"how many {c} have I {tail}", f"how much {c} did I {pp}"]
        return out
    if len(words) == 2 and lex is not None and lex.lookup(tail, pos="a").found \
            and lex.lookup(words[0], pos="n").found and not _is_verb(words[0], lex) \
            and not lex.lookup(tail, pos="v").found:
        c = words[0]
        return out + [f"when is my {c} {tail}", f"is my {c} {tail}", f"my {c} is {tail}",
                      f"when is the {c} {tail}", f"which {_plural(c)} are {tail}",
                      f"is the {c} {tail} yet", f"what {_plural(c)} are {tail}",
                      f"when is {c} {tail}"]
    lead_pp = _participle_base(words[0], lex) if len(words) > 1 else None
    if lead_pp is not None:
        rest = " ".join(words[1:])
        out += [f"my {rest} is {words[0]}", f"I have {_an(words[0])} {words[0]} {rest}",
                f"my {rest} got {words[0]}", f"what do I do with {_an(words[0])} {phrase}",
                f"I {words[0]} my {rest}", f"my {rest} has been {words[0]}",
                f"help, my {rest} is {words[0]}", f"replace my {words[0]} {rest}"]
        return out
    if len(words) > 1 and words[0] == "next":
        rest = " ".join(words[1:])
        out += [f"when is the next {rest}", f"what is the next {rest}", f"next {rest} please",
                f"skip to the next {rest}", f"go to the next {rest}", f"skip this {rest}",
                f"when is my next {rest}", f"how long until the next {rest}"]
        return out
    if len(words) > 1 and words[0] == "last":
        rest = " ".join(words[1:])
        out += [f"when was my last {rest}", f"when did I last get {rest}",
                f"when was the last time I had {rest}", f"when did I last have {rest}",
                f"what was my last {rest}", f"how long ago was my last {rest}"]
        return out
    if len(words) > 1 and words[0] == "new":
        rest = " ".join(words[1:])
        out += [f"I need a new {rest}", f"get me a new {rest}", f"how do I get a new {rest}",
                f"order a new {rest}", f"apply for a new {rest}", f"I want a new {rest}",
                f"can I get a new {rest}"]
        return out
    if (_is_verb(words[0], lex) or _takes_object(words[0], words[1:], lex)
            or _also_a_verb(words, lex)) \
            and not (len(words) > 1 and _head_class(words[-1], lex) == "time"):
        v = words[0]
        if len(words) > 1:
            objw = words[1:]
            ob, omy, othe, oa = _np_forms(objw)
            out += [f"{v} {omy}", f"I want to {v} {omy}", f"can you {v} {omy}",
                    f"please {v} {othe}", f"how do I {v} {ob}", f"help me {v} {ob}",
                    f"I need to {v} {oa}", f"I'd like to {v} {oa}", f"{v} {oa} for me",
                    f"could you {v} {othe}", f"I need you to {v} {othe}", f"let's {v} {oa}",
                    f"{v} {othe}", f"{v} {oa}"]
            if _lexname(v, "v", lex) == "verb.communication":  # tell me a joke
                out += [f"{v} me {oa}", f"can you {v} me {oa}", f"I want you to {v} me {oa}"]
            return out
        out += [f"I want to {v}", f"can you {v}", f"please {v}", f"{v} it", f"help me {v}",
                f"{v} this for me", f"I need to {v} something", f"{v} this", f"how do I {v}",
                f"could you {v} that", f"I'd like to {v}"]
        if not lex.lookup(v, pos="n").found:
            return out  # a word that is also a noun is asked about as well
    # a noun phrase
    out += _noun_queries(words, lex)
    for v, obj in _verb_phrases(words, lex):
        if obj:
            out += [f"{v} {_an(obj)} {obj}", f"can you {v} {_an(obj)} {obj}",
                    f"{v} me {_an(obj)} {obj}", f"what {obj} do you {v}",
                    f"I want to {v} {_an(obj)} {obj}", f"help me {v} {_an(obj)} {obj}"]
            if _lexname(v, "v", lex) == "verb.communication":  # notify, alert: about a topic
                out += [f"I need to {v} you about my {obj}", f"{v} them about my {obj}",
                        f"{v} about my {obj}",
                        f"I have to {v} someone of my {obj}"]
        elif _head_class(words[-1], lex) == "date":
            out += [f"when does it {v}", f"when will it {v}", f"when does my {words[-1]} {v}"]
        elif _head_class(words[-1], lex) == "record":
            pv = _past(v, lex)
            out += [f"how much did I {v}", f"what have I {pv}", f"show me what I {pv}",
                    f"how much have I {pv}"]
    tail_pos = {t.pos for t in lex.synsets(words[-1])} if lex is not None else set()
    if len(words) == 2 and "v" in tail_pos and ("n" not in tail_pos or tail_pos & {"a", "r"}):
        out += [f"how long does {words[0]} {words[1]}", f"how long will {words[0]} {words[1]}",
                f"will my {words[0]} {words[1]}", f"does {words[0]} {words[1]}"]
    return out


def glossary_expansions(name: str, glossary, *, domain: str | None = None) -> list[str]:
    """What the glossary says about the terms of a name: "pto: paid time off", the gloss
    ("pto: days of leave from work for which an employer still pays ..."), its related terms
    ("pto: vacation, holiday, sick day, employer"), the name with the term spelt out, and the
    term's synonyms."""
    if glossary is None:
        return []
    words = _words(name)
    out: list[str] = []
    for (i, j), entry in glossary.find(words, context=domain):
        term = " ".join(words[i:j])
        out += [f"{term}: {full}" for full in entry.stands_for]
        if entry.gloss:
            out.append(f"{term}: {entry.gloss}")
        if entry.related:  # what the term goes with, as a dictionary's "see also"
            out.append(f"{term}: {', '.join(entry.related)}")
        for alt in entry.alternatives:
            out.append(" ".join(words[:i] + [alt.lower()] + words[j:]))
        out += [a.lower() for a in entry.alternatives]
    return list(dict.fromkeys(out))


def lexicon_expansions(name: str, lexicon, *, glossary=None, domain: str | None = None
                       ) -> list[str]:
    """What WordNet says about a name: the gloss and synonyms of a multiword part it knows as
    one lemma; for a one-word name, the gloss of its first noun and verb senses, the other
    words of those senses, and the kinds (hyponyms) of its first noun sense. A name the
    ``glossary`` covers whole is left to it (WordNet reads "pto" as power take-off)."""
    if lexicon is None:
        return []
    words = [w for w in name.lower().split("_") if w]
    if glossary is not None and any(j - i == len(words) for (i, j), _ in
                                    glossary.find(words, context=domain)):
        return []
    out: list[str] = []
    for size in range(len(words), 1, -1):
        for i in range(len(words) - size + 1):
            part = " ".join(words[i:i + size])
            entry = lexicon.lookup(part, max_senses=1)
            if entry.found and entry.lemma and "_" in entry.lemma:
                out.append(f"{part}: {entry.glosses[0]}")
                out += [" ".join(words[:i] + [s] + words[i + size:])
                        for s in entry.synonyms[:2]]
    if len(words) == 1 and words[0] not in _STOP:
        word = words[0]
        first = lexicon.lookup(word, max_senses=1)
        if first.found:
            out.append(f"{word}: {first.glosses[0]}")
        for pos in ("n", "v"):
            entry = lexicon.lookup(word, pos=pos, max_senses=1)
            if not entry.found:
                continue
            synset = entry.synsets[0]
            out.append(f"{word}: {synset.gloss.split(';')[0].strip()}")
            lemmas = [w.replace("_", " ") for w in synset.lemmas]
            out += [w for w in lemmas if w.lower() != word][:10]
            if pos == "n":
                out += [lexicon.lemmas_of(p.target)[0].replace("_", " ")
                        for p in synset.targets("hyponym")][:6]
    return out


def _domain_words(domain: str) -> str:
    return " ".join(w for w in domain.lower().replace("_and_", " and ").split("_") if w)


def _in_domain(texts: Sequence[str], domain: str) -> list[str]:
    where = _domain_words(domain)
    return [f"{where}: {t}" for t in texts]


def domain_expansions(name: str, domain: str | None, requests: Sequence[str] = ()) -> list[str]:
    """The name and its typical ``requests`` in their domain's context ("banking: balance",
    "balance (banking)", "banking: what is my balance")."""
    if not domain:
        return []
    phrase = " ".join(w for w in name.lower().split("_") if w)
    where = _domain_words(domain)
    return ([f"{where}: {phrase}", f"{phrase} ({where})"]
            + [f"{where}: {r}" for r in requests if r != phrase])


def conceptnet_expansions(name: str, client, *, limit: int = 5) -> tuple[list[str], int]:
    """Related terms from ConceptNet for each word of the name, as the name with the word
    replaced ("pto balance" → "vacation balance"). Returns the texts and how many lookups
    failed (offline and not cached, or the service failing)."""
    from connectors.errors import ConnectorError
    words = [w for w in name.lower().split("_") if w]
    out, failed = [], 0
    for i, word in enumerate(words):
        if word in _STOP or len(word) < 2:
            continue
        try:
            related = client.related(word, limit=limit)
        except ConnectorError:
            failed += 1
            continue
        for item in related.related[:limit]:
            out.append(" ".join(words[:i] + [item.label] + words[i + 1:]))
    return out, failed


def expand_name(name: str, *, domain: str | None = None, lexicon=None, conceptnet=None,
                glossary=None) -> list[Expansion]:
    """Every text standing for an intent name (see the module docstring)."""
    out = [Expansion(name, "name")]
    requests = typical_requests(name, lexicon, glossary=glossary, domain=domain)
    out += [Expansion(t, "template") for t in requests]
    out += [Expansion(t, "wordnet") for t in lexicon_expansions(name, lexicon, glossary=glossary,
                                                                domain=domain)]
    # the glossary's texts stand in the domain's context when there is one: bare, the many
    # spelt-out variants of a glossed name ("paid time off", "vacation days") outweigh it
    glossed = (glossary_expansions(name, glossary, domain=domain)
               + glossary_requests(name, lexicon, glossary=glossary, domain=domain))
    out += [Expansion(t, "glossary") for t in (_in_domain(glossed, domain) if domain
                                                 else glossed)]
    out += [Expansion(t, "domain") for t in domain_expansions(name, domain, requests)]
    if conceptnet is not None:
        texts, _ = conceptnet_expansions(name, conceptnet)
        out += [Expansion(t, "conceptnet") for t in texts]
    seen: dict[str, Expansion] = {}
    for e in out:
        seen.setdefault(e.text, e)
    return list(seen.values())


def _normalize(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


# words left out of the sibling comparison: articles and the commonest prepositions (pronouns
# stay: "my name" and "your name" are told apart by them)
_FILLER = {"a", "an", "the", "to", "of", "for", "in", "on", "and", "or", "is", "are", "s"}


class _Words:
    """Words of a text as comparable keys: lower case, WordNet base forms when a lexicon is
    given ("reminders" → reminder, "used" → use), fillers left out."""

    def __init__(self, lexicon=None):
        self.lex = lexicon
        self._keys: dict[str, str] = {}

    def key(self, word: str) -> str:
        if word not in self._keys:
            base = word
            if self.lex is not None:
                for pos in ("n", "v", "a"):
                    forms = self.lex.base_forms(word, pos)
                    if forms:
                        base = forms[0]
                        break
            self._keys[word] = base
        return self._keys[word]

    def __call__(self, text: str) -> set[str]:
        return {self.key(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _FILLER}


def _open_compound(word: str, lex) -> list[str]:
    """A closed compound WordNet knows only written open, as its words ("timezone" → time,
    zone: WordNet has "time zone"); any other word as it is."""
    if lex is None or len(word) < 5 or lex.lookup(word).found:
        return [word]
    for i in range(2, len(word) - 1):
        if lex.lookup(f"{word[:i]} {word[i:]}").found:
            return [word[:i], word[i:]]
    return [word]


def _without_domain(text: str, domain: str | None) -> str:
    """An expansion text without the domain context it was put in ("banking: what is my
    balance" → "what is my balance")."""
    if not domain:
        return text
    where = _domain_words(domain)
    if text.startswith(f"{where}: "):
        return text[len(where) + 2:]
    if text.endswith(f" ({where})"):
        return text[:-len(where) - 3]
    return text


# the grammatical shape of a request (:func:`request_shape`): who it is about, its tense, and
# whether it asks or tells
_FIRST_PERSON = {"i", "my", "me", "mine", "myself", "im", "ive", "id", "we", "our", "us"}
_SECOND_PERSON = {"you", "your", "yours", "yourself", "youre"}
_WH = {"what", "when", "where", "why", "who", "which", "how", "whats", "whens", "wheres", "hows"}
_AUXILIARIES = {"is", "are", "was", "were", "am", "do", "does", "did", "can", "could", "will",
                "would", "should", "shall", "may", "have", "has", "had", "isnt", "dont",
                "doesnt", "didnt"}
# present forms WordNet's exception lists give beside the past ones ("be": am, is, was, ...)
_PRESENT_FORMS = {"am", "is", "are", "has", "does"}
#: The features of :func:`request_shape`, in order.
SHAPE_FEATURES = ("first_person", "second_person", "past", "question", "imperative")


def _past_form(word: str, lex) -> bool:
    """A verb's past form, regular or irregular by WordNet ("used", "spent", "lost", "was"), not
    its base ("need", "bed"), a present form ("is", "has", "goes") nor a gerund."""
    if lex is None or word.endswith("ing"):
        return False
    bases = lex.base_forms(word, "v")
    if not bases or word in bases or word in _PRESENT_FORMS:
        return False
    if any(word in (b + "s", b + "es", b[:-1] + "ies") for b in bases):
        return False
    return word.endswith("ed") or any(word in lex.irregular_forms(b, "v") for b in bases)


def request_shape(text: str, lexicon=None) -> np.ndarray:
    """The grammatical shape of a request as 0/1 features (:data:`SHAPE_FEATURES`), by English
    function words and WordNet's verb forms: about the speaker ("my", "I"), about the hearer
    ("you", "your"), in the past ("did", a past form: "how many days have I used"), a question
    (opening with a wh-word or an auxiliary, or ending in "?"), an imperative (opening, after
    "please", with a verb lemma). Without a lexicon, past forms are "did" alone and no
    imperative is seen."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("'", "").replace("\u2019", ""))
    if not words:
        return np.zeros(len(SHAPE_FEATURES), dtype=np.float32)
    first = words[1] if words[0] == "please" and len(words) > 1 else words[0]
    question = words[0] in _WH or words[0] in _AUXILIARIES or text.rstrip().endswith("?")
    imperative = (not question and first not in _FIRST_PERSON | _SECOND_PERSON
                  and _can_open(first, lexicon))
    return np.array([any(w in _FIRST_PERSON for w in words),
                     any(w in _SECOND_PERSON for w in words),
                     any(w == "did" or _past_form(w, lexicon) for w in words),
                     question, imperative], dtype=np.float32)


class ZeroShotIntents:
    """Maps utterances to intents from their names alone (and their expansions).

    ``encoder``: anything with ``encode(texts)``; ``lexicon`` and ``glossary``
    (:class:`connectors.lexicon.Lexicon`, :class:`connectors.lexicon.Glossary`) expand the
    names when no ``expansions`` are given (the lexicon also gives the base forms of words
    for the sibling comparison); ``name_weight``: the share of the similarity to the name as
    written; ``k``: how many of an intent's most similar expansions count;
    ``prototype_weight``: the share of the similarity to the intent's prototype (the normalised
    mean of its typical requests' embeddings, :attr:`prototypes`) mixed with the mean of the
    ``k`` most similar texts; ``text_vectors``: embeddings already computed for (some of) the
    expansion texts.

    Three adjustments, in this order, each computed from the intents' own texts and names,
    never from utterances (0 turns them off):

    * ``hub_weight``: each intent's score loses this share of its *hubness*, how strongly it
      attracts the other intents' typical requests: the mean of its scores for the ``hub_k``
      typical requests (``template`` texts) of other intents it scores highest. This is the
      target-side term of CSLS (Lample et al. 2018, cross-domain similarity local scaling)
      with the intents' own generated requests standing in for the queries, so it needs no
      utterance: an intent whose texts are near many other intents' requests ("what is my
      ...") is drawn towards less.
    * ``domain_weight``: each intent's score gains this share of the best score among its
      domain's intents. The best intent keeps first place (its own score is its domain's
      best); the places after it go to intents of the likelier domains.
    * ``sibling_weight``: when the best intent and one of the next two are *siblings* (their
      names share a word: ``todo_list`` and ``todo_list_update``, ``user_name`` and
      ``what_is_your_name``; a closed compound WordNet knows written open counts as its
      words: "timezone", "time"), their order is decided again with the words that tell their
      texts apart: each word of the utterance counts for the share of one intent's texts
      holding it minus the share of the other's ("add" is in many of ``todo_list_update``'s
      texts and none of ``todo_list``'s; "my" in ``user_name``'s, "your" in
      ``what_is_your_name``'s). The contrast, averaged over the utterance's words and times
      this weight, is added to the difference of their scores; the best intent is weighed so
      against the second, then the third, and gives its place to the first sibling that
      wins. Only the order within the top three changes, so top-3 is left as it is. Needs
      the utterances' words: pass ``texts`` to :meth:`scores`.
    * ``shape_weight``: in the same comparison of siblings, the agreement of the utterance's
      grammatical shape (:func:`request_shape`) with the shares of each intent's typical
      requests having each feature (:attr:`shapes`): each feature the utterance has counts
      +1, each it lacks -1, times the first intent's share less the second's, averaged over
      the features and times this weight, is added to the gap too (0 with ``sibling_weight``
      0 as well turns the comparison off).
    """

    def __init__(self, names: Sequence[str], encoder, *,
                 expansions: Mapping[str, Sequence[Expansion]] | None = None,
                 domains: Mapping[str, str] | None = None, lexicon=None, glossary=None,
                 name_weight: float = 0.0, k: int = 5, domain_weight: float = 0.25,
                 sibling_weight: float = 0.4, hub_weight: float = 0.2, hub_k: int = 300,
                 prototype_weight: float = 0.15, shape_weight: float = 0.1,
                 sources: Iterable[str] = ("name", "template", "wordnet", "glossary",
                                           "domain", "conceptnet"),
                 text_vectors: Mapping[str, np.ndarray] | None = None):
        self.names = list(names)
        self.encoder = encoder
        self.name_weight = name_weight
        self.k = k
        self.domain_weight = domain_weight
        self.sibling_weight = sibling_weight
        self.hub_weight = hub_weight
        self.hub_k = hub_k
        self.prototype_weight = prototype_weight
        self.shape_weight = shape_weight
        self.lexicon = lexicon
        domains = dict(domains or {})
        if expansions is None:
            expansions = {n: expand_name(n, domain=domains.get(n), lexicon=lexicon,
                                         glossary=glossary) for n in self.names}
        keep = set(sources)
        texts, owner, requests = [], [], []
        for i, n in enumerate(self.names):
            for e in expansions[n]:
                if e.source in keep:
                    texts.append(e.text)
                    owner.append(i)
                    requests.append(e.source == "template")
        self.texts = texts
        self.owner = np.array(owner)
        known = text_vectors or {}
        missing = [t for t in dict.fromkeys(texts + self.names) if t not in known]
        fresh = dict(zip(missing, encoder.encode(missing))) if missing else {}

        def rows(items: list[str]) -> np.ndarray:
            return _normalize(np.stack([known[t] if t in known else fresh[t] for t in items]))

        self.vectors = rows(texts) if texts else np.zeros((0, 1))
        self.name_vectors = rows(self.names)
        self.prototypes = self._prototypes(np.array(requests, dtype=bool))
        self.hubness = self._hubness(np.array(requests, dtype=bool))
        # intents without a domain are each a domain of their own
        groups = {d: g for g, d in enumerate(dict.fromkeys(domains.get(n, f"\0{n}")
                                                           for n in self.names))}
        self.domain_of = np.array([groups[domains.get(n, f"\0{n}")] for n in self.names])
        self.words = _Words(lexicon)
        self.profiles: list[dict[str, float]] = []
        for n in self.names:  # the share of the intent's texts holding each word
            own = list(dict.fromkeys(_without_domain(e.text, domains.get(n))
                                     for e in expansions[n]
                                     if e.source in keep and e.source != "name"))
            counts: dict[str, int] = {}
            for t in own:
                for w in self.words(t):
                    counts[w] = counts.get(w, 0) + 1
            self.profiles.append({w: c / len(own) for w, c in counts.items()})
        # the share of each intent's typical requests with each grammatical feature
        self.shapes = np.zeros((len(self.names), len(SHAPE_FEATURES)), dtype=np.float32)
        for i, n in enumerate(self.names):
            own = list(dict.fromkeys(_without_domain(e.text, domains.get(n))
                                     for e in expansions[n] if e.source == "template"))
            if own:
                self.shapes[i] = np.mean([request_shape(t, lexicon) for t in own], axis=0)
        name_words = [{self.words.key(p) for w in _words(n) if w not in _STOP
                       for p in _open_compound(w, lexicon)} for n in self.names]
        self.siblings = {(i, j) for i in range(len(self.names)) for j in range(len(self.names))
                         if i != j and name_words[i] & name_words[j]}

    def _prototypes(self, requests: np.ndarray) -> np.ndarray:
        """Each intent's prototype: the normalised mean of its typical requests' embeddings
        (of all its texts when it has no typical request; zero when it has no text)."""
        out = np.zeros((len(self.names), self.vectors.shape[1]), dtype=np.float32)
        for i in range(len(self.names)):
            own = self.owner == i
            rows = self.vectors[own & requests] if (own & requests).any() else self.vectors[own]
            if len(rows):
                out[i] = rows.mean(axis=0)
        return _normalize(out)

    def _expanded(self, vectors: np.ndarray) -> np.ndarray:
        """Each intent's score: the mean similarity of its ``k`` most similar texts, mixed
        with ``prototype_weight`` of the similarity to its prototype."""
        sims = vectors @ self.vectors.T
        expanded = np.full((len(vectors), len(self.names)), -1.0, dtype=np.float32)
        for i in range(len(self.names)):
            cols = sims[:, self.owner == i]
            if cols.shape[1]:
                kk = min(self.k, cols.shape[1])
                expanded[:, i] = -np.sort(-cols, axis=1)[:, :kk].mean(axis=1)
        if self.prototype_weight:
            expanded = ((1 - self.prototype_weight) * expanded
                        + self.prototype_weight * (vectors @ self.prototypes.T))
        return expanded

    def _hubness(self, requests: np.ndarray) -> np.ndarray:
        """Each intent's mean score for the ``hub_k`` other intents' typical requests it scores
        highest (0 for all when there are none)."""
        out = np.zeros(len(self.names), dtype=np.float32)
        if not requests.any() or self.hub_k < 1:
            return out
        pseudo = self._expanded(self.vectors[requests])
        pseudo[self.owner[requests][:, None] == np.arange(len(self.names))[None, :]] = np.nan
        for i in range(len(self.names)):
            col = pseudo[:, i][~np.isnan(pseudo[:, i])]
            if len(col):
                out[i] = -np.sort(-col)[:self.hub_k].mean()
        return out

    def scores(self, vectors: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """One row of intent scores per utterance vector; ``texts`` (the utterances) let
        siblings be told apart by their words (see the class docstring)."""
        vectors = _normalize(vectors)
        expanded = self._expanded(vectors)
        plain = vectors @ self.name_vectors.T
        out = self.name_weight * plain + (1 - self.name_weight) * expanded
        if self.hub_weight:
            out = out - self.hub_weight * self.hubness[None, :]
        if self.domain_weight:
            best = np.full((len(out), self.domain_of.max() + 1), -np.inf, dtype=np.float32)
            for g in np.unique(self.domain_of):
                best[:, g] = out[:, self.domain_of == g].max(axis=1)
            out = out + self.domain_weight * best[:, self.domain_of]
        if ((self.sibling_weight or self.shape_weight) and texts is not None
                and len(self.names) > 1):
            if len(texts) != len(out):
                raise ValueError(f"{len(texts)} texts for {len(out)} vectors: pass the "
                                 "utterances the vectors encode, in the same order")
            order = np.argsort(-out, axis=1)[:, :3]
            for r, (i, *rest) in enumerate(order):
                for j in rest:  # the best against the next two: the first sibling to win
                    if (i, j) in self.siblings and self._contrast(texts[r], i, j, out[r, i]
                                                                  - out[r, j]) < 0:
                        out[r, i], out[r, j] = out[r, j], out[r, i]
                        break
        return out

    def _contrast(self, text: str, i: int, j: int, gap: float) -> float:
        """The gap between intents i and j after their words are weighed (below 0: j wins)."""
        words = self.words(text)
        if self.shape_weight:
            # +1 for each feature the utterance has, -1 for each it lacks, against the
            # difference of the two intents' shares of requests having it
            signed = 2 * request_shape(text, self.lexicon) - 1
            gap += self.shape_weight * float(signed @ (self.shapes[i] - self.shapes[j])
                                             ) / len(SHAPE_FEATURES)
        if not words:
            return gap
        p, q = self.profiles[i], self.profiles[j]
        shift = sum(p.get(w, 0.0) - q.get(w, 0.0) for w in words) / len(words)
        return gap + self.sibling_weight * shift

    def rank(self, texts: Sequence[str], *, top: int = 3) -> list[list[tuple[str, float]]]:
        """The ``top`` intents for each text, best first, with their scores."""
        texts = list(texts)
        scores = self.scores(self.encoder.encode(texts), texts)
        order = np.argsort(-scores, axis=1)[:, :top]
        return [[(self.names[j], float(scores[r, j])) for j in row]
                for r, row in enumerate(order)]


def _top(scores: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    order = np.argsort(-scores, axis=1)
    top1 = float((order[:, 0] == gold).mean() * 100)
    top3 = float((order[:, :3] == gold[:, None]).any(axis=1).mean() * 100)
    return round(top1, 2), round(top3, 2)


def load_clinc150(data: str | Path, *, split: str = "val", domains: str | Path | None = None
                  ) -> tuple[list[str], list[str], list[str], dict[str, str]]:
    """(utterances, gold intents, intent names, domain of each intent) of a CLINC150 split; the
    out-of-scope queries are left out (zero-shot mapping is over in-scope intents)."""
    path = Path(data)
    if path.is_dir():
        path = path / "data_full.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SystemExit(f"cannot read CLINC150 data from {path}: {err}; pass --data "
                         "data_full.json (the CLINC150 release)") from None
    if split not in raw:
        raise SystemExit(f"{path} has no split {split!r}; its splits: {', '.join(raw)}")
    dom_path = Path(domains) if domains else path.with_name("domains.json")
    if dom_path.exists():
        dom = json.loads(dom_path.read_text(encoding="utf-8"))
        domain_of = {n: d for d, intents in dom.items() for n in intents}
        names = [n for intents in dom.values() for n in intents]
    else:
        domain_of = {}
        names = sorted({label for _, label in raw[split] if label != "oos"})
    pairs = [(t, label) for t, label in raw[split] if label != "oos" and label in set(names)]
    return [t for t, _ in pairs], [label for _, label in pairs], names, domain_of


def development_set(data: str | Path, which: str, *, domains: str | Path | None = None,
                    per_intent: int = 30, seed: int = 0
                    ) -> tuple[list[str], list[str], list[str], dict[str, str]]:
    """Development set ``A`` or ``B`` (same shape as :func:`load_clinc150`), drawn from CLINC150's
    *train* split: each intent's train utterances (intents in ``domains.json`` order) shuffled by
    one ``random.Random(seed)``; A holds the first ``per_intent`` of each, B the next
    ``per_intent``. Settings are chosen on these, never on val (``--dev A``)."""
    import random

    if which not in ("A", "B"):
        raise SystemExit(f"no development set {which!r}: there are A and B")
    texts, gold, names, domain_of = load_clinc150(data, split="train", domains=domains)
    by_intent: dict[str, list[str]] = {n: [] for n in names}
    for t, label in zip(texts, gold):
        by_intent[label].append(t)
    rng = random.Random(seed)
    start = 0 if which == "A" else per_intent
    out: list[tuple[str, str]] = []
    for n in names:
        pool = list(by_intent[n])
        rng.shuffle(pool)
        out += [(t, n) for t in pool[start:start + per_intent]]
    return [t for t, _ in out], [n for _, n in out], names, domain_of


def _cached_vectors(texts: list[str], encoder, cache: Path | None) -> dict[str, np.ndarray]:
    """Embeddings of the expansion texts. With a ``cache`` folder they are kept there, one
    ``.npz`` per encoder (texts and rows), so a rerun encodes only the texts it has not seen."""
    texts = list(dict.fromkeys(texts))
    known: dict[str, np.ndarray] = {}
    path = None
    if cache is not None:
        label = str(getattr(encoder, "name", type(encoder).__name__))
        key = hashlib.sha1(label.encode("utf-8")).hexdigest()[:12]
        path = cache / f"expansions-{key}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as stored:
                    known = dict(zip(stored["texts"].tolist(), stored["vectors"]))
            except (OSError, ValueError, KeyError) as err:
                log.warning("ignoring the unreadable embedding cache %s: %s", path, err)
    missing = [t for t in texts if t not in known]
    if missing:
        known.update(zip(missing, np.asarray(encoder.encode(missing), dtype=np.float32)))
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.stem + ".tmp.npz")
                np.savez(tmp, texts=np.array(list(known), dtype=str),
                         vectors=np.stack(list(known.values())))
                tmp.replace(path)
            except OSError as err:  # a cache that cannot be written only costs time
                log.warning("cannot cache expansion embeddings in %s: %s", path, err)
    return {t: known[t] for t in texts}


#: Ablations over the sources of one expansion: the sources each one keeps.
ABLATIONS = {
    "lexicon_off": ("name", "template", "glossary", "domain", "conceptnet"),
    "templates_only": ("name", "template"),
}
#: Ablations that expand the names again without one input (its whole contribution, the
#: templates' parts of speech and classes included): no WordNet, no glossary, no domain.
REBUILT_ABLATIONS = ("no_lexicon", "glossary_off", "domain_off")
#: Ablations of the scoring adjustments (:class:`ZeroShotIntents`): the settings each one
#: turns off.
SCORING_ABLATIONS = {
    "sibling_off": {"sibling_weight": 0.0, "shape_weight": 0.0},
    "shape_off": {"shape_weight": 0.0},
    "domain_pool_off": {"domain_weight": 0.0},
    "hub_off": {"hub_weight": 0.0},
    "prototype_off": {"prototype_weight": 0.0},
}


def evaluate(texts: Sequence[str], gold: Sequence[str], names: Sequence[str], encoder, *,
             domains: Mapping[str, str] | None = None, lexicon=None, conceptnet=None,
             glossary=None, cache: str | Path | None = None, **settings) -> dict:
    """Scores the zero-shot mapping, its ablations (:data:`ABLATIONS`,
    :data:`REBUILT_ABLATIONS`, :data:`SCORING_ABLATIONS`) and the baseline (similarity to the
    name as written), over one encoding of the utterances. ``cache``: a folder for the
    expansion embeddings (None: encode them afresh); ``settings``: keyword options of
    :class:`ZeroShotIntents` (``k``, ``domain_weight``, ``sibling_weight``, ...)."""
    started = time.perf_counter()
    domains = domains or {}

    def expand(*, lexicon=lexicon, glossary=glossary, domains=domains):
        return {n: expand_name(n, domain=domains.get(n), lexicon=lexicon, glossary=glossary,
                               conceptnet=conceptnet) for n in names}

    expansions = expand()
    rebuilt = {"no_lexicon": expand(lexicon=None) if lexicon is not None else expansions,
               "glossary_off": expand(glossary=None) if glossary is not None else expansions,
               "domain_off": expand(domains={}) if domains else expansions}
    every = (expansions, *rebuilt.values())
    known = _cached_vectors([e.text for exps in every for exp in exps.values() for e in exp]
                            + list(names), encoder, Path(cache) if cache is not None else None)
    index = {n: i for i, n in enumerate(names)}
    y = np.array([index[g] for g in gold])
    vectors = _normalize(encoder.encode(list(texts)))
    texts = list(texts)

    def build(exps=expansions, *, lexicon=lexicon, **over):
        return ZeroShotIntents(names, encoder, expansions=exps, domains=domains,
                               lexicon=lexicon, text_vectors=known, **{**settings, **over})

    full = build()
    baseline = vectors @ full.name_vectors.T
    top1, top3 = _top(full.scores(vectors, texts), y)
    base1, base3 = _top(baseline, y)
    result = {"top1": top1, "top3": top3, "baseline_top1": base1, "baseline_top3": base3}
    for label, sources in ABLATIONS.items():
        model = build(sources=sources)
        result[f"{label}_top1"], result[f"{label}_top3"] = _top(model.scores(vectors, texts), y)
    for label in REBUILT_ABLATIONS:
        # without WordNet the words are compared as written; without domains none is pooled
        model = build(rebuilt[label], **{"no_lexicon": {"lexicon": None},
                                         "domain_off": {"domain_weight": 0.0}}.get(label, {}))
        result[f"{label}_top1"], result[f"{label}_top3"] = _top(model.scores(vectors, texts), y)
    for label, off in SCORING_ABLATIONS.items():
        model = build(**off)
        result[f"{label}_top1"], result[f"{label}_top3"] = _top(model.scores(vectors, texts), y)
    counts: dict[str, int] = {}
    for exp in expansions.values():
        for e in exp:
            counts[e.source] = counts.get(e.source, 0) + 1
    result.update({"utterances": len(texts), "intents": len(names), "expansions": counts,
                   "glossary_terms": len(glossary) if glossary is not None else 0,
                   "name_weight": full.name_weight, "k": full.k,
                   "domain_weight": full.domain_weight, "sibling_weight": full.sibling_weight,
                   "hub_weight": full.hub_weight, "hub_k": full.hub_k,
                   "prototype_weight": full.prototype_weight,
                   "shape_weight": full.shape_weight,
                   "elapsed_s": round(time.perf_counter() - started, 1)})
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``hearth eval zero-shot --format clinc150 --data FILE --split val [--json]``."""
    parser = argparse.ArgumentParser(prog="hearth eval zero-shot", description=(
        "Map utterances to intents from the intents' names and knowledge-base expansions "
        "alone; the baseline is MiniLM similarity to the name."))
    parser.add_argument("--format", default="clinc150", choices=["clinc150"])
    parser.add_argument("--data", required=True, help="CLINC150's data_full.json (or its folder)")
    parser.add_argument("--domains", help="domains.json (default: beside the data)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--dev", choices=["A", "B"],
                        help="score development set A or B, drawn from the train split "
                        "(development_set), instead of --split")
    parser.add_argument("--limit", type=int, help="only the first N utterances (a quick check)")
    parser.add_argument("--encoder", default="minilm", help="minilm or static")
    parser.add_argument("--conceptnet", action="store_true",
                        help="add ConceptNet's related terms (from the cache unless --online)")
    parser.add_argument("--online", action="store_true",
                        help="with --conceptnet: fetch what the cache lacks")
    parser.add_argument("--no-cache", action="store_true",
                        help="encode the expansion texts afresh (default: cached under "
                        "~/.cache/hearth/zero-shot/)")
    parser.add_argument("--no-glossary", action="store_true",
                        help="leave out the glossary of terms WordNet lacks "
                        "(ontologies/lexical.yaml)")
    for flag, default, what in (
        ("--domain-weight", 0.25, "share of the best score in an intent's domain added to its own"),
        ("--sibling-weight", 0.4, "weight of the words telling two sibling intents apart when "
                                  "they are among the best three"),
        ("--hub-weight", 0.2, "share of each intent's hubness (its mean score for the other "
                              "intents' typical requests it scores highest) taken off its score"),
        ("--prototype-weight", 0.15, "share of the similarity to each intent's prototype (the "
                                     "mean of its typical requests' embeddings) in its score"),
        ("--shape-weight", 0.1, "weight of the agreement of an utterance's grammatical shape "
                                "(person, tense, question or imperative) with two sibling "
                                "intents' typical requests"),
    ):
        parser.add_argument(flag, type=float, default=default, help=f"{what} (0: off)")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))

    if args.dev:
        texts, gold, names, domains = development_set(args.data, args.dev, domains=args.domains)
        args.split = f"train:dev-{args.dev}"
    else:
        texts, gold, names, domains = load_clinc150(args.data, split=args.split,
                                                    domains=args.domains)
    if args.limit:
        texts, gold = texts[:args.limit], gold[:args.limit]
    from connectors.lexicon import Glossary, Lexicon

    from .embeddings import cache_dir, get_encoder
    encoder = get_encoder(args.encoder)
    lexicon = Lexicon.default()
    glossary = None if args.no_glossary else Glossary.default()
    conceptnet = None
    if args.conceptnet:
        from connectors.conceptnet import ConceptNetClient
        from connectors.transport import Transport
        conceptnet = ConceptNetClient(transport=Transport.default(offline=not args.online))
    result = evaluate(texts, gold, names, encoder, domains=domains, lexicon=lexicon,
                      conceptnet=conceptnet, glossary=glossary,
                      cache=None if args.no_cache else cache_dir() / "zero-shot",
                      domain_weight=args.domain_weight, sibling_weight=args.sibling_weight,
                      hub_weight=args.hub_weight, prototype_weight=args.prototype_weight,
                      shape_weight=args.shape_weight)
    result.update({"format": args.format, "split": args.split, "encoder": args.encoder,
                   "conceptnet": bool(args.conceptnet)})
    print(f"zero-shot over {result['intents']} intents, {result['utterances']} utterances "
          f"({args.split}): top-1 {result['top1']:.1f}, top-3 {result['top3']:.1f}; "
          f"baseline (name similarity) top-1 {result['baseline_top1']:.1f}, "
          f"top-3 {result['baseline_top3']:.1f}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
