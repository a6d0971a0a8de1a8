"""`leadml rules suggest`: the next points table, learned from the outcomes, for both teams to
review and sign."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadml.cli.app import (
    ForceOption,
    JsonOption,
    check_outputs,
    default_config,
    err,
    friendly,
    print_json,
    rules_app,
    say,
    warn,
)
from leadml.errors import LeadmlError

MODEL = "leadml model"
MEASURES = ("roc_auc", "log_loss", "ece", "precision_at_capacity")


@rules_app.command("suggest")
@friendly
def rules_suggest(
    out: Annotated[Path, typer.Option(help="The proposed rules file to write (.yaml).")],
    config: Annotated[
        Path | None,
        typer.Option(
            help="Training config: the history, spec, rules, split and sales capacity "
            "(default: the project's, else the demo's)."
        ),
    ] = None,
    data: Annotated[str | None, typer.Option(help="Override data.path: file or DB URL.")] = None,
    query: Annotated[str | None, typer.Option(help="SQL query for a database URL.")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="The model judged beside the rules on the review page: champion, challenger "
            "or a version (default: champion, when there is one)."
        ),
    ] = None,
    max_rules: Annotated[int, typer.Option(min=1, max=50, help="At most this many rules.")] = 20,
    points_step: Annotated[
        int, typer.Option(min=1, max=10, help="Points are multiples of this (5: 5, 10, 15...).")
    ] = 5,
    page: Annotated[
        Path | None,
        typer.Option(help="The review page with the proposal (default: beside --out, .html)."),
    ] = None,
    as_json: JsonOption = False,
    force: ForceOption = False,
) -> None:
    """Propose the next agreed rules: a points table learned from the outcomes in the rules'
    own format, starting from the current rules (their wording kept, their points moved),
    features the teams have not signed never used, agreed directions respected, judged on the
    test window beside the current rules and the model. Nobody has signed it: review it with
    `leadml features diff`."""
    from leadml.data.check import CheckedLeads
    from leadml.data.outputs import text_writer, write_files
    from leadml.evaluation.report import compare, render_html
    from leadml.rules.propose import WORSE
    from leadml.spec.config import load_config
    from leadml.training.suggest import check_usable, suggest_rules

    if out.suffix.lower() not in (".yaml", ".yml"):
        raise LeadmlError(f"--out {out}: a rules file is YAML; name it .yaml")
    page = page or out.with_suffix(".html")
    config = config or default_config()
    cfg = load_config(config)
    source = data or cfg.data.path
    if source is None:
        raise LeadmlError(f"{config}: no data.path; give the leads with --data FILE")
    for named in (cfg.spec, cfg.rules):
        if Path(named).resolve() == out.resolve():
            raise LeadmlError(f"--out {out} is the config's own file; write the proposal apart")
    check_usable(cfg)  # before the model and the data: nothing to learn from is said first
    lead_model = _model(cfg.tracking.registered_model, model)
    pages = {} if lead_model is None else {"--page": page}  # a page needs a model
    check_outputs(source, {"--out": out, **pages}, force=force)
    suggestion = suggest_rules(
        cfg, source, query, out_name=str(out), max_rules=max_rules, step=points_step,
        say=lambda m: say(m, to=err),
    )  # fmt: skip
    metrics = dict(suggestion.metrics)
    writers = {out: text_writer(suggestion.proposal.text)}
    if lead_model is not None and lead_model.spec.content_hash != suggestion.spec.content_hash:
        warn(f"the model's feature spec is not {cfg.spec}'s: no review page (train it again)")
        lead_model = None
    if lead_model is not None:
        test = suggestion.data.test
        comparison = compare(
            lead_model,
            CheckedLeads(test.frame, test.y),
            f"{cfg.name or 'leadml'}: the rules we could agree next",
            capacity=cfg.capacity,
            notes=(f"The test window of {config}'s split: leads neither learned from.",),
        )
        comparison.next_rules = suggestion.next_rules(str(out))
        metrics = {MODEL: comparison.model, **metrics}
        writers[page] = text_writer(render_html(comparison))
    write_files(writers)
    if suggestion.worse:
        warn(WORSE)
    if as_json:
        print_json(_summary(suggestion, metrics, out, page if page in writers else None))
    else:
        _print(suggestion, metrics, out, page if page in writers else None, cfg)


def _model(name: str, ref: str | None):
    """The model to judge beside the rules: `ref`, else the champion when there is one."""
    from leadml.errors import RegistryError
    from leadml.registry.aliases import load_lead_model

    try:
        return load_lead_model(name, ref or "champion")[0]
    except RegistryError:
        if ref is not None:
            raise
        warn(f"no champion of {name} registered: the page needs a model; writing the rules only")
        return None


def _summary(suggestion, metrics, out: Path, page: Path | None) -> dict:
    table = suggestion.proposal.rules
    return {
        "out": str(out),
        "page": None if page is None else str(page),
        "rules": len(table.rules),
        "points": [r.points for r in table.rules],
        "sales_ready_points": table.sales_ready_points,
        "points_to_double": suggestion.learned.points_to_double,
        "kept": [k for k in suggestion.learned.kept if k is not None],
        "worse_than_current": suggestion.worse,
        "left_out": suggestion.proposal.left_out,
        "test": {name: {k: m[k] for k in MEASURES} for name, m in metrics.items()},
    }


def _print(suggestion, metrics, out: Path, page: Path | None, cfg) -> None:
    table = suggestion.proposal.rules
    kept = sum(k is not None for k in suggestion.learned.kept)
    say(
        f"Proposed {len(table.rules)} rules ({kept} kept from the current table, "
        f"{len(table.rules) - kept} new, {len(suggestion.proposal.left_out)} left out); "
        f"{suggestion.learned.points_to_double:.0f} points double the odds; sales-ready from "
        f"{table.sales_ready_points:g} points -> {out}"
    )
    say(f"On the test window ({len(suggestion.data.test.y):,} leads):")
    say(f"  {'scorer':<16} {'ROC AUC':>8} {'log loss':>9} {'calib. error':>13} {'at capacity':>12}")
    for name, m in metrics.items():
        say(
            f"  {name:<16} {m['roc_auc']:>8.3f} {m['log_loss']:>9.4f} "
            f"{100 * m['ece']:>12.1f}% {100 * m['precision_at_capacity']:>11.1f}%"
        )
    if page is not None:
        say(f"Page: {page} (open it in a browser; it needs no network)")
    say(
        f"Nobody has signed it. Review: leadml features diff {cfg.rules} {out}; then "
        f"leadml features check {cfg.spec} --rules {out}"
    )


__all__ = ["rules_suggest"]
