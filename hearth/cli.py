"""The ``hearth`` command."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kg.errors import HearthError

app = typer.Typer(name="hearth", no_args_is_help=True, pretty_exceptions_enable=False,
                  help="hearth: a knowledge graph and commonsense reasoning for home assistants.")
household_app = typer.Typer(no_args_is_help=True, help="Create and list households.")
eval_app = typer.Typer(no_args_is_help=True, help="Evaluate hearth on data sets (--json).")
app.add_typer(household_app, name="household")
app.add_typer(eval_app, name="eval")

from .server import serve_app, token_app  # noqa: E402  (sub-commands defined beside the server)

app.add_typer(serve_app, name="serve")
app.add_typer(token_app, name="token")

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

DirOption = typer.Option(None, "--dir", envvar="HEARTH_HOME",
                         help="The hearth folder (default: ./.hearth, or $HEARTH_HOME).")
HouseholdOption = typer.Option(..., "--household", "-H", help="The household id.")


def _hearth(directory: Optional[Path]):
    from kg.household import Hearth
    return Hearth.open(directory or Path(".hearth"))


def _fail(err: Exception) -> None:
    err_console.print(f"[bold red]error:[/] {err}", highlight=False)
    raise typer.Exit(2)


@app.callback()
def main() -> None:
    """hearth keeps one RDF graph per household, with every input and conclusion as an event."""


@app.command()
def demo(household_dir: Optional[Path] = typer.Option(
        None, "--household-dir", help="Keep the demo's graph in this folder for querying.")):
    """Replay a built-in household day and print its timeline."""
    from .demo import run_demo
    try:
        run_demo(console, household_dir)
    except HearthError as err:
        _fail(err)


@household_app.command("create")
def household_create(household: str, name: Optional[str] = typer.Option(None, help="Its name."),
                     directory: Optional[Path] = DirOption):
    """Create a household."""
    try:
        with _hearth(directory) as hearth:
            home = hearth.create_household(household, name=name)
            console.print(f"created household {home.id!r}")
    except (HearthError, ValueError) as err:
        _fail(err)


@household_app.command("list")
def household_list(directory: Optional[Path] = DirOption):
    """List the households."""
    with _hearth(directory) as hearth:
        for h in hearth.households():
            console.print(h)


@app.command()
def ingest(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
           household: str = HouseholdOption,
           format: str = typer.Option("jsonl", help="jsonl, ha-fixtures, kasteren or casas."),
           activities: Optional[Path] = typer.Option(
               None, help="kasteren: the activity annotation file, if any."),
           create: bool = typer.Option(False, help="Create the household if it does not exist."),
           directory: Optional[Path] = DirOption):
    """Validate every event of FILE, then append them all at once (or none)."""
    from kg.ingest import append_events, parse_lines
    from reasoner.pipeline import populate_registry
    populate_registry()  # the reasoner's event types (RoutineDefined, SlotFilled …) are known too
    try:
        with _hearth(directory) as hearth:
            home = (hearth.household_or_create(household) if create
                    else hearth.household(household))
            numbers = None
            with _progress() as progress:
                if format == "jsonl":
                    size = file.stat().st_size
                    task = progress.add_task("validating", total=size)
                    lines = _tracked_lines(file, lambda n: progress.update(task, advance=n))
                    events, numbers = parse_lines(lines, home)
                else:
                    events = list(_import(format, file, activities))
                task = progress.add_task("writing", total=len(events))
                result = append_events(home, events, numbers,
                                       on_progress=lambda n: progress.update(task, completed=n))
            console.print(f"ingested {result.count} events into {household!r}"
                          + (f" (seq {result.first_seq}–{result.last_seq})" if result.count else ""))
    except (HearthError, ValueError, OSError) as err:
        _fail(err)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err_console, transient=True)


def _tracked_lines(path: Path, advance):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            advance(len(line.encode("utf-8")))
            yield line


def _import(format: str, file: Path, activities: Optional[Path]):
    if format in ("ha", "ha-fixtures", "homeassistant"):
        from kg.importers.homeassistant import read_fixtures
        return read_fixtures(file)
    if format in ("kasteren", "casas"):
        from kg.importers import sensorlog
        from reasoner.activities import annotation_events
        log = (sensorlog.read_kasteren(file, activities) if format == "kasteren"
               else sensorlog.read_casas(file))
        return [*sensorlog.to_events(log), *annotation_events(log)]
    raise typer.BadParameter(f"unknown format {format!r}: use jsonl, ha-fixtures, kasteren or casas")


_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d+\.\d*([eE]-?\d+)?$")


def _binding(text: str, prefixes: dict[str, str]):
    """A --bind value: <iri>, prefix:local, a number, true/false, a date-time, or a string
    ("quoted" forces a string)."""
    from pyoxigraph import NamedNode
    from kg.terms import parse_datetime
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if text.startswith("<") and text.endswith(">"):
        return NamedNode(text[1:-1])
    prefix, sep, local = text.partition(":")
    if sep and prefix in prefixes and " " not in text:
        return NamedNode(prefixes[prefix] + local)
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if text in ("true", "false"):
        return text == "true"
    try:
        return parse_datetime(text)
    except ValueError:
        return text


@app.command()
def query(sparql: str = typer.Argument(..., help="The query, or @FILE to read it from a file."),
          household: str = HouseholdOption,
          bind: list[str] = typer.Option([], "--bind", "-b", help="NAME=VALUE, bound safely."),
          format: str = typer.Option("table", help="table, json, csv, tsv or turtle."),
          directory: Optional[Path] = DirOption):
    """Run a SPARQL query over one household and print the result."""
    if sparql.startswith("@"):
        sparql = Path(sparql[1:]).read_text()
    try:
        with _hearth(directory) as hearth:
            home = hearth.household(household)
            prefixes = home.prefixes()
            bindings = {}
            for item in bind:
                name, sep, value = item.partition("=")
                if not sep:
                    raise typer.BadParameter(f"--bind {item!r}: write NAME=VALUE")
                bindings[name] = _binding(value, prefixes)
            result = home.query(sparql, bindings)
            _print_result(result, format, prefixes)
    except HearthError as err:
        _fail(err)


def _short(term, prefixes: dict[str, str]) -> str:
    from pyoxigraph import Literal, NamedNode
    if term is None:
        return ""
    if isinstance(term, NamedNode):
        best = max((p for p in prefixes.items() if term.value.startswith(p[1])),
                   key=lambda p: len(p[1]), default=None)
        return f"{best[0]}:{term.value[len(best[1]):]}" if best else f"<{term.value}>"
    if isinstance(term, Literal):
        return term.value
    return str(term)


def _print_result(result, format: str, prefixes: dict[str, str]) -> None:
    from kg.query import SelectResult, results_json
    if isinstance(result, bool):
        print(json.dumps({"boolean": result}) if format == "json" else str(result).lower())
        return
    if not isinstance(result, SelectResult):
        from pyoxigraph import RdfFormat, serialize
        fmt = RdfFormat.N_TRIPLES if format in ("nt", "ntriples") else RdfFormat.TURTLE
        sys.stdout.write(serialize(result, format=fmt, prefixes=prefixes).decode())
        return
    if format == "json":
        print(results_json(result))
    elif format in ("csv", "tsv"):
        sys.stdout.write(result.to_csv(delimiter="," if format == "csv" else "\t"))
    else:
        table = Table(*result.variables, show_lines=False)
        for row in result:
            table.add_row(*(_short(t, prefixes) for t in row))
        console.print(table)
        console.print(f"[dim]{len(result)} rows[/]")


@app.command()
def events(household: str = HouseholdOption,
           start: int = typer.Option(1, help="The first sequence number."),
           limit: int = typer.Option(100, help="How many events at most."),
           as_json: bool = typer.Option(False, "--json", help="One JSON object a line."),
           directory: Optional[Path] = DirOption):
    """Print a household's events in log order."""
    from .timeline import print_timeline
    try:
        with _hearth(directory) as hearth:
            home = hearth.household(household)
            items = list(home.events(start=start, end=start + limit - 1))
            if as_json:
                for seq, event in items:
                    print(json.dumps({"seq": seq, **event.to_json()}, default=str))
            else:
                print_timeline(console, items, home.state, show_readings=True)
    except HearthError as err:
        _fail(err)


@app.command()
def state(household: str = HouseholdOption,
          as_json: bool = typer.Option(False, "--json", help="Print JSON."),
          directory: Optional[Path] = DirOption):
    """Print a household's current state (the projection of its log)."""
    try:
        with _hearth(directory) as hearth:
            home = hearth.household(household)
            snap = home.state.snapshot()
            if as_json:
                print(json.dumps(snap, indent=2, default=str))
                return
            table = Table("device", "attribute", "value", "since", "from event")
            for key, (value, since, ev) in snap["device_states"].items():
                device, _, attribute = key.rpartition("/")
                table.add_row(home.state.name_of("device", device), attribute, str(value), since,
                              ev.rsplit(":", 1)[-1])
            console.print(table)
            home_now = [home.state.name_of("person", p) for p in home.state.who_is_home()]
            console.print(f"home: {', '.join(home_now) or 'nobody'}")
    except HearthError as err:
        _fail(err)


@app.command()
def load(file: Path = typer.Argument(..., exists=True, dir_okay=False),
         household: str = HouseholdOption,
         format: Optional[str] = typer.Option(None, help="ttl, nt, rdf … (default: from the name)."),
         directory: Optional[Path] = DirOption):
    """Add RDF facts from a file, as one FactsAsserted event."""
    try:
        with _hearth(directory) as hearth:
            appended = hearth.household(household).assert_facts(file, format=format)
            console.print(f"asserted the facts of {file} as event {appended.seq}")
    except HearthError as err:
        _fail(err)


@app.command()
def export(household: str = HouseholdOption,
           output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to a file."),
           format: str = typer.Option("trig", help="trig or nq."),
           directory: Optional[Path] = DirOption):
    """Write a household's whole dataset (events, state, ontology)."""
    try:
        with _hearth(directory) as hearth:
            data = hearth.household(household).export(output, format=format)
            if data is not None:
                sys.stdout.buffer.write(data)
    except HearthError as err:
        _fail(err)


@app.command()
def rebuild(household: str = HouseholdOption,
            check: bool = typer.Option(False, help="Only compare; do not rewrite."),
            directory: Optional[Path] = DirOption):
    """Replay the log and rebuild the state graph (or check that it matches)."""
    try:
        with _hearth(directory) as hearth:
            home = hearth.household(household)
            before = home.state.snapshot()
            replayed = home.log.replayed_state()
            same = replayed.snapshot() == before
            if check:
                console.print("state matches the log" if same else "[red]state differs from the log[/]")
                raise typer.Exit(0 if same else 1)
            home.rebuild_state()
            console.print(f"rebuilt the state of {household!r} from {home.head} events"
                          + ("" if same else " (it had drifted)"))
    except HearthError as err:
        _fail(err)


# -- evaluations: each lives beside its component and takes its own options -------------------
_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _eval(module: str, ctx: typer.Context) -> None:
    import importlib
    module, _, function = module.partition(":")
    try:
        main_fn = getattr(importlib.import_module(module), function or "main")
    except ModuleNotFoundError as err:
        _fail(HearthError(f"this evaluation is not available: {err}"))
    try:
        code = main_fn(list(ctx.args))
    except HearthError as err:
        _fail(err)
    raise typer.Exit(code or 0)


# (the typer app, the command name, the module whose main() takes the arguments, or
# "module:function", the help)
_PASSTHROUGH_COMMANDS = [
    (eval_app, "activities", "reasoner.eval_activities",
     "Activity recognition on binary-sensor logs (--format kasteren --train DIR --test DIR)."),
    (eval_app, "intents", "reasoner.eval_intents",
     "Few-shot intents and out-of-scope rejection (--format hwu64|clinc150|slurp …)."),
    (eval_app, "ha-intents", "reasoner.eval_ha",
     "Home Assistant's intent tests, matched in a household built from its mock home."),
    (eval_app, "ha", "reasoner.eval_ha",
     "The same as ha-intents (--data DIR --tests DIR --json)."),
    (eval_app, "zero-shot", "reasoner.eval_zero_shot",
     "Zero-shot intents from names and knowledge-base expansions (--format clinc150 --data FILE "
     "--split val)."),
    (eval_app, "explanations", "reasoner.eval_explanations",
     "Faithfulness (deletion test) and speed of explanations (--json)."),
    (app, "resolve", "reasoner.resolution",
     'Suggest what an unfamiliar request could mean ("TEXT" --household H [--offline] [--json]).'),
    (app, "hunches", "reasoner.sensor_hunches",
     "Hunches on a binary-sensor log given what a history taught (--format kasteren|casas "
     "--history FILE --events FILE [--split YYYY-MM-DD] [--json])."),
    (eval_app, "carryover", "reasoner.eval_carryover",
     "Cross-skill slot carryover on Schema-Guided Dialogue (--data DIR --split dev)."),
    (eval_app, "sgd", "reasoner.eval_carryover:sgd_main",
     "Carryover and next-service ranking on Schema-Guided Dialogue files (--train FILE --test "
     "FILE --schema FILE [--online])."),
    (eval_app, "self-learning", "reasoner.eval_self_learning",
     "Learned rewrites on simulated households (--format slurp --data FILE --seed S --json)."),
]


def _passthrough(module: str, help_text: str):
    def command(ctx: typer.Context):
        _eval(module, ctx)
    command.__doc__ = help_text
    return command


for _app, _name, _module, _help in _PASSTHROUGH_COMMANDS:
    _app.command(_name, context_settings=_PASSTHROUGH)(_passthrough(_module, _help))


if __name__ == "__main__":  # pragma: no cover
    app()
