"""`leadml predict`, `leadml evaluate`, `leadml compare`: scoring leads with a registered model.

Each command imports its work when it runs (see `leadml.cli.app`)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from leadml.cli.app import (
    ConfigOption,
    Engine,
    ForceOption,
    JsonOption,
    NameOption,
    SchedulerOption,
    SinceOption,
    UntilOption,
    _check_engine,
    _progress,
    app,
    check_outputs,
    console,
    err,
    friendly,
    metrics_table,
    model_name,
    print_json,
    say,
    warn,
)
from leadml.cli.data import _warn_unseen
from leadml.errors import DataError, LeadmlError

PREDICT_PART = 25_000  # leads scored at a time: the score log writes one part while the next scores

CapacityOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Leads sales can work per week (default: as the model was trained; for leads "
        "without dates, in the whole file).",
    ),
]
ExcludeTrainedOption = Annotated[
    bool,
    typer.Option(
        "--exclude-trained",
        help="Leave out the leads the model trained or was calibrated on (they flatter it): "
        "measure on leads it never saw.",
    ),
]


def _capacity(lead_model, capacity: int | None):
    """The sales capacity to measure with: `--capacity` per week, else as trained."""
    from leadml.spec.config import CapacityConfig

    if capacity is not None:
        return CapacityConfig(leads_per_week=capacity)
    return CapacityConfig(**lead_model.info.capacity)


def _warn_capacity(use) -> None:
    """Say when sales capacity covers (nearly) every lead measured on (`CapacityUse`)."""
    if not use.binds:
        per = "a week" if use.weeks > 1 else "of these leads"
        warn(
            f"capacity does not bind: {use.describe('these leads')}. Give --capacity N, the "
            f"leads sales really works {per} (fewer than {use.per_week:,.0f})."
        )


def _unseen_only(lead_model, leads, data: str, exclude_trained: bool):
    """(`leads`, which of them the model has seen): said to include leads the model trained
    or calibrated on (if so), and without them when `--exclude-trained`."""
    from leadml.evaluation.seen import seen_leads, without_seen

    seen = seen_leads(lead_model, leads)
    if seen is None:
        if exclude_trained:
            raise LeadmlError(
                "--exclude-trained: this model was trained before leadml recorded the leads it "
                "trained on, so it cannot tell them apart. Measure it on leads created after "
                f"its calibration window ({_calibration_end(lead_model)})"
            )
        return leads, seen
    count, unseen = int(seen.seen.sum()), int((~seen.seen).sum())
    if not count:
        return leads, seen
    if not exclude_trained:
        warn(
            f"{seen.describe(data)}. Add --exclude-trained to measure on the other {unseen:,} only."
        )
        return leads, seen
    if not unseen:
        raise DataError(
            f"{data}: the model trained or was calibrated on all {count:,} leads; with "
            "--exclude-trained none is left to measure on"
        )
    say(
        f"Left out {count:,} lead(s) the model trained or was calibrated on; measuring on the "
        f"other {unseen:,}.",
        to=err,
    )
    return without_seen(leads, seen), seen


def _calibration_end(lead_model) -> str:
    window = lead_model.info.windows.get("calibration", {})
    return f"it ended {window['to']}" if "to" in window else "see its model card"


@app.command()
@friendly
def evaluate(
    data: Annotated[str, typer.Option(help="Leads with outcomes: file or DB URL.")],
    model: Annotated[str, typer.Option(help="champion, challenger or a version.")] = "champion",
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    capacity: CapacityOption = None,
    exclude_trained: ExcludeTrainedOption = False,
    name: NameOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Score leads with known outcomes and compare the model with the agreed rules. --json
    prints {"model", "version", "alias", "data", "leads", "excluded", "seen", "metrics":
    {"model", "rules"}, "capacity"}; a metric that could not be measured is null."""
    name = model_name(name, config)
    from leadml.data.check import check_leads
    from leadml.data.read import read_leads
    from leadml.evaluation import metrics as ev
    from leadml.evaluation.capacity import capacity_use, weeks_and_capacity
    from leadml.registry.aliases import load_lead_model

    lead_model, resolved = load_lead_model(name, model, trained_leads=True)
    leads = check_leads(read_leads(data, query), lead_model.spec, require_label=True, unseen={})
    if leads.y is None or len(leads.y) == 0:
        raise DataError(f"{data}: no lead has a decided outcome to evaluate against")
    leads, seen = _unseen_only(lead_model, leads, data, exclude_trained)
    scored = lead_model.score_checked(leads, reasons=0)
    weeks, per_week = weeks_and_capacity(leads.frame, _capacity(lead_model, capacity))
    use = capacity_use(weeks, per_week)
    _warn_capacity(use)
    both = {
        who: ev.score_metrics(leads.y, scored[col].to_numpy(), weeks, per_week)
        for who, col in (("model", "probability"), ("rules", "rules_probability"))
    }
    if json_out:
        seen_count = None if seen is None else 0 if exclude_trained else int(seen.seen.sum())
        print_json(_evaluation(name, resolved, data, leads, seen_count, both, use))
        return
    title = f"{name} v{resolved.version} on {data} ({len(scored):,} leads)"
    console.print(metrics_table(title, both["model"], both["rules"]))


def _evaluation(
    name: str, resolved, data: str, leads, seen: int | None, both: dict, use
) -> dict[str, Any]:
    """`leadml evaluate --json`: the model, the leads measured on (and those left out, by
    reason; `seen`: how many of them the model trained or was calibrated on, null when it does
    not record them), each side's metrics, and the sales capacity measured with (`CapacityUse`;
    undated leads are one week)."""
    return {
        "model": name,
        "version": resolved.version,
        "alias": resolved.alias,
        "data": data,
        "leads": len(leads.y),
        "excluded": dict(leads.excluded),
        "seen": seen,
        "metrics": both,
        "capacity": {
            "leads_per_week": use.capacity,
            "weeks": use.weeks,
            "leads_worked": use.worked,
            "worked_share": use.worked_share,
            "binds": use.binds,
        },
    }


@app.command()
@friendly
def predict(
    data: Annotated[str, typer.Option(help="Leads to score: file or DB URL.")],
    out: Annotated[Path, typer.Option(help="Output: .csv or .parquet.")],
    model: Annotated[str, typer.Option(help="champion, challenger or a version.")] = "champion",
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    reasons: Annotated[int, typer.Option(min=0, max=10, help="Reasons per lead.")] = 3,
    name: NameOption = None,
    config: ConfigOption = None,
    engine: Annotated[
        Engine,
        typer.Option(
            help="pandas: one process, one output file. dask: partition by partition on a "
            "Dask cluster into a folder of Parquet parts (--data a folder or a glob of files)."
        ),
    ] = Engine.pandas,
    scheduler: SchedulerOption = None,
    force: ForceOption = False,
) -> None:
    """Score leads: probability, band, verdict, reasons, and the agreed rules beside it."""
    name = model_name(name, config)
    from leadml.data.read import read_leads, write_table
    from leadml.registry.aliases import load_lead_model
    from leadml.scorelog import ModelRef, new_job
    from leadml.scorelog.job import JobRecording
    from leadml.scorelog.store import shown
    from leadml.scoring.lead_model import as_exported

    _check_engine(engine, scheduler, query)
    if engine == Engine.dask:
        _check_dask_out(data, out)
    else:
        check_outputs(data, {"--out": out}, force=force, tables=True)
    log = score_log()  # before any work: a database that cannot be reached stops the job
    if engine == Engine.dask:
        lead_model, resolved = load_lead_model(name, model)
        _predict_dask(lead_model, resolved, data, out, reasons, scheduler, name, log)
        return
    # the log's writer process starts first (ready, the log migrated, by the first scored part)
    # and writes each part while the next is scored; the output appears only once every score
    # is in the log: a job whose scores are not recorded fails
    recording = None if log is None else JobRecording(log.url)
    job = new_job("predict")
    try:
        with stopped_as_exit():  # a scheduler's SIGTERM runs the clean-up below too
            lead_model, resolved = load_lead_model(name, model)
            ref = ModelRef(name, resolved.version, resolved.alias)
            leads = read_leads(data, query)
            checked, unseen = lead_model.check(leads)
            scored = _score_in_parts(lead_model, checked, reasons, recording, ref, job)
            finish = None if recording is None else recording.finish
            write_table(as_exported(scored, lead_model.spec), out, before_replace=finish)
    except BaseException:
        if recording is not None:
            recording.abandon()
            log.give_up(job, warn)
        raise
    _warn_unseen(unseen)
    say(
        f"Scored {len(scored):,} leads with {name} v{resolved.version}: "
        f"{int(scored['sales_ready'].sum()):,} sales-ready by the model, "
        f"{int(scored['rules_sales_ready'].sum()):,} by the rules -> {out}"
    )
    if recording is not None:
        say(f"Recorded {recording.rows:,} scores in the score log {shown(log.url)}", to=err)


@contextlib.contextmanager
def stopped_as_exit() -> Iterator[None]:
    """SIGTERM (a scheduler's timeout, `kill`) raised as SystemExit in the block, so its
    clean-up runs before the process ends."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _score_in_parts(lead_model, checked, reasons: int, recording, ref, job: str):
    """The scored frame of `checked`, `PREDICT_PART` leads at a time, each part handed to the
    score log's `recording` (if any) as soon as it is scored."""
    import pandas as pd

    from leadml.data.check import CheckedLeads
    from leadml.scorelog import ScoreBatch
    from leadml.scorelog.holdout import Holdout
    from leadml.scorelog.rows import logged_ids

    frame, spec, holdout = checked.frame, lead_model.spec, Holdout.from_env()
    hashes = (spec.content_hash, lead_model.rules.content_hash)
    parts = []
    with _progress() as bar:
        task = bar.add_task("Scoring leads (reasons take longest)", total=len(frame))
        for start in range(0, len(frame), PREDICT_PART) if len(frame) else [0]:
            X, s, scored = lead_model.score_parts(
                CheckedLeads(frame.iloc[start : start + PREDICT_PART], None),
                reasons,
                progress=lambda done, _total, at=start: bar.update(task, completed=at + done),
            )
            ids = logged_ids(spec, scored["lead_id"])
            flags = holdout.flags(ids)
            if holdout.share:
                scored["holdout"] = flags
            if recording is not None:
                batch = ScoreBatch.of(
                    lead_model, ref, ids, X, s, source="predict", job=job, holdout=flags,
                    hashes=hashes,
                )  # fmt: skip
                recording.record(batch, spec)
            parts.append(scored)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _page_notes(lead_model, leads, seen, exclude_trained: bool) -> tuple[str, ...]:
    """What the review page says about the model's windows and the leads it has seen (`seen`,
    as `_unseen_only` found them)."""
    from leadml.evaluation.seen import SEEN_REASON

    notes = [f"The model's windows: {lead_model.info.split_words()}."]
    if exclude_trained:
        left_out = leads.excluded.get(SEEN_REASON, 0)
        notes.append(f"Left out: {left_out:,} lead(s) {SEEN_REASON}.")
        return tuple(notes)
    if seen is not None and seen.seen.any():
        notes.append(f"In-sample: {seen.describe('this data')}.")
    return tuple(notes)


def log_history(name: str, spec, config: Path | None, since: str | None, until: str | None):
    """The score log's matured leads of model `name` scored in [since, until), as an export
    `spec` reads (`leadml.scorelog.history`), with `source` saying where they came from."""
    from datetime import UTC, datetime

    from leadml.cli.app import day
    from leadml.scorelog.history import history_frame, matured
    from leadml.scorelog.store import shown

    log = score_log(needed_for="no history to read")
    window = monitor_settings(config).label_window_days
    first, end = day(since, "--since"), day(until, "--until")
    columns = ["lead_id", "model_name", "spec_hash", "features"]
    scores = log.read_scores(first, end, columns=columns)
    scores = scores[scores["model_name"] == name]
    found = matured(scores, log.read_outcomes(["lead_id", "outcome"]), window, datetime.now(UTC))
    history = history_frame(found, spec)
    for reason, count in history.left_out.items():
        warn(f"left out {count:,} lead(s) of the score log: {reason}")
    if found.maturing:
        say(f"{found.maturing:,} lead(s) still maturing (no outcome yet) are not in it", to=err)
    span = f"{since or 'the start'} to {until or 'now'}"
    history.source = f"the score log {shown(log.url)} ({name}, scored {span})"
    if history.frame.empty:
        raise DataError(f"{history.source}: no lead with an outcome (or past its label window)")
    return history


def score_log(needed_for: str | None = None):
    """The score log this machine records to (opened and migrated), or None when it is off;
    with `needed_for`, off is an error saying what it was needed for."""
    from leadml.registry.store import tracking_uri
    from leadml.scorelog import ScoreLog, log_url

    url = log_url(tracking_uri())
    if url is None and needed_for is not None:
        raise LeadmlError(f"the score log is off (LEADML_SCORE_LOG=off): {needed_for}")
    return None if url is None else ScoreLog.open(url)


def monitor_settings(config: Path | None):
    """The `monitor:` section of --config, else of the project's config, else the defaults."""
    from leadml.cli.app import project_config
    from leadml.spec.config import MonitorConfig, load_config

    path = config or project_config()
    return load_config(path).monitor if path else MonitorConfig()


def _check_dask_out(data: str, out: Path) -> None:
    """Before any work: --out names a folder that may be written (`leadml.data.folders`)."""
    from leadml.cluster.scoring import check_target
    from leadml.data.folders import is_folder_target
    from leadml.data.read import DATA_EXTENSIONS

    if not is_folder_target(out, DATA_EXTENSIONS):
        raise LeadmlError(f"--engine dask writes a folder of Parquet parts; --out {out} is a file")
    check_target(data, out)


def _predict_dask(lead_model, resolved, data, out, reasons, scheduler, name, score_log) -> None:
    from leadml.cluster.connect import connect
    from leadml.cluster.scoring import LogTarget, score_partitions
    from leadml.scorelog import ModelRef, new_job
    from leadml.scorelog.holdout import Holdout
    from leadml.scorelog.store import shown

    log = None
    if score_log is not None:  # each worker writes its partitions' rows
        ref = ModelRef(name, resolved.version, resolved.alias)
        hashes = (lead_model.spec.content_hash, lead_model.rules.content_hash)
        log = LogTarget(score_log.url, ref, new_job("predict"), Holdout.from_env(), hashes)

    to_err = lambda m: say(m, to=err)  # noqa: E731
    with connect(scheduler, say=to_err) as client, _progress() as bar:
        task = bar.add_task("Scoring partitions", total=1)

        def update(done: int, parts: int, leads: int) -> None:
            bar.update(task, completed=done, total=parts, description=f"Scored {leads:,} leads")

        summary = score_partitions(
            lead_model,
            data,
            out,
            client,
            reasons=reasons,
            info={"model": name, "version": resolved.version, "alias": resolved.alias},
            progress=update,
            say=to_err,
            log=log,
        )
    _warn_unseen(summary.unseen)
    say(
        f"Scored {summary.rows:,} leads with {name} v{resolved.version} into {summary.parts:,} "
        f"Parquet part(s): {summary.sales_ready:,} sales-ready by the model, "
        f"{summary.rules_sales_ready:,} by the rules -> {out}"
    )
    if log is not None:
        say(f"Recorded {summary.logged:,} scores in the score log {shown(log.url)}", to=err)


@app.command()
@friendly
def compare(
    data: Annotated[
        str | None, typer.Option(help="Leads with outcomes: file or DB URL (or --from-log).")
    ] = None,
    out: Annotated[Path, typer.Option(help="The HTML page to write.")] = Path("report.html"),
    model: Annotated[str, typer.Option(help="champion, challenger or a version.")] = "champion",
    csv: Annotated[
        Path | None, typer.Option(help="Per-lead CSV (default: beside the page, .csv).")
    ] = None,
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    capacity: CapacityOption = None,
    exclude_trained: ExcludeTrainedOption = False,
    name: NameOption = None,
    config: ConfigOption = None,
    force: ForceOption = False,
    from_log: Annotated[
        bool,
        typer.Option(
            "--from-log",
            help="Review the leads scored in production (the score log) whose outcome came "
            "back, with their features as scored, instead of a file.",
        ),
    ] = False,
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """One page for sales and marketing: where the model and the agreed rules differ, and who
    was right, on leads whose outcome is known; plus a per-lead CSV."""
    name = model_name(name, config)
    if from_log == (data is not None):
        raise LeadmlError("name the leads with --data FILE, or review production with --from-log")
    if (since or until) and not from_log:
        raise LeadmlError("--since and --until choose leads of the score log: add --from-log")
    from leadml.data.check import check_leads
    from leadml.data.read import read_leads
    from leadml.evaluation.report import compare as build
    from leadml.evaluation.report import write_comparison
    from leadml.registry.aliases import load_lead_model
    from leadml.training.windows import order_column

    csv = csv or out.with_suffix(".csv")
    check_outputs(data, {"--out": out, "--csv": csv}, force=force)
    lead_model, resolved = load_lead_model(name, model, trained_leads=True)
    if data is None:  # --from-log
        history = log_history(name, lead_model.spec, config, since, until)
        raw, data = history.frame, history.source
    else:
        raw = read_leads(data, query)
    leads = check_leads(
        raw,
        lead_model.spec,
        require_label=True,
        unseen={},
        order_by=order_column(lead_model.info.split_order),  # the drift view's deciles
    )
    for reason, count in leads.excluded.items():
        say(f"Excluded {count:,} lead(s): {reason}", to=err)
    if leads.y is None or len(leads.y) == 0:
        raise DataError(f"{data}: no lead has a decided outcome to compare against")
    excluded = dict(leads.excluded)  # the open outcomes, before --exclude-trained adds its own
    leads, seen = _unseen_only(lead_model, leads, data, exclude_trained)
    comparison = build(
        lead_model,
        leads,
        title=f"{name} v{resolved.version} ({model})",
        capacity=_capacity(lead_model, capacity),
        notes=_page_notes(lead_model, leads, seen, exclude_trained),
        excluded=excluded,
    )
    if comparison.capacity_use is not None:
        _warn_capacity(comparison.capacity_use)
    page, table = write_comparison(comparison, out, csv)
    m, r = comparison.model, comparison.rules
    say(
        f"{len(leads.y):,} leads: at capacity the model's picks converted at "
        f"{m['precision_at_capacity']:.1%}, the rules' at {r['precision_at_capacity']:.1%}.\n"
        f"Page: {page} (open it in a browser; it needs no network). Per lead: {table}"
    )
