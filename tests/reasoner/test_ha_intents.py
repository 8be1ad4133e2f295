"""Home Assistant's intent templates, matched by hassil with slot lists drawn from the graph."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kg.household import Hearth
from kg.importers.homeassistant import read_fixtures
from reasoner.eval_ha import evaluate, main, slots_match
from reasoner.ha_intents import (HAIntentsError, HomeAssistantIntents, SlotLists, ha_domain,
                                 household_fingerprint)

HA_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "understanding" / "ha"
FIXTURES = HA_DIR / "tests" / "en" / "_fixtures.yaml"
T0 = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def ha():
    return HomeAssistantIntents.from_folder(HA_DIR)


@pytest.fixture
def home():
    home = Hearth.in_memory().create_household("ha", time=T0)
    home.append_many(list(read_fixtures(FIXTURES, time=T0)))
    return home


def match(ha, home, text, **context):
    return ha.recognize(text, SlotLists.for_household(home), context=context or None)


def test_a_template_matches_a_device_named_in_the_graph(ha, home):
    m = match(ha, home, "turn on the pantry light")
    assert (m.intent, m.slots) == ("HassTurnOn", {"name": "Pantry Light"})
    assert m.entities["name"].node == home.iri("device", "light.pantry").value
    assert m.domain == "light"


def test_alternatives_optionals_lists_rules_and_skip_words_all_work(ha, home):
    for text in ("switch on pantry light", "pantry light on please", "can you turn on my pantry "
                 "light", "turn on all lamps in the living room", "dim reading lamp to 40 percent",
                 "reading lamp at 40%"):
        assert match(ha, home, text) is not None, text
    m = match(ha, home, "dim the reading lamp to 40 percent")
    assert (m.intent, m.slots["brightness"]) == ("HassLightSet", 40)


def test_area_and_floor_slots_name_their_nodes(ha, home):
    m = match(ha, home, "turn on the lights in the living room")
    assert m.slots == {"area": "Living Room", "domain": "light"}
    assert m.entities["area"].node == home.iri("area", "living_room").value
    m = match(ha, home, "turn on all lights on the upstairs floor")
    assert m.slots["floor"] == "Upstairs"
    assert m.entities["floor"].node == home.iri("floor", "upstairs").value


def test_required_context_keeps_lock_sentences_to_locks(ha, home):
    assert match(ha, home, "lock the back door").slots == {"name": "Back Door", "domain": "lock"}
    assert match(ha, home, "lock the pantry light") is None  # a light is no lock


def test_the_area_of_the_satellite_fills_in_here(ha, home):
    assert match(ha, home, "turn on the lights in here") is None
    m = match(ha, home, "turn on the lights in here", area="Study")
    assert m.slots == {"area": "Study", "domain": "light"}


def test_a_name_written_as_a_template_is_said_every_way(ha, home):
    for text, said in (("turn on grandma's lamp", "Grandma's Lamp"),
                       ("turn on grandmas lamp", "Grandmas Lamp")):
        m = match(ha, home, text)
        assert m.slots == {"name": said}
        assert m.entities["name"].node == home.iri("device", "light.grandmas_lamp").value


def test_a_removed_device_stops_matching(ha, home):
    assert match(ha, home, "turn on the pantry light") is not None
    added = next(seq for seq, e in home.events() if getattr(e, "device", None) == "light.pantry"
                 and type(e).__name__ == "DeviceAdded")
    home.retract(added, reason="the pantry light was taken out", time=T0)
    assert "light.pantry" not in home.state.devices
    assert match(ha, home, "turn on the pantry light") is None


def test_a_renamed_device_matches_by_its_new_name_only(ha, home):
    home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z", "device": "light.pantry",
                 "name": "Larder Light", "kind": "light", "area": "kitchen"})
    assert match(ha, home, "turn on the pantry light") is None
    m = match(ha, home, "turn on the larder light")
    assert m.entities["name"].node == home.iri("device", "light.pantry").value


def test_a_new_device_matches_as_soon_as_it_is_added(ha, home):
    assert match(ha, home, "turn on the porch light") is None
    home.append({"type": "DeviceAdded", "time": "2026-11-25T07:00:00Z", "device": "light.porch",
                 "name": "Porch Light", "kind": "light"})
    assert match(ha, home, "turn on the porch light").slots == {"name": "Porch Light"}


def test_slot_lists_are_rebuilt_only_when_names_change(home):
    first = SlotLists.for_household(home)
    home.append({"type": "DeviceStateChanged", "time": "2026-11-25T07:00:00Z",
                 "device": "light.pantry", "value": "on"})
    assert SlotLists.for_household(home) is first  # a state change keeps the lists
    home.append({"type": "AreaAdded", "time": "2026-11-25T07:00:00Z", "area": "porch",
                 "name": "Porch"})
    again = SlotLists.for_household(home)
    assert again is not first
    assert again.fingerprint == household_fingerprint(home.state)


def test_devices_whose_id_is_no_entity_id_get_a_domain_from_their_kind():
    assert ha_domain("light.desk", "light") == "light"
    assert ha_domain("kettle", "appliance") == "switch"
    assert ha_domain("front_door", "lock") == "lock"
    assert ha_domain("thing", "device") is None


def test_per_intent_folders_load_and_undefined_rules_are_left_out(ha, home):
    assert match(ha, home, "never mind").intent == "HassNevermind"
    assert ha.skipped == ["HassNevermind: forget it <an_undefined_rule>"]


def test_a_folder_without_sentences_is_refused_with_the_layout_expected(tmp_path):
    with pytest.raises(HAIntentsError, match="sentences/en"):
        HomeAssistantIntents.from_folder(tmp_path)


def test_samples_are_drawn_from_templates_with_their_domain(ha, home):
    samples = ha.samples(SlotLists.for_household(home), per_template=2, seed=1)
    assert samples == ha.samples(SlotLists.for_household(home), per_template=2, seed=1)
    by_intent = {}
    for text, intent, domain in samples:
        by_intent.setdefault(intent, []).append((text, domain))
    assert set(by_intent) >= {"HassTurnOn", "HassTurnOff", "HassLightSet", "HassStartTimer"}
    locks = [t for t, d in by_intent["HassTurnOn"] if d == "lock"]
    assert locks and all("back door" in t.lower() for t in locks)
    for text, intent, _ in samples:  # every sample matches its own templates back
        got = match(ha, home, text, area="Study")
        assert got is not None and got.intent == intent, text


@pytest.mark.parametrize("matched, expected, ok", [
    ({"name": "A"}, {"name": "A"}, True),
    ({"name": "A"}, {"name": ["A", "B"]}, True),
    ({"name": ["A", "B"]}, {"name": "A"}, True),
    ({"name": "A"}, {"name": "A", "area": "K"}, False),  # an expected slot was not matched
    ({"name": "A", "area": "K"}, {"name": "A"}, False),  # a slot matched that was not expected
    ({"minutes": 12}, {"minutes": 12}, True),
    ({"minutes": 12}, {"minutes": 13}, False),
])
def test_exact_match_follows_home_assistants_rule(matched, expected, ok):
    assert slots_match(matched, expected) is ok


def test_evaluation_scores_the_tests_through_the_graph():
    result = evaluate(HA_DIR)
    assert result["sentences"] == 13
    assert result["exact"] == 12  # "half an hour": no template says it
    assert result["exact_match"] == round(100 * 12 / 13, 2)
    assert [f["sentence"] for f in result["failures"]] == ["set a timer for half an hour"]


def test_eval_main_prints_one_json_object_last(capsys):
    assert main(["--data", str(HA_DIR), "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert {"exact_match", "intent_accuracy", "sentences"} <= set(result)
    assert result["intent_accuracy"] == result["exact_match"] == 92.31
