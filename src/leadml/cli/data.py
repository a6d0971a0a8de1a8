"""`leadml synth`, `leadml features check|diff` and `leadml rules score`: the files people make
or review.

Each command imports its work when it runs (see `leadml.cli.app`)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from leadml.cli.app import (
    DEFAULT_RULES,
    DEFAULT_SPEC,
    ForceOption,
    JsonOption,
    _progress,
    app,
    check_outputs,
    default_file,
    err,
    features_app,
    friendly,
    print_json,
    rules_app,
    say,
    warn,
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
    force: ForceOption = False,
) -> None:
    """Generate realistic demo leads with known outcome probabilities."""
    from leadml.data import synth as synth_mod
    from leadml.data.folders import is_folder_target

    folder = is_folder_target(out, synth_mod.EXTENSIONS)
    if not folder:  # a folder is replaced only when it is earlier demo leads (leadml.data.folders)
        check_outputs(None, {"--out": out}, force=force)
    with _progress() as bar:
        task = bar.add_task("Generating leads", total=rows)
        update = lambda n: bar.update(task, completed=n)  # noqa: E731
        if folder:
            written = synth_mod.write_partitioned(
                rows, seed, out, partition_rows, progress=update, say=lambda m: say(m, to=err)
            )
        else:
            written = synth_mod.write(rows, seed, out, progress=update)
    parts = f" in {-(-written // partition_rows):,} Parquet part(s)" if folder else ""
    say(f"Wrote {written:,} leads to {out}{parts}")


@features_app.command("check")
@friendly
def features_check(
    file: Annotated[
        Path | None,
        typer.Argument(help=f"Feature spec YAML (default: {DEFAULT_SPEC}).", show_default=False),
    ] = None,
    rules: Annotated[Path | None, typer.Option(help="Also check this agreed-rules file.")] = None,
    json_out: JsonOption = False,
) -> None:
    """Validate a feature spec (and optionally its rules); exit 1 if it cannot train a model.
    --json prints {"file", "features", "spec_version", "hash", "rules" (null without --rules),
    "problems", "ok"}, whether or not it passes."""
    from leadml.rules.definition import load_rules
    from leadml.spec.features import is_todo, load_spec

    file = file or default_file(DEFAULT_SPEC, "name the spec: leadml features check PATH")
    spec = load_spec(file)
    if not json_out:  # said before the rules are read, which may fail
        say(
            f"{file}: {len(spec.features)} features, spec version {spec.spec_version}, "
            f"hash {spec.content_hash}"
        )
    checked: dict[str, Any] | None = None
    if rules is not None:
        agreed = load_rules(rules, spec)
        drafted = [r.name for r in agreed.rules if is_todo(r.description)]
        checked = {"file": str(rules), "rules": len(agreed.rules), "todo": drafted}
    problems = spec.training_problems()
    if json_out:
        print_json(
            {
                "file": str(file),
                "features": len(spec.features),
                "spec_version": spec.spec_version,
                "hash": spec.content_hash,
                "rules": checked,
                "problems": problems,
                "ok": not problems,
            }
        )
    else:
        _say_checked(checked, problems)
    if problems:
        raise typer.Exit(1)


def _say_checked(checked: dict[str, Any] | None, problems: list[str]) -> None:
    """The rest of `features check` in words: the rules, and what blocks training."""
    if checked is not None:
        say(f"{checked['file']}: {checked['rules']} rules, valid against the spec")
        drafted = checked["todo"]
        if drafted:
            say(f"{len(drafted)} rule(s) still TODO (examples to replace): {', '.join(drafted)}")
    if problems:
        say(f"{len(problems)} problem(s) block training:", "yellow")
        for p in problems:
            say(f"  - {p}")
        return
    say("Every feature is signed off by sales and marketing.", "green")


class Team(StrEnum):
    sales = "sales"
    marketing = "marketing"


@features_app.command("sign")
@friendly
def features_sign(
    file: Annotated[Path, typer.Argument(help="Feature spec YAML to sign (edited in place).")],
    team: Annotated[Team, typer.Option(help="The team signing.")],
    by: Annotated[str, typer.Option(help="Who signs, as the sign-off should name them.")],
    features: Annotated[
        str | None, typer.Option(help="Comma-separated feature names to sign (or --all).")
    ] = None,
    all_features: Annotated[bool, typer.Option("--all", help="Sign every feature.")] = False,
) -> None:
    """Record a team's sign-off (who, today, the current spec_version) on features in the spec
    file, keeping its comments and layout; refuses features whose description or owner is TODO."""
    from datetime import date

    from leadml.data.outputs import text_writer, write_files
    from leadml.errors import LeadmlError
    from leadml.spec.signing import sign

    if all_features == (features is not None):
        raise LeadmlError(
            "name the features to sign with --features a,b, or sign them all with --all"
        )
    names = None if all_features else [n.strip() for n in (features or "").split(",") if n.strip()]
    if names == []:
        raise LeadmlError("--features names no feature; give names separated by commas")
    today = date.today()  # one date written and said, even at midnight
    signed = sign(file, team.value, by, names, today)
    write_files({file: text_writer(signed.text)})
    if not signed.kept_layout:
        warn(f"{file}: could not edit its lines in place; rewritten from its data (comments lost)")
    say(
        f"Signed {len(signed.features)} feature(s) in {file} for {team.value} by {by.strip()} on "
        f"{today.isoformat()}, spec version {signed.version}: "
        f"{', '.join(signed.features)}",
        "green",
    )


@features_app.command("diff")
@friendly
def features_diff(
    old: Annotated[Path, typer.Argument(help="The spec or rules file before the change.")],
    new: Annotated[Path, typer.Argument(help="The spec or rules file after the change.")],
    json_out: JsonOption = False,
) -> None:
    """What a reviewer must look at: added (+), removed (-) and changed (~) features or rules,
    and what to do about them (!). Exit status, as `diff`: 0 when a reviewer has nothing to
    see, 1 when the files differ, 2 on an error (a file missing or invalid). --json prints
    {"old", "new", "differs", "changes"}, each change a line as printed."""
    from leadml.rules.review import diff_files

    lines = diff_files(old, new)
    if json_out:
        print_json({"old": str(old), "new": str(new), "differs": bool(lines), "changes": lines})
    else:
        for line in lines or ["no differences a reviewer needs to see"]:
            say(line, {"+": "green", "-": "red", "~": "yellow"}.get(line[:1], ""))
    if lines:
        raise typer.Exit(1)


@rules_app.command("score")
@friendly
def rules_score(
    data: Annotated[str, typer.Option(help="Leads: CSV, Parquet or a database URL.")],
    out: Annotated[Path, typer.Option(help="Output: .csv or .parquet.")],
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    spec: Annotated[
        Path | None, typer.Option(help=f"Feature spec (default: {DEFAULT_SPEC}).")
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help=f"Agreed rules (default: {DEFAULT_RULES}).")
    ] = None,
    force: ForceOption = False,
) -> None:
    """Score leads with the agreed rules alone: points, rules that fired, verdict."""
    from leadml.data.check import check_leads
    from leadml.data.read import read_leads, write_table
    from leadml.rules.definition import load_rules
    from leadml.scoring.lead_model import output_id
    from leadml.spec.features import load_spec

    check_outputs(data, {"--out": out}, force=force, tables=True)
    spec = spec or default_file(DEFAULT_SPEC, "name the spec: leadml rules score --spec PATH")
    rules = rules or default_file(DEFAULT_RULES, "name the rules: leadml rules score --rules PATH")
    feature_spec = load_spec(spec)
    agreed = load_rules(rules, feature_spec)
    unseen: dict[str, int] = {}
    leads = check_leads(read_leads(data, query), feature_spec, require_label=False, unseen=unseen)
    scored = agreed.score(leads.frame, feature_spec).to_frame()
    scored.insert(0, output_id(feature_spec), leads.frame[feature_spec.id_column].to_numpy())
    write_table(scored, out)
    _warn_unseen(unseen)
    ready = int(scored["rules_sales_ready"].sum())
    say(f"Scored {len(scored):,} leads; {ready:,} sales-ready by the rules -> {out}")


def _warn_unseen(unseen: dict[str, int]) -> None:
    for name, n in unseen.items():
        warn(f"{n:,} lead(s) have an unknown {name}; scored as missing")
