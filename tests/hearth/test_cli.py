"""The hearth command, end to end through typer's runner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hearth.cli import app

from ..conftest import FIXTURES

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def home_dir(tmp_path):
    d = tmp_path / "hearth"
    assert run("household", "create", "h1", "--name", "Home", "--dir", d).exit_code == 0
    return d


def test_ingest_then_query_with_bindings(home_dir):
    r = run("ingest", FIXTURES / "kg" / "morning.jsonl", "--household", "h1", "--dir", home_dir)
    assert r.exit_code == 0, r.output
    assert "ingested 5 events" in r.output
    r = run("query", "SELECT ?name WHERE { ?p rdfs:label ?name ; hearth:isHome ?home }",
            "--household", "h1", "--bind", "home=true", "--format", "json", "--dir", home_dir)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["results"]["bindings"]
    assert [b["name"]["value"] for b in rows] == ["Ann"]


def test_ingest_knows_the_reasoners_event_types_in_a_fresh_process(tmp_path):
    import subprocess
    import sys

    from hearth.demo import DEMO_DAY
    d = tmp_path / "hearth"
    lines = DEMO_DAY.read_text().splitlines()
    house = tmp_path / "house.jsonl"   # the demo day's home, with its routine (RoutineDefined)
    house.write_text("\n".join(line for line in lines if "Utterance" not in line
                               and '"2026-11-21T06:00:00-08:00"' in line) + "\n")
    assert "RoutineDefined" in house.read_text()
    cli = [sys.executable, "-c", "from hearth.cli import app; app()"]
    r = subprocess.run(cli + ["ingest", str(house), "--household", "h1", "--create", "--dir",
                              str(d)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    n = len(house.read_text().splitlines())
    assert f"ingested {n} events" in r.stdout


def test_query_bindings_from_the_command_line_are_not_injectable(home_dir):
    r = run("query", "SELECT ?x WHERE { BIND(?v AS ?x) }", "--household", "h1",
            "--bind", 'v=" } ; DROP ALL #', "--format", "csv", "--dir", home_dir)
    assert r.exit_code == 0, r.output
    import csv
    import io
    assert list(csv.reader(io.StringIO(r.output))) == [["x"], ['" } ; DROP ALL #']]


def test_a_bad_file_fails_with_line_and_field_and_stores_nothing(home_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text((FIXTURES / "kg" / "morning.jsonl").read_text() +
                   '{"type": "PersonLeft", "time": "2026-11-25T09:00:00Z", "who": "ann"}\n')
    r = run("ingest", bad, "--household", "h1", "--dir", home_dir)
    assert r.exit_code == 2
    assert "line 8" in r.output and "'who'" in r.output
    r = run("events", "--household", "h1", "--json", "--dir", home_dir)
    assert len(r.output.splitlines()) == 1  # only HouseholdCreated


def test_the_events_printed_as_json_say_why_they_are_not_input_as_they_stand(home_dir, tmp_path):
    assert run("ingest", FIXTURES / "kg" / "morning.jsonl", "--household", "h1",
               "--dir", home_dir).exit_code == 0
    printed = run("events", "--household", "h1", "--json", "--dir", home_dir).output
    dump = tmp_path / "dump.jsonl"
    dump.write_text(printed)
    assert run("household", "create", "h2", "--dir", home_dir).exit_code == 0
    r = run("ingest", dump, "--household", "h2", "--dir", home_dir)
    assert r.exit_code == 2 and "'seq' is given by the log" in r.output
    lines = [json.loads(line) for line in printed.splitlines()][1:]  # not HouseholdCreated
    dump.write_text("".join(json.dumps({k: v for k, v in e.items() if k != "seq"}) + "\n"
                            for e in lines))
    r = run("ingest", dump, "--household", "h2", "--dir", home_dir)
    assert r.exit_code == 0 and f"ingested {len(lines)} events" in r.output, r.output


def test_unknown_household_is_a_clear_error(home_dir):
    r = run("state", "--household", "nope", "--dir", home_dir)
    assert r.exit_code == 2
    assert "no household 'nope'" in r.output and "known: h1" in r.output


def test_home_assistant_import_and_state(home_dir):
    r = run("ingest", FIXTURES / "kg" / "mock_home.yaml", "--household", "h1", "--format",
            "ha-fixtures", "--dir", home_dir)
    assert r.exit_code == 0, r.output
    r = run("state", "--household", "h1", "--json", "--dir", home_dir)
    snap = json.loads(r.output)
    assert snap["device_states"]["cover.garage_door/state"][0] == "closed"
    r = run("rebuild", "--household", "h1", "--check", "--dir", home_dir)
    assert r.exit_code == 0 and "matches" in r.output


def test_load_refuses_malformed_rdf(home_dir, tmp_path):
    bad = tmp_path / "bad.ttl"
    bad.write_text("@prefix x: <urn:x:> .\nx:a x:b 'ok' .\nx:c x:d 'oops .\n")
    r = run("load", bad, "--household", "h1", "--dir", home_dir)
    assert r.exit_code == 2 and "does not parse" in r.output and "nothing was stored" in r.output
    good = tmp_path / "good.ttl"
    good.write_text("@prefix x: <urn:x:> .\nx:a x:b 'ok' .\n")
    assert run("load", good, "--household", "h1", "--dir", home_dir).exit_code == 0


def test_export_writes_trig(home_dir, tmp_path):
    out = tmp_path / "h1.trig"
    assert run("export", "--household", "h1", "-o", out, "--dir", home_dir).exit_code == 0
    from pyoxigraph import RdfFormat, parse
    graphs = {q.graph_name.value for q in parse(path=str(out), format=RdfFormat.TRIG)}
    assert "urn:hearth:h1:event:1" in graphs and "urn:hearth:h1:state" in graphs


def test_demo_prints_the_day_and_keeps_the_graph(tmp_path):
    keep = tmp_path / "demo"
    r = run("demo", "--household-dir", keep)
    assert r.exit_code == 0, r.output
    for text in ("Morning", "Evening", "Leo left", "Maya said \"what's the weather at Half Moon Bay\"",
                 "lights on: Porch Light"):
        assert text in r.output
    r = run("query", "SELECT (COUNT(*) AS ?n) WHERE { ?e a hearth:PersonLeft }", "--household",
            "rivera", "--format", "csv", "--dir", keep)
    assert r.output.splitlines()[1] == "8"


def test_eval_sgd_bad_files_get_a_clear_error_not_a_traceback(tmp_path):
    sgd = FIXTURES / "sgd"
    common = ["--test", sgd / "dev_dialogues.json", "--schema", sgd / "dev_schema.json", "--json"]
    r = run("eval", "sgd", "--train", tmp_path / "missing.json", *common)
    assert r.exit_code == 2
    assert "no file at" in r.output and "Traceback" not in r.output
    broken = tmp_path / "train_dialogues.json"
    broken.write_text('[{"dialogue_id": "1_000"', encoding="utf-8")
    r = run("eval", "sgd", "--train", broken, "--train-schema", sgd / "train_schema.json", *common)
    assert r.exit_code == 2
    assert "is not valid JSON" in r.output and "pass an SGD dialogues file" in r.output
    r = run("eval", "carryover", "--data", tmp_path / "nowhere", "--json")
    assert r.exit_code == 2 and "pass the SGD folder with --data" in r.output


def test_eval_ha_runs_home_assistant_tests_under_the_issue_name():
    ha = FIXTURES / "understanding" / "ha"
    r = run("eval", "ha", "--data", ha, "--tests", ha / "tests" / "en", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.output.strip().splitlines()[-1])
    assert result["exact_match"] == result["intent_accuracy"] == 92.31
