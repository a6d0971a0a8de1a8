"""Commands of the score log: `leadml outcomes load` (outcomes from a CRM export)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadml.cli.app import (
    HELP,
    ConfigOption,
    ForceOption,
    JsonOption,
    NameOption,
    SinceOption,
    UntilOption,
    app,
    check_outputs,
    day,
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
    from leadml.registry.aliases import load_lead_model
    from leadml.scorelog.outcomes import DECIDED, outcome_rows
    from leadml.scorelog.store import shown

    log = score_log(needed_for="nowhere to record outcomes")
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


@app.command()
@friendly
def monitor(
    since: SinceOption = None,
    until: UntilOption = None,
    model: Annotated[
        str, typer.Option(help="The model whose training window drift is measured against.")
    ] = "champion",
    name: NameOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Also write the page for people (HTML, self-contained) here."),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Watch the live scores in the score log: matured leads, calibration by week, band and
    segment with a sequential test, drift against the training window, and the model's lift over
    the rules on the holdout. Exit 1 when an alert fires (for a scheduler), 0 otherwise."""
    name = model_name(name, config)
    from datetime import UTC, datetime

    import pandas as pd

    from leadml.cli.score import monitor_settings, score_log
    from leadml.monitoring import monitor as measure
    from leadml.monitoring.monitor import COLUMNS
    from leadml.registry.aliases import load_lead_model
    from leadml.scorelog.store import shown

    if out is not None:
        check_outputs(None, {"--out": out}, force=force)
    log = score_log(needed_for="nothing to watch")
    settings = monitor_settings(config)
    first, end = day(since, "--since"), day(until, "--until")
    now = min(end, pd.Timestamp(datetime.now(UTC))) if end is not None else datetime.now(UTC)
    lead_model, resolved = load_lead_model(name, model)
    scores = log.read_scores(first, end, columns=COLUMNS)
    scores = scores[scores["model_name"] == name]
    period = {
        "since": None if first is None else first.isoformat(),
        "until": None if end is None else end.isoformat(),
        "now": pd.Timestamp(now).isoformat(),
        "model": name,
        "versions": {str(k): int(v) for k, v in scores["model_version"].value_counts().items()},
        "drift_against": f"v{resolved.version}",
        "score_log": shown(log.url),
    }
    outcomes = log.read_outcomes(["lead_id", "outcome"])
    spec, profile = lead_model.spec, lead_model.info.profile
    report = measure(scores, outcomes, spec, profile, settings, period, now)
    if out is not None:
        from leadml.monitoring.page import write_page

        write_page(report, out)
        say(f"Page: {out} (open it in a browser; it needs no network)", to=err)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report, settings.label_window_days)
    if report.alerts:
        raise typer.Exit(1)


def _print_report(report, window_days: int) -> None:
    leads, cal = report.leads, report.calibration
    say(
        f"{report.period['model']} in the score log: {leads['scored']:,} leads scored, "
        f"{leads['matured']:,} matured, {leads['maturing']:,} still maturing (outcome unknown "
        f"and scored less than {window_days} days ago)"
    )
    if not leads["matured"]:
        say("No matured lead yet: nothing to measure calibration or lift on.")
    else:
        test = cal["sequential_test"]
        say(
            f"Calibration: {cal['observed']:,} sales-ready against {cal['expected']:,.1f} "
            f"expected; {test['test']} at alpha {test['alpha']}: "
            + ("ALERT" if test["alert"] else "no alert")
        )
        for title, rows in (("band", cal["by_band"]), ("week", cal["by_week"][-8:])):
            say(f"  by {title}:  leads  expected  observed  rate (95% interval)  mean score")
            for r in rows:
                flag = "  <- outside" if r["outside"] else ""
                say(
                    f"    {r['group']!s:<10} {r['leads']:>6,} {r['expected']:>9,.1f} "
                    f"{r['observed']:>9,}  {r['rate']:.1%} ({r['low']:.1%}-{r['high']:.1%})"
                    f"  {r['mean_probability']:.1%}{flag}"
                )
        for feature, rows in cal["by_segment"].items():
            outside = [r["group"] for r in rows if r["outside"]]
            say(
                f"  by {feature}: {len(rows)} values"
                + (f"; outside their interval: {', '.join(map(str, outside))}" if outside else "")
            )
    drift = report.drift
    if not drift.get("recorded"):
        say(f"Drift: not measured: {drift['why']}.")
    else:
        top = sorted(drift["features"].items(), key=lambda kv: -kv[1])[:5]
        shown = ", ".join(f"{k} {v:.2f}" for k, v in top)
        score = drift["score_psi"]
        say(
            f"Drift (PSI against {report.period['drift_against']}'s training window, "
            f"{drift['leads']:,} leads): scores {'-' if score is None else f'{score:.2f}'}; "
            f"highest features: {shown or '-'}"
        )
    held = report.holdout
    if held is None:
        say("Holdout: no matured holdout lead (LEADML_HOLDOUT sets a share)")
    else:
        diff = held["difference"]
        say(
            f"Holdout ({held['leads']:,} matured leads routed by the rules): the model's picks "
            f"converted at {_rate(held['model'])}, the rules' at {_rate(held['rules'])}"
            + (
                f"; difference {diff['rate']:+.1%} ({diff['low']:+.1%} to {diff['high']:+.1%})"
                if diff
                else ""
            )
        )
    for alert in report.alerts:
        warn(alert)
    if not report.alerts:
        say("No alert.")


def _rate(side) -> str:
    if not side["picked"]:
        return "- (none picked)"
    return f"{side['rate']:.1%} of {side['picked']:,}"
