"""`leadml rules suggest` on the demo history: a proposal in the rules' own format that passes
`features check`, scores with `rules score`, shows its changes in `features diff`, carries no
sign-off, and appears on the review page beside the current rules and the model."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadml.cli import app

from ..conftest import RULES, SPEC, environ, write_config

pytestmark = pytest.mark.slow  # reads the trained `registry`

runner = CliRunner()


def leadml(registry: str, *args, code: int = 0):
    with environ(MLFLOW_TRACKING_URI=registry, LEADML_SCORE_LOG="off"):
        result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def test_a_proposal_the_teams_can_review_check_score_and_diff(registry, demo_leads, tmp_path):
    config = write_config(tmp_path, demo_leads)
    out = tmp_path / "proposed.yaml"
    result = leadml(registry, "rules", "suggest", "--config", config, "--out", out, "--json")
    summary = json.loads(result.stdout)
    assert summary["out"] == str(out) and summary["page"] == str(tmp_path / "proposed.html")
    assert 0 < summary["rules"] <= 20 and summary["kept"]
    assert all(isinstance(p, int) and -50 <= p <= 50 and p % 5 == 0 for p in summary["points"])
    test = summary["test"]
    assert set(test) == {"leadml model", "current rules", "proposed rules"}
    assert test["proposed rules"]["roc_auc"] > test["current rules"]["roc_auc"]
    assert not summary["worse_than_current"]

    text = out.read_text()
    assert text.startswith("# PROPOSED by `leadml rules suggest`") and "NOT AGREED" in text
    raw = yaml.safe_load(text)
    assert "review" not in raw and raw["rules_version"] == 2
    assert raw["title"].startswith("Proposed: ")

    checked = leadml(registry, "features", "check", SPEC, "--rules", out)
    assert f"{summary['rules']} rules, valid against the spec" in checked.output
    scored = tmp_path / "scored.csv"
    leads = tmp_path / "leads.csv"
    pd.read_parquet(demo_leads).tail(300).to_csv(leads, index=False)
    leadml(registry, "rules", "score", "--data", leads, "--rules", out, "--out", scored)
    points = pd.read_csv(scored)["rules_points"]
    assert len(points) == 300 and points.nunique() > 5
    diff = leadml(registry, "features", "diff", RULES, out, code=1).output
    assert "~ setting rules: rules_version: 1 -> 2" in diff
    kept = set(summary["kept"])
    moved = [line for line in diff.splitlines() if line.startswith("~ rule ")]
    assert moved and all(line.split()[2].rstrip(":") in kept for line in moved)
    current = {r["name"] for r in yaml.safe_load(RULES.read_text())["rules"]}
    for name in current - kept:
        assert f"- rule removed: {name}" in diff

    page = (tmp_path / "proposed.html").read_text()
    assert "<h2>The rules we could agree next</h2>" in page and "proposed rules" in page
    assert "nobody has signed it" in page and "https://" not in page


def test_refuses_to_overwrite_the_agreed_rules_or_write_other_than_yaml(registry, tmp_path):
    config = write_config(tmp_path, tmp_path / "unused.parquet", rules=str(RULES))
    refused = leadml(registry, "rules", "suggest", "--config", config, "--out", RULES, code=2)
    assert "write the proposal apart" in refused.output
    wrong = leadml(registry, "rules", "suggest", "--out", tmp_path / "p.csv", code=2)
    assert "a rules file is YAML" in wrong.output


def test_a_spec_nobody_signed_yet_has_nothing_to_learn_from(registry, demo_leads, tmp_path):
    """A new spec version (both teams must sign again): every feature is unusable, and the
    command says so rather than proposing rules on unsigned features."""
    spec = tmp_path / "features.yaml"
    spec.write_text(SPEC.read_text().replace("spec_version: 1", "spec_version: 2", 1))
    config = write_config(tmp_path, demo_leads, spec=str(spec))
    refused = leadml(registry, "rules", "suggest", "--config", config, "--out",
                     tmp_path / "p.yaml", code=2)  # fmt: skip
    assert "no feature may be used, so there is nothing to learn rules from" in refused.output
    assert "leadml features sign" in refused.output and not (tmp_path / "p.yaml").exists()
