"""Commands of the score log: `leadml outcomes load` (outcomes from a CRM export)."""

from __future__ import annotations

from typing import Annotated

import typer

from leadml.cli.app import (
    HELP,
    ConfigOption,
    JsonOption,
    NameOption,
    app,
    err,
    friendly,
    model_name,
    print_json,
    say,
    warn,
)

outcomes_app = typer.Typer(
    help="Feed outcomes back into the score log.", no_args_is_help=True, context_settings=HELP
)
app.add_typer(outcomes_app, name="outcomes")


@outcomes_app.command("load")
@friendly
def outcomes_load(
    data: Annotated[str, typer.Option(help="Outcomes: a file or a database URL.")],
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    id_column: Annotated[
        str | None, typer.Option(help="The lead id column (default: the spec's lead id).")
    ] = None,
    outcome_column: Annotated[
        str | None, typer.Option(help="The outcome column (default: the spec's label column).")
    ] = None,
    decided_column: Annotated[
        str | None,
        typer.Option(help="When each outcome was decided, ISO 8601 (default: decided_at, if any)."),
    ] = None,
    model: Annotated[
        str, typer.Option(help="The model whose label definition reads the outcomes.")
    ] = "champion",
    name: NameOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record outcomes from an export in the score log: each value is checked against the
    label definition (a wrong one names its row, and nothing is recorded); the same outcome
    again is not recorded twice; leads the log never scored are recorded and counted."""
    name = model_name(name, config)
    from leadml.cli.score import score_log
    from leadml.data.read import read_leads
    from leadml.errors import LeadmlError
    from leadml.registry.aliases import load_lead_model
    from leadml.scorelog.outcomes import DECIDED, outcome_rows
    from leadml.scorelog.store import shown

    log = score_log()
    if log is None:
        raise LeadmlError("the score log is off (LEADML_SCORE_LOG=off): nowhere to record outcomes")
    spec = load_lead_model(name, model)[0].spec
    raw = read_leads(data, query)
    decided = decided_column or (DECIDED if DECIDED in raw.columns else None)
    rows, still_open = outcome_rows(
        raw,
        spec,
        id_column=id_column or spec.lead_id or "lead_id",
        value_column=outcome_column or spec.label.column,
        decided_column=decided,
    )
    counts = log.record_outcomes(rows, "file", still_open)
    if as_json:
        print_json({"data": data, "score_log": shown(log.url), **counts.as_dict()})
        return
    say(
        f"Read {counts.received:,} outcomes from {data}: {counts.recorded:,} recorded, "
        f"{counts.unchanged:,} already known, {counts.still_open:,} still open "
        f"-> {shown(log.url)}"
    )
    if counts.unknown:
        shown_ids = ", ".join(counts.unknown_ids)
        more = (
            f" and {counts.unknown - len(counts.unknown_ids):,} more"
            if counts.unknown > len(counts.unknown_ids)
            else ""
        )
        warn(
            f"{counts.unknown:,} of them are leads the score log never scored (scored before "
            f"it began, or elsewhere): {shown_ids}{more}"
        )
    if not decided:
        say("No decided_at column: outcomes are dated when received.", to=err)
