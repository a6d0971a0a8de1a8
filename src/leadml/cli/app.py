"""What every `leadml` command shares: the app, its consoles, one clear line for a user's
mistake (`friendly`), the default files and how to name others, `--json` output, progress bars,
the engine option.

The command modules (`data`, `train`, `score`, `serve`) import their work inside each command,
on purpose: `leadml --help` and a mistyped option answer at once instead of after the seconds
MLflow, LightGBM, BentoML and Dask take to import. Everything else in leadml imports at the top.
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import math
import os
import sys
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn

import typer
from rich.console import Console, Group
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from leadml.errors import LeadmlError
from leadml.runtime import configure

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    help="leadml: calibrated lead scores beside the agreed rules, tracked in MLflow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings=HELP,
)
features_app = typer.Typer(
    help="Check, compare and sign feature specs.", no_args_is_help=True, context_settings=HELP
)
rules_app = typer.Typer(
    help="Score leads with the agreed rules.", no_args_is_help=True, context_settings=HELP
)
app.add_typer(features_app, name="features")
app.add_typer(rules_app, name="rules")
PIPED_WIDTH = 10_000  # output read by a program or a file: lines as long as they are


def _console(*, stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A console that wraps at the terminal's width, and not at all when piped (rich would
    wrap at 80 columns, cutting paths and ids in two). Without `file` it writes to whatever
    `sys.stdout` (or `sys.stderr`) is when it prints, as a test runner's capture needs."""
    stream = file or (sys.stderr if stderr else sys.stdout)
    piped = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(file=file, stderr=stderr, width=PIPED_WIDTH if piped else None)


console = _console()
err = _console(stderr=True)

DEFAULT_SPEC = "features/lead_features.yaml"
DEFAULT_RULES = "features/scoring_rules.yaml"
DEFAULT_CONFIG = "training/demo.yaml"
MODEL_NAME = "lead-qualifier"
PROJECT_FILE = "leadml.yaml"  # written by `leadml init`: which training config is the project's


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
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="Overwrite an existing output file (never one the command reads)."
    ),
]
SinceOption = Annotated[
    str | None, typer.Option(help="First day of scores to read (ISO date; default: all).")
]
UntilOption = Annotated[
    str | None, typer.Option(help="Day after the last to read (ISO date; default: now).")
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON document on stdout instead of text (warnings and notes still go "
        "to stderr; the exit code is the same).",
    ),
]


def _version(show: bool) -> None:
    if show:
        typer.echo(f"leadml {installed_version('leadml')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print leadml's version and exit."
        ),
    ] = False,
) -> None:
    """leadml: calibrated lead scores beside the agreed rules, tracked in MLflow."""


NameOption = Annotated[
    str | None,
    typer.Option(
        help="Registered model name (default: the one --config registers; else the config "
        f"{PROJECT_FILE} names; else {MODEL_NAME})."
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help=f"Training config whose registered model to use (default: the one {PROJECT_FILE} "
        "names).",
    ),
]


def project_config(folder: Path | None = None) -> Path | None:
    """The training config the project file (`leadml.yaml`, in `folder` or the current folder)
    names, found from that file's folder; None without a project file."""
    from leadml.spec.files import read_yaml

    project = (folder or Path.cwd()) / PROJECT_FILE
    if not project.is_file():
        return None
    raw = read_yaml(project)
    config = raw.get("config") if isinstance(raw, dict) else None
    if not isinstance(config, str) or not config:
        raise LeadmlError(f"{project}: needs `config: PATH` (the training config to use)")
    path = Path(config) if Path(config).is_absolute() else project.parent / config
    if not path.is_file():
        raise LeadmlError(f"{project}: config {config} not found (looked for {path})")
    return path


def default_config() -> Path:
    """`leadml train`'s config when --config is not given: the project's, else the demo's."""
    return project_config() or default_file(
        DEFAULT_CONFIG, "name the config: leadml train --config PATH"
    )


def day(value: str | None, option: str):
    """An ISO date option as a UTC time (None when not given)."""
    import pandas as pd

    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        raise LeadmlError(f"{option} {value!r}: give a date such as 2026-11-01") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def default_file(default: str, how: str) -> Path:
    """A command's input file when the user named none: `default`, from the current folder.
    When it is not there, one clear error saying `how` to name another file."""
    path = Path(default)
    if path.is_file():
        return path
    raise LeadmlError(
        f"{default} not found (run from the project folder, or {how}; `leadml init` drafts one)"
    )


def model_name(name: str | None, config: Path | None) -> str:
    """The registered model a command acts on: --name, else the one --config registers, else the
    one the project's config registers, else `lead-qualifier` (the demo's)."""
    if name:
        return name
    config = config or project_config()
    if config is None:
        return MODEL_NAME
    from leadml.spec.config import load_config

    return load_config(config).tracking.registered_model


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
        except (LeadmlError, OSError) as exc:  # OSError: a file the user named, a full disk, ...
            fail("error", exc)
        except Exception as exc:
            what = CLUSTER_ERRORS.get(type(exc).__name__)
            if what is None:
                raise
            fail(what, exc)

    return wrapper


def fail(what: str, exc: Exception | str, code: int = 2) -> NoReturn:
    """Print `what: exc` on stderr (the label styled, the message as written) and exit `code`."""
    err.print(Text.assemble((f"{what}:", "bold red"), " ", str(exc)), soft_wrap=True)
    raise typer.Exit(code) from None


def say(text: str, style: str = "", *, to: Console = console) -> None:
    """Print `text` exactly as written: rich reads no markup or emoji codes in it (paths,
    values and messages hold '[a-z]' or ':name:' that must not vanish)."""
    to.print(Text(text, style=style), soft_wrap=True)


def print_json(document: dict[str, Any]) -> None:
    """`document` as a command's one JSON document on stdout (`--json`), never through rich
    (which wraps and reads markup): numbers stay numbers, and a number that is not one (NaN,
    infinite: a metric not measured) is null, as JSON has no NaN."""
    typer.echo(json.dumps(_plain(document), indent=2, allow_nan=False))


def _plain(value: Any) -> Any:
    """`value` as JSON's types: mappings, lists, strings, finite numbers, booleans, null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if not isinstance(value, str | int | float | bool) and hasattr(value, "item"):
        value = value.item()  # a numpy number
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def warn(text: str) -> None:
    """A warning line on stderr: the label styled, the text as written."""
    err.print(Text.assemble(("warning:", "yellow"), " ", text), soft_wrap=True)


def check_outputs(
    data: str | None, outputs: dict[str, Path], *, force: bool, tables: bool = False
) -> None:
    """Before any work: each output file (by its option) is not what `data` reads, not another
    output, and new unless --force; with `tables`, named .csv, .csv.gz or .parquet."""
    from leadml.data.outputs import TABLE_EXTENSIONS, check_distinct, check_output
    from leadml.data.read import source_files

    inputs = source_files(data) if data else []
    check_distinct(outputs)
    for option, path in outputs.items():
        extensions = TABLE_EXTENSIONS if tables else None
        check_output(path, inputs=inputs, force=force, extensions=extensions, option=option)


def _quiet_libraries() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("alembic", "mlflow", "urllib3", "git"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    configure()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # an MLflow server's run link on stdout (leadml prints its own, where it belongs)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def metrics_table(title: str, model: dict[str, float], rules: dict[str, float]) -> Group:
    """The model's and the agreed rules' metrics side by side, in people's words, under a title
    line (it names the data: read without markup, wrapped at the console's width, not the
    table's)."""
    from leadml.evaluation.metrics import METRIC_LABELS

    table = Table()
    table.add_column("metric")
    table.add_column("leadml model", justify="right")
    table.add_column("agreed rules", justify="right")
    for key, label in METRIC_LABELS.items():
        table.add_row(label, f"{model[key]:.4f}", f"{rules[key]:.4f}")
    return Group(Text(title, style="italic"), table)
