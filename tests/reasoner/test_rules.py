"""Rules: incremental forward chaining, recorded derivations, withdrawal, explanations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyoxigraph import NamedNode, Triple

from kg import events as E
from kg.household import Hearth
from reasoner.pipeline import Pipeline, make_component
from reasoner.rules import (CS, RULE_NS, RuleSet, RulesEngine, RuleSyntaxError, explain)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reasoner" / "rules"
T = dt.datetime(2026, 11, 25, 8, tzinfo=dt.timezone.utc)
EX = "urn:ex:"
HEARTH = "https://w3id.org/hearth#"


def ex(name: str) -> NamedNode:
    return NamedNode(EX + name)


def t(s: str, p: str, o: str) -> Triple:
    return Triple(ex(s), ex(p), ex(o))


def assert_facts(home, text: str):
    return home.append(E.FactsAsserted(time=T, rdf=text))


TWO_WAYS = {
    # two rules with the same conclusion, from different premises
    "tag-from-p": "PREFIX ex: <urn:ex:>\nCONSTRUCT { ?s ex:tagged ex:yes } WHERE { ?s ex:p ?o }",
    "tag-from-q": "PREFIX ex: <urn:ex:>\nCONSTRUCT { ?s ex:tagged ex:yes } WHERE { ?s ex:q ?o }",
    # and one that builds on the conclusion
    "tagged-is-seen": "PREFIX ex: <urn:ex:>\n"
                      "CONSTRUCT { ?s ex:seen ex:yes } WHERE { ?s ex:tagged ex:yes }",
}


def attach(home, rules: RuleSet) -> RulesEngine:
    engine = RulesEngine(rules)
    Pipeline([engine]).attach(home)
    return engine


def inferences(home, rule: str | None = None) -> list[tuple[int, E.FactInferred]]:
    return [(s, e) for s, e in home.events(types=[E.FactInferred])
            if rule is None or e.rule == RULE_NS + rule]


def holds(home, triple: Triple) -> bool:
    return explain(home, triple).holds


# -- parsing -----------------------------------------------------------------------------------

def test_builtin_rules_are_named_documented_and_indexed():
    rules = RuleSet.builtin()
    assert {"area-kind", "device-kind", "device-kind-alt", "plugged-appliance"} <= set(rules.names)
    for rule in rules:
        assert rule.doc and rule.iri == RULE_NS + rule.name
        assert "SELECT * WHERE" in rule.select and "CONSTRUCT" not in rule.select.upper()
    label = Triple(ex("x"), NamedNode("http://www.w3.org/2000/01/rdf-schema#label"),
                   ex("y"))
    assert {r.name for r, _ in rules.triggered_by(label)} >= {"device-kind", "area-kind"}
    assert rules.triggered_by(t("a", "unrelated", "b")) == []


def test_rules_load_from_user_files():
    rules = RuleSet.from_paths(FIXTURES)
    assert rules.names == ["family-home", "parent-child"]
    assert rules.get("parent-child").doc.startswith("A parent's child")


@pytest.mark.parametrize("body, message", [
    ("{ ?s ex:p ?o OPTIONAL { ?o ex:q ?z } }", "OPTIONAL|LeftJoin"),
    ("{ { ?s ex:p ?o } UNION { ?s ex:q ?o } }", "Union|UNION"),
    ("{ ?s ex:p ?o FILTER NOT EXISTS { ?o ex:q ?s } }", "EXISTS"),
    ("{ ?s ex:p/ex:q ?o }", "property path"),
    ("{ ?s ex:p ?o } LIMIT 1", "nothing may follow"),
])
def test_rules_that_cannot_be_traced_are_refused(body, message):
    with pytest.raises(RuleSyntaxError, match=message):
        RuleSet.from_texts(
            {"bad": f"PREFIX ex: <urn:ex:>\nCONSTRUCT {{ ?s ex:r ?o }} WHERE {body}"})


def test_a_template_variable_must_be_bound():
    with pytest.raises(RuleSyntaxError, match=r"\?z in the template is not bound"):
        RuleSet.from_texts({"bad": "PREFIX ex: <urn:ex:>\n"
                                   "CONSTRUCT { ?s ex:r ?z } WHERE { ?s ex:p ?o }"})


def test_a_rule_that_is_not_sparql_says_so():
    with pytest.raises(RuleSyntaxError, match="'oops' does not parse as SPARQL"):
        RuleSet.from_texts({"oops": "CONSTRUCT { ?s ?p } WHERE { ?s ?p ?o }"})


# -- incremental firing ------------------------------------------------------------------------

def test_a_new_event_fires_only_the_rules_its_triples_can_match(memory_home):
    engine = attach(memory_home, RuleSet.from_texts(TWO_WAYS))
    memory_home.append(E.UtteranceHeard(time=T, text="hello"))  # the engine meets the household
    assert engine.stats["full_evaluations"] == len(TWO_WAYS) and engine.stats["evaluations"] == 0
    assert_facts(memory_home, f"{ex('a')} {ex('p')} {ex('b')} .")
    assert engine.stats["evaluations:tag-from-p"] == 1
    assert engine.stats["evaluations:tag-from-q"] == 0
    # the inferred tag fires the rule that builds on it, and nothing else
    assert engine.stats["evaluations:tagged-is-seen"] == 1
    before = engine.stats["evaluations"]
    for minute in range(5):  # events whose triples no rule can match cost no evaluation
        memory_home.append(E.DeviceStateChanged(time=T + dt.timedelta(minutes=minute),
                                                device="lamp", value="on"))
    assert engine.stats["evaluations"] == before


def test_the_seed_is_bound_so_rules_are_never_rerun_over_the_graph(memory_home):
    engine = attach(memory_home, RuleSet.from_texts(TWO_WAYS))
    memory_home.append(E.UtteranceHeard(time=T, text="hello"))  # the engine meets the household
    for i in range(20):
        assert_facts(memory_home, f"{ex(f'n{i}')} {ex('q')} {ex('b')} .")
    # one evaluation per seed that can match, each with the seed bound; never a full re-run
    assert engine.stats["evaluations:tag-from-q"] == 20
    assert engine.stats["evaluations:tagged-is-seen"] == 20
    assert engine.stats["evaluations"] == 40
    assert engine.stats["full_evaluations"] == len(TWO_WAYS)
    assert len(inferences(memory_home, "tag-from-q")) == 20


def test_every_derived_triple_is_an_inference_naming_rule_and_premise_events(memory_home):
    attach(memory_home, RuleSet.from_paths(FIXTURES))
    parent = assert_facts(memory_home, f"{ex('ann')} {ex('parentOf')} {ex('bob')} .")
    lives = assert_facts(memory_home, f"{ex('ann')} {ex('livesIn')} {ex('york')} .")
    (s1, child), = inferences(memory_home, "parent-child")
    assert child.derived_from == (parent.iri,) and child.by == "component:rules"
    assert E.parse_triples(child.rdf) == [t("bob", "childOf", "ann")]
    (s2, home_), = inferences(memory_home, "family-home")
    assert set(home_.derived_from) == {memory_home.ids.event(s1), lives.iri}
    assert E.parse_triples(home_.rdf) == [t("bob", "familyHome", "york")]


def test_chains_reach_a_fixpoint_in_either_order(memory_home):
    attach(memory_home, RuleSet.from_paths(FIXTURES))
    assert_facts(memory_home, f"{ex('ann')} {ex('livesIn')} {ex('york')} .")
    assert_facts(memory_home, f"{ex('ann')} {ex('parentOf')} {ex('bob')} .")
    assert holds(memory_home, t("bob", "familyHome", "york"))


def test_a_derivation_is_recorded_once_and_circular_ones_not_at_all(memory_home):
    engine = attach(memory_home, RuleSet.from_texts({"mutual": (
        "PREFIX ex: <urn:ex:>\nCONSTRUCT { ?b ex:knows ?a } WHERE { ?a ex:knows ?b }")}))
    assert_facts(memory_home, f"{ex('ann')} {ex('knows')} {ex('bob')} .")
    assert_facts(memory_home, f"{ex('ann')} {ex('knows')} {ex('bob')} .")  # said again
    (_, fact), = inferences(memory_home)
    assert E.parse_triples(fact.rdf) == [t("bob", "knows", "ann")]
    assert engine.stats["derivations"] == 1


# -- derivations, explanations -----------------------------------------------------------------

def test_both_derivations_of_a_triple_are_found(memory_home):
    attach(memory_home, RuleSet.from_texts(TWO_WAYS))
    e1 = assert_facts(memory_home, f"{ex('a')} {ex('p')} {ex('b')} .")
    e2 = assert_facts(memory_home, f"{ex('a')} {ex('q')} {ex('c')} .")
    why = explain(memory_home, t("a", "tagged", "yes"))
    assert sorted(d.rule.rsplit("/", 1)[-1] for d in why.inferences()) == [
        "tag-from-p", "tag-from-q"]
    assert why.input_events() == {e1.iri, e2.iri}
    # the conclusion built on it was drawn once, not again for the second derivation
    assert len(inferences(memory_home, "tagged-is-seen")) == 1


def test_explain_goes_down_to_input_events(memory_home):
    attach(memory_home, RuleSet.from_paths(FIXTURES))
    parent = assert_facts(memory_home, f"{ex('ann')} {ex('parentOf')} {ex('bob')} .")
    lives = assert_facts(memory_home, f"{ex('ann')} {ex('livesIn')} {ex('york')} .")
    why = explain(memory_home, (EX + "bob", EX + "familyHome", EX + "york"))
    (top,) = why.derivations
    assert top.kind == "inferred" and top.rule == RULE_NS + "family-home"
    premises = {p.triple: p for p in top.premises}
    child = premises[t("bob", "childOf", "ann")]
    (child_d,) = child.derivations
    assert child_d.kind == "inferred" and child_d.rule == RULE_NS + "parent-child"
    (leaf,) = child_d.premises[0].derivations
    assert (leaf.kind, leaf.event, leaf.event_type) == ("asserted", parent.iri, "FactsAsserted")
    assert why.input_events() == {parent.iri, lives.iri}
    text = why.text()
    assert "inferred by rule family-home" in text and "asserted by event" in text


def test_explain_reconstructs_premises_from_the_log_alone(tmp_path):
    hearth = Hearth.open(tmp_path / "h")
    home = hearth.create_household("h1", time=T)
    engine = attach(home, RuleSet.from_paths(FIXTURES))
    parent = assert_facts(home, f"{ex('ann')} {ex('parentOf')} {ex('bob')} .")
    lives = assert_facts(home, f"{ex('ann')} {ex('livesIn')} {ex('york')} .")
    assert engine.stats["derivations"] == 2
    hearth.close()
    reopened = Hearth.open(tmp_path / "h").household("h1")  # no engine knows it
    why = explain(reopened, t("bob", "familyHome", "york"))
    assert why.inferences() and why.input_events() == {parent.iri, lives.iri}


def test_builtin_rules_find_the_front_door_lock_two_ways(memory_home):
    Pipeline.from_names(["rules"]).attach(memory_home)
    added = memory_home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z",
                                "device": "lock.front", "name": "Front Door Lock",
                                "kind": "lock", "area": "hall"})
    why = explain(memory_home, Triple(memory_home.iri("device", "lock.front"),
                                      NamedNode(HEARTH + "ofKind"),
                                      NamedNode(CS + "FrontDoorLock")))
    assert sorted(d.rule.rsplit("/", 1)[-1] for d in why.inferences()) == [
        "device-kind", "device-kind-alt"]
    assert why.input_events() == {added.iri}  # the ontology is background, not an event
    assert not holds(memory_home, Triple(memory_home.iri("device", "lock.front"),
                                         NamedNode(HEARTH + "ofKind"), NamedNode(CS + "FrontDoor")))


# -- withdrawal ---------------------------------------------------------------------------------

def test_retracting_a_premise_withdraws_what_depended_on_it(memory_home):
    attach(memory_home, RuleSet.from_paths(FIXTURES))
    parent = assert_facts(memory_home, f"{ex('ann')} {ex('parentOf')} {ex('bob')} .")
    assert_facts(memory_home, f"{ex('ann')} {ex('livesIn')} {ex('york')} .")
    facts = [memory_home.ids.event(s) for s, _ in inferences(memory_home)]
    head = memory_home.head
    memory_home.retract(parent.seq, reason="Ann is Bob's aunt", time=T)
    withdrawals = [e for _, e in memory_home.events(start=head + 2)]
    assert all(isinstance(e, E.EventRetracted) and e.by == "component:rules" for e in withdrawals)
    assert sorted(e.retracts.value for e in withdrawals) == sorted(f.value for f in facts)
    assert "was retracted" in withdrawals[0].reason
    assert not holds(memory_home, t("bob", "childOf", "ann"))
    assert not holds(memory_home, t("bob", "familyHome", "york"))
    # nothing was deleted: the inference events are still in the log
    assert all(isinstance(memory_home.event(memory_home.ids.seq_of(f)), E.FactInferred)
               for f in facts)


def test_a_conclusion_survives_while_another_derivation_remains(memory_home):
    attach(memory_home, RuleSet.from_texts(TWO_WAYS))
    e1 = assert_facts(memory_home, f"{ex('a')} {ex('p')} {ex('b')} .")
    assert_facts(memory_home, f"{ex('a')} {ex('q')} {ex('c')} .")
    (seen_seq, _), = inferences(memory_home, "tagged-is-seen")
    (from_p, _), = inferences(memory_home, "tag-from-p")
    head = memory_home.head
    memory_home.retract(e1.seq, reason="typo", time=T)
    withdrawn = [e.retracts for _, e in memory_home.events(start=head + 2)]
    assert withdrawn == [memory_home.ids.event(from_p)]  # only the derivation that lost its premise
    why = explain(memory_home, t("a", "tagged", "yes"))
    assert [d.rule.rsplit("/", 1)[-1] for d in why.inferences()] == ["tag-from-q"]
    assert holds(memory_home, t("a", "seen", "yes"))  # what rests on it stays
    assert memory_home.ids.event(seen_seq) not in memory_home.state.retracted


def test_retracting_an_inference_itself_withdraws_its_consequences(memory_home):
    attach(memory_home, RuleSet.from_paths(FIXTURES))
    assert_facts(memory_home, f"{ex('ann')} {ex('parentOf')} {ex('bob')} .")
    assert_facts(memory_home, f"{ex('ann')} {ex('livesIn')} {ex('york')} .")
    (child_seq, _), = inferences(memory_home, "parent-child")
    (home_seq, _), = inferences(memory_home, "family-home")
    memory_home.retract(child_seq, reason="wrong rule for this family", time=T)
    assert memory_home.ids.event(home_seq) in memory_home.state.retracted


def test_retracting_a_device_withdraws_its_kinds(memory_home):
    Pipeline.from_names(["rules"]).attach(memory_home)
    added = memory_home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z",
                                "device": "k", "name": "Kettle", "kind": "switch"})
    kettle = Triple(memory_home.iri("device", "k"), NamedNode(HEARTH + "ofKind"),
                    NamedNode(CS + "Kettle"))
    assert holds(memory_home, kettle)
    memory_home.retract(added.seq, reason="it was the toaster", time=T)
    assert not holds(memory_home, kettle)


def test_an_engine_meeting_a_household_catches_up_and_withdraws_stale_inferences(tmp_path):
    hearth = Hearth.open(tmp_path / "h")
    home = hearth.create_household("h1", time=T)
    parent = assert_facts(home, f"{ex('ann')} {ex('parentOf')} {ex('bob')} .")
    RulesEngine(RuleSet.from_paths(FIXTURES)).saturate(home)  # a first engine infers
    (child_seq, _), = inferences(home, "parent-child")
    home.retract(parent.seq, reason="mistake", time=T)  # …then stops; the premise goes
    assert_facts(home, f"{ex('cy')} {ex('parentOf')} {ex('dee')} .")
    hearth.close()
    home = Hearth.open(tmp_path / "h").household("h1")
    added = RulesEngine(RuleSet.from_paths(FIXTURES)).saturate(home)
    kinds = [(type(a.event).__name__, getattr(a.event, "retracts", None)) for a in added]
    assert ("EventRetracted", home.ids.event(child_seq)) in kinds
    assert holds(home, t("dee", "childOf", "cy"))
    assert not holds(home, t("bob", "childOf", "ann"))


def test_the_rules_component_is_registered():
    engine = make_component("rules", paths=[str(FIXTURES)])
    assert {"parent-child", "device-kind"} <= set(engine.rules.names)
    assert make_component("rules", builtin=False, paths=[str(FIXTURES)]).rules.names == [
        "family-home", "parent-child"]
