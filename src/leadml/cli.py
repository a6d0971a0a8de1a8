"""The `leadml` command line: one command per job, clear errors, progress on long work."""

from __future__ import annotations

import contextlib
import enum
import functools
import logging
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leadml.errors import DataError, LeadmlError
from leadml.runtime import configure

app = typer.Typer(
    help="leadml: calibrated lead scores beside the agreed rules, tracked in MLflow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
features_app = typer.Typer(help="Check and compare feature specs.", no_args_is_help=True)
rules_app = typer.Typer(help="Score leads with the agreed rules.", no_args_is_help=True)
app.add_typer(features_app, name="features")
app.add_typer(rules_app, name="rules")
console = Console()
err = Console(stderr=True)

DEFAULT_SPEC = "features/lead_features.yaml"
DEFAULT_RULES = "features/scoring_rules.yaml"
DEFAULT_CONFIG = "training/demo.yaml"
MODEL_NAME = "lead-qualifier"


# errors of MLflow and Dask a user's setup causes (a store, a worker out of memory), by name:
# printed as one line like leadml's own
CLUSTER_ERRORS = {
    "MlflowException": "MLflow error",
    "KilledWorker": "Dask error (a worker died running this task each time it was tried; "
    "out of memory?)",
    "FutureCancelledError": "Dask error",
}


class Engine(enum.StrEnum):
    pandas = "pandas"
    dask = "dask"


SchedulerOption = Annotated[
    str | None,
    typer.Option(help="Dask scheduler address (default: a local cluster, one worker a core)."),
]


def _check_engine(engine: Engine, scheduler: str | None, query: str | None) -> None:
    if scheduler and engine != Engine.dask:
        raise LeadmlError("--scheduler needs --engine dask")
    if query and engine == Engine.dask:
        raise LeadmlError("--engine dask reads files and folders, not database queries (--query)")


def friendly(fn):
    """Print a user's mistake as one clear message (exit 2), never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _quiet_libraries()
        try:
            return fn(*args, **kwargs)
        except LeadmlError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as exc:  # a file or folder the user named: unreadable, full disk, ...
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except Exception as exc:
            what = CLUSTER_ERRORS.get(type(exc).__name__)
            if what is None:
                raise
            err.print(f"[bold red]{what}:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _quiet_libraries() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("alembic", "mlflow", "urllib3", "git"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    configure()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@app.command()
@friendly
def synth(
    rows: Annotated[int, typer.Option(min=1, help="How many leads to generate.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same file.")] = 7,
    out: Annotated[
        Path,
        typer.Option(
            help="Output file (.csv, .csv.gz, .parquet), or a folder (no extension) for "
            "partitioned Parquet."
        ),
    ] = Path("data/demo_leads.parquet"),
    partition_rows: Annotated[
        int, typer.Option(min=1, help="Leads per Parquet part when --out is a folder.")
    ] = 1_000_000,
) -> None:
    """Generate realistic demo leads with known outcome probabilities."""
    from leadml import synth as synth_mod
    from leadml.folders import is_folder_target

    folder = is_folder_target(out, synth_mod.EXTENSIONS)
    with _progress() as bar:
        task = bar.add_task("Generating leads", total=rows)
        update = lambda n: bar.update(task, completed=n)  # noqa: E731
        if folder:
            written = synth_mod.write_partitioned(rows, seed, out, partition_rows, progress=update)
        else:
            written = synth_mod.write(rows, seed, out, progress=update)
    parts = f" in {-(-written // partition_rows):,} Parquet part(s)" if folder else ""
    console.print(f"Wrote {written:,} leads to {out}{parts}")


@features_app.command("check")
@friendly
def features_check(
    file: Annotated[Path, typer.Argument(help="Feature spec YAML.")] = Path(DEFAULT_SPEC),
    rules: Annotated[Path | None, typer.Option(help="Also check this agreed-rules file.")] = None,
) -> None:
    """Validate a feature spec (and optionally its rules); exit 1 if it cannot train a model."""
    from leadml.rules import load_rules
    from leadml.spec import load_spec

    spec = load_spec(file)
    console.print(
        f"{file}: {len(spec.features)} features, spec version {spec.spec_version}, "
        f"hash {spec.content_hash}"
    )
    if rules is not None:
        agreed = load_rules(rules, spec)
        console.print(f"{rules}: {len(agreed.rules)} rules, valid against the spec")
    problems = spec.training_problems()
    if problems:
        console.print(f"[yellow]{len(problems)} problem(s) block training:[/]")
        for p in problems:
            console.print(f"  - {p}")
        raise typer.Exit(1)
    console.print("[green]Every feature is signed off by sales and marketing.[/]")


@features_app.command("diff")
@friendly
def features_diff(
    old: Annotated[Path, typer.Argument(help="The spec or rules file before the change.")],
    new: Annotated[Path, typer.Argument(help="The spec or rules file after the change.")],
) -> None:
    """What a reviewer must look at: added, removed and changed features or rules."""
    from leadml.review import diff_files

    lines = diff_files(old, new)
    for line in lines or ["no differences a reviewer needs to see"]:
        style = {"+": "green", "-": "red", "~": "yellow"}.get(line[:1], "")
        console.print(f"[{style}]{line}[/]" if style else line, highlight=False)


@rules_app.command("score")
@friendly
def rules_score(
    data: Annotated[str, typer.Option(help="Leads: CSV, Parquet or a database URL.")],
    out: Annotated[Path, typer.Option(help="Output: .csv or .parquet.")],
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    spec: Annotated[Path, typer.Option(help="Feature spec.")] = Path(DEFAULT_SPEC),
    rules: Annotated[Path, typer.Option(help="Agreed rules.")] = Path(DEFAULT_RULES),
) -> None:
    """Score leads with the agreed rules alone: points, rules that fired, verdict."""
    from leadml.data import check_leads, read_leads, write_table
    from leadml.rules import load_rules
    from leadml.spec import load_spec

    feature_spec = load_spec(spec)
    agreed = load_rules(rules, feature_spec)
    unseen: dict[str, int] = {}
    leads = check_leads(read_leads(data, query), feature_spec, require_label=False, unseen=unseen)
    scored = agreed.score(leads.frame, feature_spec).to_frame()
    scored.insert(0, "lead_id", leads.frame[feature_spec.id_column].to_numpy())
    write_table(scored, out)
    _warn_unseen(unseen)
    ready = int(scored["rules_sales_ready"].sum())
    console.print(f"Scored {len(scored):,} leads; {ready:,} sales-ready by the rules -> {out}")


def _warn_unseen(unseen: dict[str, int]) -> None:
    for name, n in unseen.items():
        err.print(f"[yellow]warning:[/] {n:,} lead(s) have an unknown {name}; scored as missing")


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
    from leadml.card import write_model_card
    from leadml.config import load_config
    from leadml.train import refuse_on_cluster
    from leadml.train import train as run_train

    _check_engine(engine, scheduler, query)
    cfg = load_config(config)
    if engine == Engine.dask:
        refuse_on_cluster(cfg)
    cross_fit = cfg.model.calibration_data == "cross_fit"
    with contextlib.ExitStack() as stack:
        client = None
        if engine == Engine.dask:
            from leadml.cluster import connect

            client = stack.enter_context(connect(scheduler, say=err.print))
        bar = stack.enter_context(_progress())
        label = "Training (early stopping" + (
            f", then {cfg.model.calibration_folds} calibration folds)" if cross_fit else ")"
        )
        task = bar.add_task(label, total=cfg.model.num_boost_round)
        result = run_train(
            cfg,
            data=data,
            query=query,
            allow_unreviewed=allow_unreviewed,
            progress=lambda i, total: bar.update(task, completed=i, total=total),
            say=err.print,
            client=client,
        )
    if register:
        from leadml.tracking import log_training, tracking_uri

        with err.status("Logging to MLflow and registering the model"):
            result.run_id, result.version = log_training(result, cfg, str(config))
    card = write_model_card(result, Path("models") / cfg.name)
    shutil.rmtree(result.artifacts, ignore_errors=True)
    _print_summary(result, cfg, card)
    if register:
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
    from leadml import evaluate as ev

    m = result.metrics
    table = Table(title=f"Test window ({result.windows['test']['leads']:,} leads): model vs rules")
    table.add_column("metric")
    table.add_column("leadml model", justify="right")
    table.add_column("agreed rules", justify="right")
    for key, label in ev.METRIC_LABELS.items():
        table.add_row(label, f"{m[f'test_model_{key}']:.4f}", f"{m[f'test_rules_{key}']:.4f}")
    console.print(table)
    console.print(
        f"Sales-ready threshold {m['threshold']:.3f} (probability); calibration "
        f"{result.lead_model.info['calibration']}; {int(m['best_iteration'])} trees."
    )


@app.command()
@friendly
def evaluate(
    data: Annotated[str, typer.Option(help="Leads with outcomes: file or DB URL.")],
    model: Annotated[str, typer.Option(help="champion, challenger or a version.")] = "champion",
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    capacity: Annotated[
        int | None,
        typer.Option(min=1, help="Leads sales can work per week (default: as trained)."),
    ] = None,
    name: Annotated[str, typer.Option(help="Registered model name.")] = MODEL_NAME,
) -> None:
    """Score leads with known outcomes and compare the model with the agreed rules."""
    from leadml import evaluate as ev
    from leadml.config import CapacityConfig
    from leadml.data import check_leads, read_leads
    from leadml.registry import load_lead_model
    from leadml.train import weeks_and_capacity

    lead_model, resolved = load_lead_model(name, model)
    leads = check_leads(read_leads(data, query), lead_model.spec, require_label=True, unseen={})
    if len(leads.y) == 0:
        raise DataError(f"{data}: no lead has a decided outcome to evaluate against")
    scored = lead_model.score_checked(leads, reasons=0)
    trained = CapacityConfig(**lead_model.info.get("capacity", {}))
    weeks, per_week = weeks_and_capacity(
        leads.frame, trained if capacity is None else CapacityConfig(leads_per_week=capacity)
    )
    table = Table(title=f"{name} v{resolved.version} on {data} ({len(scored):,} leads)")
    for col in ("metric", "leadml model", "agreed rules"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    both = {
        who: ev.score_metrics(leads.y, scored[col].to_numpy(), weeks, per_week)
        for who, col in (("model", "probability"), ("rules", "rules_probability"))
    }
    for key, label in ev.METRIC_LABELS.items():
        table.add_row(label, f"{both['model'][key]:.4f}", f"{both['rules'][key]:.4f}")
    console.print(table)


@app.command()
@friendly
def promote(
    model: Annotated[str, typer.Option(help="The version or alias to promote.")] = "challenger",
    name: Annotated[str, typer.Option(help="Registered model name.")] = MODEL_NAME,
) -> None:
    """Make a model champion only if it passes every gate of its training config."""
    from leadml.registry import promote as do_promote

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
    from leadml.registry import rollback as do_rollback

    current, previous = do_rollback(name)
    console.print(f"Champion moved back from version {current} to version {previous}.")


@app.command()
@friendly
def predict(
    data: Annotated[str, typer.Option(help="Leads to score: file or DB URL.")],
    out: Annotated[Path, typer.Option(help="Output: .csv or .parquet.")],
    model: Annotated[str, typer.Option(help="champion, challenger or a version.")] = "champion",
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    reasons: Annotated[int, typer.Option(min=0, max=10, help="Reasons per lead.")] = 3,
    name: Annotated[str, typer.Option(help="Registered model name.")] = MODEL_NAME,
    engine: Annotated[
        Engine,
        typer.Option(
            help="pandas: one process, one output file. dask: partition by partition on a "
            "Dask cluster into a folder of Parquet parts (--data a folder or a glob of files)."
        ),
    ] = Engine.pandas,
    scheduler: SchedulerOption = None,
) -> None:
    """Score leads: probability, band, verdict, reasons, and the agreed rules beside it."""
    from leadml.data import read_leads, write_table
    from leadml.registry import load_lead_model

    _check_engine(engine, scheduler, query)
    lead_model, resolved = load_lead_model(name, model)
    if engine == Engine.dask:
        _predict_dask(lead_model, resolved, data, out, reasons, scheduler, name)
        return
    leads = read_leads(data, query)
    with _progress() as bar:
        task = bar.add_task("Scoring leads (reasons take longest)", total=len(leads))
        scored = lead_model.score(
            leads, reasons=reasons, progress=lambda done, total: bar.update(task, completed=done)
        )
    write_table(scored, out)
    _warn_unseen(scored.attrs.get("unseen", {}))
    console.print(
        f"Scored {len(scored):,} leads with {name} v{resolved.version}: "
        f"{int(scored['sales_ready'].sum()):,} sales-ready by the model, "
        f"{int(scored['rules_sales_ready'].sum()):,} by the rules -> {out}"
    )


def _predict_dask(lead_model, resolved, data, out, reasons, scheduler, name) -> None:
    from leadml.cluster import connect, score_partitions
    from leadml.data import DATA_EXTENSIONS
    from leadml.folders import is_folder_target

    if not is_folder_target(out, DATA_EXTENSIONS):
        raise LeadmlError(f"--engine dask writes a folder of Parquet parts; --out {out} is a file")

    with connect(scheduler, say=err.print) as client, _progress() as bar:
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
        )
    _warn_unseen(summary.unseen)
    console.print(
        f"Scored {summary.rows:,} leads with {name} v{resolved.version} into {summary.parts:,} "
        f"Parquet part(s): {summary.sales_ready:,} sales-ready by the model, "
        f"{summary.rules_sales_ready:,} by the rules -> {out}"
    )


@app.command()
@friendly
def compare(
    data: Annotated[str, typer.Option(help="Leads with outcomes: file or DB URL.")],
    out: Annotated[Path, typer.Option(help="The HTML page to write.")] = Path("report.html"),
    model: Annotated[str, typer.Option(help="champion, challenger or a version.")] = "champion",
    csv: Annotated[
        Path | None, typer.Option(help="Per-lead CSV (default: beside the page, .csv).")
    ] = None,
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    name: Annotated[str, typer.Option(help="Registered model name.")] = MODEL_NAME,
) -> None:
    """One page for sales and marketing: where the model and the agreed rules differ, and who
    was right, on leads whose outcome is known; plus a per-lead CSV."""
    from leadml.data import check_leads, read_leads
    from leadml.registry import load_lead_model
    from leadml.report import compare as build
    from leadml.report import write_leads_csv, write_report

    lead_model, resolved = load_lead_model(name, model)
    leads = check_leads(read_leads(data, query), lead_model.spec, require_label=True, unseen={})
    for reason, count in leads.excluded.items():
        err.print(f"Excluded {count:,} lead(s): {reason}")
    if len(leads.y) == 0:
        raise DataError(f"{data}: no lead has a decided outcome to compare against")
    comparison = build(lead_model, leads, title=f"{name} v{resolved.version} ({model})")
    page = write_report(comparison, out)
    table = write_leads_csv(comparison, csv or out.with_suffix(".csv"))
    m, r = comparison.model, comparison.rules
    console.print(
        f"{len(leads.y):,} leads: at capacity the model's picks converted at "
        f"{m['precision_at_capacity']:.1%}, the rules' at {r['precision_at_capacity']:.1%}.\n"
        f"Page: {page} (open it in a browser; it needs no network). Per lead: {table}",
        soft_wrap=True,
    )


DEV_KEY_FILE = Path(".leadml") / "dev_api_keys"


def _service_dir() -> Path:
    """The project's `service/` folder: beside the current folder, else beside the package."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (base / "service" / "service.py").is_file():
            return base / "service"
    raise LeadmlError("service/service.py not found: run `leadml serve` in the leadml project")


def _dev_key() -> tuple[Path, str]:
    """A development API key kept in .leadml/dev_api_keys (created once, private to the user)."""
    import secrets

    if DEV_KEY_FILE.is_file():
        keys = [k.strip() for k in DEV_KEY_FILE.read_text().splitlines() if k.strip()]
        if keys:
            return DEV_KEY_FILE, keys[0]
    DEV_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    DEV_KEY_FILE.write_text(key + "\n")
    DEV_KEY_FILE.chmod(0o600)
    return DEV_KEY_FILE, key


@app.command()
@friendly
def serve(
    model: Annotated[str, typer.Option(help="champion, challenger or a version.")] = "champion",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    name: Annotated[str, typer.Option(help="Registered model name.")] = MODEL_NAME,
    dev_key: Annotated[
        bool, typer.Option(help="Create (once) and use a development API key; prints it.")
    ] = False,
    insecure_dev: Annotated[
        bool, typer.Option(help="Development only: serve without any API key.")
    ] = False,
) -> None:
    """Serve lead scores over HTTP (BentoML): POST /score, POST /rules, GET /model.

    API keys come from LEADML_API_KEYS or LEADML_API_KEYS_FILE; see service/README.md.
    """
    import sys

    from leadml.registry import resolve
    from leadml.serving import ServiceSettings

    os.environ["LEADML_MODEL"] = model
    os.environ["LEADML_MODEL_NAME"] = name
    if insecure_dev:
        os.environ["LEADML_INSECURE_DEV"] = "1"
    key = None
    if dev_key:
        path, key = _dev_key()
        os.environ["LEADML_API_KEYS_FILE"] = str(path.resolve())
    ServiceSettings.from_env().check_keys()
    resolved = resolve(name, model)  # a clear error now, rather than from the server
    service_dir = _service_dir()
    url = f"http://{host}:{port}"
    console.print(
        f"Serving {name} v{resolved.version} ({model}) on {url}; docs at {url}/docs", soft_wrap=True
    )
    if key:
        console.print(
            f"Development API key (kept in {DEV_KEY_FILE}):\n"
            f"  curl -H 'Authorization: Bearer {key}' {url}/model",
            soft_wrap=True,
        )
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    args = [bentoml, "serve", "service:LeadService", "--working-dir", str(service_dir)]
    os.execv(bentoml, [*args, "--host", host, "--port", str(port)])
