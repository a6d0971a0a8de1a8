"""`leadml init`: a first draft of the feature spec, the agreed rules and the training config
from a team's own export.

Each command imports its work when it runs (see `leadml.cli.app`)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leadml.cli.app import PROJECT_FILE, ForceOption, app, check_outputs, friendly, say, warn

if TYPE_CHECKING:
    from leadml.data.draft import Draft

FILES = {"spec": "features.yaml", "rules": "rules.yaml", "training": "training.yaml"}


@app.command()
@friendly
def init(
    data: Annotated[str, typer.Option(help="The export: CSV, Parquet or a database URL.")],
    out_dir: Annotated[
        Path, typer.Option(help="Folder for features.yaml, rules.yaml and training.yaml.")
    ],
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    label: Annotated[
        str | None,
        typer.Option(help="The outcome column (default: a two-valued column named like one)."),
    ] = None,
    project: Annotated[
        bool,
        typer.Option(
            help=f"Write {PROJECT_FILE} in the current folder, naming the drafted training config "
            "(what predict, evaluate, promote... use without --config), unless it exists."
        ),
    ] = True,
    force: ForceOption = False,
) -> None:
    """Draft a feature spec, agreed rules and a training config from an export, for people to
    finish: descriptions and owners TODO, every feature unsigned, each guess marked."""
    from leadml.data.draft import draft_from, snake
    from leadml.data.draft_files import rules_yaml, spec_yaml, training_yaml
    from leadml.data.outputs import text_writer, write_files
    from leadml.data.read import read_leads
    from leadml.evaluation.audit import single_feature_auc

    paths = {key: out_dir / name for key, name in FILES.items()}
    check_outputs(
        data, {f"--out-dir ({name})": paths[key] for key, name in FILES.items()}, force=force
    )
    frame = read_leads(data, query)
    draft = draft_from(frame, data, query, label, auc=single_feature_auc)
    name = snake(out_dir.resolve().name)
    texts = {
        "spec": spec_yaml(draft),
        "rules": rules_yaml(draft, FILES["spec"]),
        "training": training_yaml(draft, name, str(paths["spec"]), str(paths["rules"])),
    }
    _check_drafts(texts)
    writers = {paths[k]: text_writer(text) for k, text in texts.items()}
    project_file = Path(PROJECT_FILE)
    if project and not project_file.exists():
        writers[project_file] = text_writer(_project_yaml(paths["training"]))
    write_files(writers)
    _report(draft, paths)
    if project_file in writers:
        say(f"Wrote {project_file}: commands run here use {paths['training']} without --config")
    elif project:
        say(f"{project_file} exists and was left as it is; it names the config commands use here")


def _project_yaml(training: Path) -> str:
    return (
        "# The project's training config: `leadml train`, `predict`, `evaluate`, `compare`,\n"
        "# `promote` and `rollback` run in this folder use it (and its registered model) when\n"
        "# --config is not given. Written by `leadml init`.\n"
        f"config: {json.dumps(str(training))}\n"
    )


def _check_drafts(texts: dict[str, str]) -> None:
    """The drafts load with leadml's own loaders (in a scratch folder, before anything is
    written): a draft that does not is a bug in `leadml init`, said as such."""
    from leadml.errors import LeadmlError
    from leadml.rules.definition import load_rules
    from leadml.spec.config import load_config
    from leadml.spec.features import load_spec

    with tempfile.TemporaryDirectory(prefix="leadml-init-") as scratch:
        folder = Path(scratch)
        for key, text in texts.items():
            (folder / FILES[key]).write_text(text, encoding="utf-8")
        try:
            spec = load_spec(folder / FILES["spec"])
            load_rules(folder / FILES["rules"], spec)
            load_config(folder / FILES["training"])
        except LeadmlError as exc:
            raise LeadmlError(
                f"leadml init drafted a file its own loaders refuse (a bug): {exc}"
            ) from None


def _report(draft: Draft, paths: dict[str, Path]) -> None:
    """What the draft found, and what is left to do."""
    features = draft.features
    say(f"Read {draft.rows:,} leads from {draft.source}; drafted {len(features)} features:")
    for path in paths.values():
        say(f"  {path}")
    say(f"  label: {draft.label} (sales-ready: {draft.positive[0]!r}, {draft.positives:,} leads)")
    say(f"  lead id: {draft.lead_id or 'none (leads named by row number)'}")
    if draft.timestamp:
        say(f"  timestamp: {draft.timestamp}")
    elif draft.order_note:
        warn(f"no timestamp; the time split is ordered by {draft.order_by}: {draft.order_note}")
    elif draft.order_by:
        say(f"  no timestamp; the time split is ordered by {draft.order_by} (split.order_by)")
    else:
        warn(
            "no timestamp and no lead number: the training config uses a random split (if the "
            "file lists the oldest leads first, set split.order_by: file_order for a time split)"
        )
    if draft.timestamp_note and not draft.timestamp_format:
        warn(f"{draft.timestamp}: {draft.timestamp_note}")
    for c in features:
        if c.placeholders:
            say(f"  {c.name}: {', '.join(map(repr, c.placeholders))} read as missing")
    for c in features:
        named = c.name if c.name == c.column else f"{c.name} ('{c.column}')"
        if c.known_at == "after_contact":
            warn(f"{named}: suspected leak: {c.known_why}")
        elif c.check_why:
            warn(f"{named}: {c.check_why}")
    left = [c for c in draft.columns if not c.kind]
    for c in left:
        say(f"  left out '{c.column}': {c.left_out}")
    say(
        f"Next: write each feature's description and owner (TODO), check the guesses, then "
        f"`leadml features check {paths['spec']} --rules {paths['rules']}` lists what is left."
    )
