"""What every `leadml` command shares: the app, its consoles, one clear line for a user's
mistake (`friendly`), progress bars, the engine option.

The command modules (`data`, `train`, `score`, `serve`) import their work inside each command,
on purpose: `leadml --help` and a mistyped option answer at once instead of after the seconds
MLflow, LightGBM, BentoML and Dask take to import. Everything else in leadml imports at the top.
"""

from __future__ import annotations

import enum
import functools
import logging
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leadml.errors import LeadmlError
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


def metrics_table(title: str, model: dict[str, float], rules: dict[str, float]) -> Table:
    """The model's and the agreed rules' metrics side by side, in people's words."""
    from leadml.evaluation.metrics import METRIC_LABELS

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("leadml model", justify="right")
    table.add_column("agreed rules", justify="right")
    for key, label in METRIC_LABELS.items():
        table.add_row(label, f"{model[key]:.4f}", f"{rules[key]:.4f}")
    return table
