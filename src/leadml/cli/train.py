"""`leadml train`, `leadml promote` and `leadml rollback`: a model from history to champion.

Each command imports its work when it runs (see `leadml.cli.app`)."""

from __future__ import annotations

import contextlib
import glob
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from leadml.cli.app import (
    PROJECT_FILE,
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
    default_config,
    err,
    fail,
    friendly,
    metrics_table,
    model_name,
    print_json,
    say,
)
from leadml.errors import LeadmlError


@app.command()
@friendly
def train(
    config: Annotated[
        Path | None,
        typer.Option(
            help=f"Training configuration YAML (default: the one {PROJECT_FILE} names, else "
            "training/demo.yaml)."
        ),
    ] = None,
    data: Annotated[str | None, typer.Option(help="Override data.path: file or DB URL.")] = None,
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    allow_unreviewed: Annotated[
        bool,
        typer.Option(help="Train despite features not yet described or signed (never promotable)."),
    ] = False,
    allow_after_contact: Annotated[
        bool,
        typer.Option(
            help="Train despite features known only after sales contact, to measure what they "
            "leak (never promotable)."
        ),
    ] = False,
    register: Annotated[bool, typer.Option(help="Log to MLflow and register the model.")] = True,
    engine: Annotated[
        Engine,
        typer.Option(
            help="pandas: one process. dask: the training window stays on a Dask cluster "
            "(--data a folder or a glob of files); the booster trains with LightGBM's Dask "
            "interface."
        ),
    ] = Engine.pandas,
    scheduler: SchedulerOption = None,
    test_out: Annotated[
        Path | None,
        typer.Option(
            help="Also write the test window's leads here (.csv or .parquet), as the spec reads "
            "them: `leadml compare` and `evaluate` on it measure the model on leads it never saw."
        ),
    ] = None,
    force: ForceOption = False,
    from_log: Annotated[
        bool,
        typer.Option(
            "--from-log",
            help="Train on the leads scored in production (the score log) whose outcome came "
            "back: their features as they were when scored, their outcomes as reported.",
        ),
    ] = False,
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """Train, calibrate and evaluate against the agreed rules; log and register in MLflow."""
    from leadml.spec.config import load_config
    from leadml.spec.features import load_spec
    from leadml.training.card import write_model_card
    from leadml.training.pipeline import check_weeks_and_order
    from leadml.training.pipeline import train as run_train

    _check_engine(engine, scheduler, query)
    if from_log and (data or query or engine == Engine.dask):
        raise LeadmlError(
            "--from-log reads the score log: without --data, --query or --engine dask"
        )
    if (since or until) and not from_log:
        raise LeadmlError("--since and --until choose leads of the score log: add --from-log")
    config = config or default_config()
    cfg = load_config(config)
    _check_named(config, "spec", cfg.spec)
    check_weeks_and_order(cfg, load_spec(cfg.spec))  # before a cluster starts
    _check_named(config, "rules", cfg.rules)
    history = snapshot = None
    if from_log:
        from leadml.cli.score import log_history
        from leadml.data.read import write_table

        spec = load_spec(cfg.spec)
        history = log_history(cfg.tracking.registered_model, spec, config, since, until)
        # removed when training is done, or at exit if it fails
        snapshot = tempfile.TemporaryDirectory(prefix="leadml-history-")
        data = str(Path(snapshot.name) / "history.parquet")
        write_table(history.frame, Path(data))
        say(f"Training on {len(history.frame):,} leads of {history.source}", to=err)
    _check_data(config, cfg.data.path, data)
    if test_out is not None:
        check_outputs(data or cfg.data.path, {"--test-out": test_out}, force=force, tables=True)
    if register:
        _close_orphaned_runs(cfg.tracking.experiment)
    with contextlib.ExitStack() as stack:
        chosen = _training_engine(stack, engine, scheduler, cfg)
        bar = stack.enter_context(_progress())
        folds = cfg.model.calibration_folds
        cross_fit = cfg.model.calibration_data == "cross_fit"
        label = "Training (early stopping" + (
            f", then {folds} calibration folds)" if cross_fit else ")"
        )
        task = bar.add_task(label, total=cfg.model.num_boost_round)
        result = run_train(
            cfg,
            engine=chosen,
            data=data,
            query=query,
            allow_unreviewed=allow_unreviewed,
            allow_after_contact=allow_after_contact,
            progress=lambda i, total: bar.update(task, completed=i, total=total),
            say=_note,
        )
    if test_out is not None:
        _write_test_window(result, test_out)
    if register:
        shown = history.source if history is not None else data
        rows = history.rows if history is not None else None
        result.run_id, result.version = _log_and_register(result, cfg, config, shown, query, rows)
    if snapshot is not None:
        snapshot.cleanup()
    card = write_model_card(result, Path("models") / cfg.name)
    shutil.rmtree(result.artifacts, ignore_errors=True)
    _print_summary(result, cfg, card)
    if register:
        _print_registered(result, cfg, card)


def _check_named(config: Path, key: str, path: str) -> None:
    """The `spec` or `rules` file the config names (or defaults to) is there: else one clear
    error saying where to name another."""
    if not Path(path).is_file():
        raise LeadmlError(
            f"{config}: {key} {path} not found (name the file in the config, `{key}: PATH`, "
            "found from the current folder, the config's or the one above it)"
        )


def _check_data(config: Path, source: str | None, data: str | None) -> None:
    """The config's leads (a file, folder or glob; not a database) are there, unless --data
    replaces them: else one clear error saying how to name others."""
    if data is not None or source is None or "://" in source:
        return
    if Path(source).exists() or glob.glob(source):
        return
    raise LeadmlError(
        f"{config}: data {source} not found (give the leads with --data FILE, or name them in "
        "the config, `data: {path: FILE}`)"
    )


def _write_test_window(result, out: Path) -> None:
    """The test window's leads, as the spec reads them (the file appears when complete)."""
    from leadml.data.read import write_table
    from leadml.training.windows import leads_table, order_column

    lead_model = result.lead_model
    order_by = order_column(lead_model.info.split_order)
    write_table(leads_table(result.test, lead_model.spec, order_by), out)
    say(f"Test window: {len(result.test.y):,} leads -> {out}", to=err)


def _note(text: str) -> None:
    """A line training says on stderr: its label styled, the text as written."""
    from leadml.training.engine import NO_BIND, SUSPECTED_LEAK, UNREVIEWED

    for label, style in ((UNREVIEWED, "yellow"), (SUSPECTED_LEAK, "bold red"), (NO_BIND, "yellow")):
        if text.startswith(label):
            err.print(Text.assemble((label, style), text[len(label) :]), soft_wrap=True)
            return
    say(text, to=err)


def _close_orphaned_runs(experiment: str) -> None:
    """Report, and close as FAILED, the experiment's runs left RUNNING by a process that died."""
    from leadml.registry.runs import close_orphaned_runs

    for run in close_orphaned_runs(experiment):
        say(
            f"Closed orphaned run {run.run_id} ('{run.run_name}', started {run.started}) "
            f"as FAILED: {run.why}.",
            to=err,
        )


def _log_and_register(
    result, cfg, config: Path, data: str | None, query: str | None, log_rows=None
) -> tuple[str, str]:
    """Log the training to MLflow and register it; SIGTERM or SIGINT meanwhile marks the run
    FAILED and exits 128 + the signal number, as a process the signal stopped would."""
    from leadml.registry.failures import store_errors
    from leadml.registry.runs import RunStopped
    from leadml.registry.tracking import log_training

    try:
        with (
            store_errors("logging the training to MLflow and registering its model"),
            err.status("Logging to MLflow and registering the model"),
        ):
            run_id, version = log_training(
                result, cfg, str(config), data=data, query=query, log_rows=log_rows
            )
    except RunStopped as exc:
        fail("error", exc, code=128 + exc.signum)
    return run_id, version


def _training_engine(stack: contextlib.ExitStack, engine: Engine, scheduler: str | None, cfg):
    """The engine `--engine` names: this process, or a Dask cluster (connected on `stack`,
    after what the cluster cannot train is refused)."""
    from leadml.training.engine import LocalEngine

    if engine != Engine.dask:
        return LocalEngine()
    from leadml.cluster.connect import connect
    from leadml.cluster.training import DaskEngine

    DaskEngine.refuse(cfg)
    return DaskEngine(stack.enter_context(connect(scheduler, say=_note)))


def _print_registered(result, cfg, card: Path) -> None:
    from leadml.registry.store import tracking_uri

    console.print(
        Text.assemble(
            "\nRegistered ",
            (cfg.tracking.registered_model, "bold"),
            f" version {result.version} as 'challenger' (run {result.run_id}, "
            f"tracking {tracking_uri()}).",
        ),
        soft_wrap=True,
    )
    if not result.reviewed:
        say("Run tagged reviewed=false: it can never be promoted.", "yellow")
    say(_run_link(result.run_id))
    name = cfg.tracking.registered_model
    named = "" if name == model_name(None, None) else f" --name {name}"
    say(
        f"Next: `leadml promote{named}` to make it champion through the gates; "
        f"the model card: {card}"
    )


def _run_link(run_id: str) -> str:
    """Where to see the run `leadml train` logged, and its plots, in MLflow's UI."""
    from leadml.registry.failures import store_errors
    from leadml.registry.store import client, tracking_uri

    with store_errors(f"reading training run {run_id}"):
        experiment_id = client().get_run(run_id).info.experiment_id
    return run_address(tracking_uri(), experiment_id, run_id)


def run_address(uri: str, experiment_id: str, run_id: str) -> str:
    """A run's page in MLflow's UI, in words: its address on a tracking server (`uri` http or
    https), or for a local store (SQLite, a folder) how to open it with `mlflow ui` and the run's
    address there; for other stores (Databricks, a database server, whose URI may hold a
    password), the experiment and run ids."""
    page = f"#/experiments/{experiment_id}/runs/{run_id}"
    scheme = uri.partition(":")[0] if ":" in uri else ""
    if scheme in ("http", "https"):
        return f"The run in MLflow: {uri.rstrip('/')}/{page}"
    if scheme in ("sqlite", "file") or not (scheme or uri.startswith("databricks")):
        return (
            f"The run in MLflow: `{_mlflow_command()} ui --backend-store-uri {shlex.quote(uri)}`, "
            f"then open http://127.0.0.1:5000/{page}"
        )
    return f"The run in MLflow: experiment {experiment_id}, run {run_id}"


def _mlflow_command() -> str:
    """`mlflow` when it is on PATH, else the one installed beside this Python (`.venv/bin`)."""
    if shutil.which("mlflow"):
        return "mlflow"
    beside = Path(sys.executable).parent / "mlflow"
    return shlex.quote(str(beside)) if beside.is_file() else "mlflow"


def _print_summary(result, cfg, card: Path) -> None:
    m = result.metrics
    title = f"Test window ({result.windows['test']['leads']:,} leads): model vs rules"
    info = result.lead_model.info
    console.print(metrics_table(title, info.metrics_of("model"), info.metrics_of("rules")))
    say(
        f"Sales-ready threshold {m['threshold']:.3f} (probability); calibration "
        f"{result.lead_model.info.calibration}; {int(m['best_iteration'])} trees."
    )


@app.command()
@friendly
def promote(
    model: Annotated[str, typer.Option(help="The version or alias to promote.")] = "challenger",
    name: NameOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Make a model champion only if it passes every gate of its training config; exit 1 when
    it does not. --json prints {"model", "version", "promoted", "gates": [{"gate", "passed",
    "detail"}]}, whether or not it is promoted."""
    name = model_name(name, config)
    from leadml.registry.failures import store_errors
    from leadml.registry.promotion import promote as do_promote

    with store_errors(f"promoting '{model}' of model '{name}'"):
        candidate, results = do_promote(name, model)
    promoted = all(ok for _, ok, _ in results)
    if json_out:
        gates = [{"gate": gate, "passed": ok, "detail": detail} for gate, ok, detail in results]
        print_json(
            {"model": name, "version": candidate.version, "promoted": promoted, "gates": gates}
        )
    else:
        for gate, ok, detail in results:
            mark = ("pass", "green") if ok else ("FAIL", "red")
            console.print(Text.assemble("  ", mark, f"  {gate}: {detail}"), soft_wrap=True)
    if not promoted:
        failed = ", ".join(g for g, ok, _ in results if not ok)
        fail("not promoted", f"version {candidate.version} failed {failed}", code=1)
    if not json_out:
        say(f"Version {candidate.version} of {name} is now champion.")


@app.command()
@friendly
def rollback(
    name: NameOption = None,
    config: ConfigOption = None,
) -> None:
    """Move champion back to the version that held it before."""
    name = model_name(name, config)
    from leadml.registry.failures import store_errors
    from leadml.registry.promotion import rollback as do_rollback

    with store_errors(f"rolling back the champion of model '{name}'"):
        current, previous = do_rollback(name)
    say(f"Champion moved back from version {current} to version {previous}.")
