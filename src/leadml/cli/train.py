"""`leadml train`, `leadml promote` and `leadml rollback`: a model from history to champion.

Each command imports its work when it runs (see `leadml.cli.app`)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from leadml.cli.app import (
    DEFAULT_CONFIG,
    MODEL_NAME,
    Engine,
    SchedulerOption,
    _check_engine,
    _progress,
    app,
    console,
    err,
    friendly,
    metrics_table,
)


@app.command()
@friendly
def train(
    config: Annotated[Path, typer.Option(help="Training configuration YAML.")] = Path(
        DEFAULT_CONFIG
    ),
    data: Annotated[str | None, typer.Option(help="Override data.path: file or DB URL.")] = None,
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    allow_unreviewed: Annotated[
        bool, typer.Option(help="Train despite unreviewed features (never promotable).")
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
) -> None:
    """Train, calibrate and evaluate against the agreed rules; log and register in MLflow."""
    from leadml.spec.config import load_config
    from leadml.training.card import write_model_card
    from leadml.training.pipeline import train as run_train

    _check_engine(engine, scheduler, query)
    cfg = load_config(config)
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
            progress=lambda i, total: bar.update(task, completed=i, total=total),
            say=err.print,
        )
    if register:
        from leadml.registry.tracking import log_training

        with err.status("Logging to MLflow and registering the model"):
            result.run_id, result.version = log_training(result, cfg, str(config))
    card = write_model_card(result, Path("models") / cfg.name)
    shutil.rmtree(result.artifacts, ignore_errors=True)
    _print_summary(result, cfg, card)
    if register:
        _print_registered(result, cfg, card)


def _training_engine(stack: contextlib.ExitStack, engine: Engine, scheduler: str | None, cfg):
    """The engine `--engine` names: this process, or a Dask cluster (connected on `stack`,
    after what the cluster cannot train is refused)."""
    from leadml.training.engine import LocalEngine

    if engine != Engine.dask:
        return LocalEngine()
    from leadml.cluster.connect import connect
    from leadml.cluster.training import DaskEngine

    DaskEngine.refuse(cfg)
    return DaskEngine(stack.enter_context(connect(scheduler, say=err.print)))


def _print_registered(result, cfg, card: Path) -> None:
    from leadml.registry.store import tracking_uri

    console.print(
        f"\nRegistered [bold]{cfg.tracking.registered_model}[/] version {result.version} "
        f"as 'challenger' (run {result.run_id}, tracking {tracking_uri()})."
    )
    if not result.reviewed:
        console.print("[yellow]Run tagged reviewed=false: it can never be promoted.[/]")
    name = cfg.tracking.registered_model
    named = "" if name == MODEL_NAME else f" --name {name}"
    ui = (
        "make mlflow-ui"
        if "MLFLOW_TRACKING_URI" not in os.environ
        else (f"mlflow ui --backend-store-uri {tracking_uri()}")
    )
    console.print(
        f"Next: `{ui}` and open http://127.0.0.1:5000 for the run and its plots; "
        f"`leadml promote{named}` to make it champion through the gates; "
        f"the model card: {card}"
    )


def _print_summary(result, cfg, card: Path) -> None:
    m = result.metrics
    title = f"Test window ({result.windows['test']['leads']:,} leads): model vs rules"
    info = result.lead_model.info
    console.print(metrics_table(title, info.metrics_of("model"), info.metrics_of("rules")))
    console.print(
        f"Sales-ready threshold {m['threshold']:.3f} (probability); calibration "
        f"{result.lead_model.info.calibration}; {int(m['best_iteration'])} trees."
    )


@app.command()
@friendly
def promote(
    model: Annotated[str, typer.Option(help="The version or alias to promote.")] = "challenger",
    name: Annotated[str, typer.Option(help="Registered model name.")] = MODEL_NAME,
) -> None:
    """Make a model champion only if it passes every gate of its training config."""
    from leadml.registry.promotion import promote as do_promote

    candidate, results = do_promote(name, model)
    for gate, ok, detail in results:
        mark = "[green]pass[/]" if ok else "[red]FAIL[/]"
        console.print(f"  {mark}  {gate}: {detail}")
    if not all(ok for _, ok, _ in results):
        failed = ", ".join(g for g, ok, _ in results if not ok)
        err.print(f"[bold red]not promoted:[/] version {candidate.version} failed {failed}")
        raise typer.Exit(1)
    console.print(f"Version {candidate.version} of {name} is now champion.")


@app.command()
@friendly
def rollback(
    name: Annotated[str, typer.Option(help="Registered model name.")] = MODEL_NAME,
) -> None:
    """Move champion back to the version that held it before."""
    from leadml.registry.promotion import rollback as do_rollback

    current, previous = do_rollback(name)
    console.print(f"Champion moved back from version {current} to version {previous}.")
