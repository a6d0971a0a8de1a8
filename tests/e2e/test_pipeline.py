"""End to end through the CLI: synth -> train -> registry aliases -> promote -> rollback -> predict.

MLflow runs for real on a SQLite file in tmp_path.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadml.cli import app

from ..conftest import SPEC

pytestmark = pytest.mark.slow
runner = CliRunner()


def leadml(*args: str, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
    return result


def aliases(name="lead-qualifier") -> dict[str, str]:
    from leadml.tracking import client

    return {a: str(v) for a, v in client().get_registered_model(name).aliases.items()}


def test_full_lifecycle(mlflow_tmp, tmp_path, make_config):
    data = tmp_path / "leads.csv"
    out = leadml("synth", "--rows", 12000, "--seed", 5, "--out", data)
    assert "Wrote 12,000 leads" in out.output
    config = make_config(data, capacity={"leads_per_week": 25})

    first = leadml("train", "--config", config)
    assert "model vs rules" in first.output and "version 1" in first.output
    assert aliases() == {"challenger": "1"}
    card = tmp_path / "models" / "test" / "README.md"
    assert card.exists() and "agreed rules" in card.read_text()

    promoted = leadml("promote")
    assert "pass  min_auc" in promoted.output and "now champion" in promoted.output
    assert aliases() == {"challenger": "1", "champion": "1"}
    leadml("promote", code=2)  # already champion: a clear error, not a traceback

    leadml("train", "--config", config)
    assert aliases() == {"challenger": "2", "champion": "1"}
    second = leadml("promote")
    assert "pass  beats_champion: log loss" in second.output and "(same leads)" in second.output
    assert aliases()["champion"] == "2"

    back = leadml("rollback")
    assert "from version 2 to version 1" in back.output
    assert aliases() == {"champion": "1"}  # v2 is no longer challenger: promote won't undo this
    leadml("rollback", code=2)  # nothing earlier than version 1

    scored_path = tmp_path / "scored.parquet"
    leadml("predict", "--model", "champion", "--data", data, "--out", scored_path)
    scored = pd.read_parquet(scored_path)
    expected = {
        "lead_id",
        "probability",
        "band",
        "sales_ready",
        "reason_1",
        "rules_points",
        "rules_fired",
        "rules_sales_ready",
        "rules_probability",
        "agreement",
    }
    assert expected <= set(scored.columns)
    assert len(scored) == 12000 and scored["probability"].between(0, 1).all()
    assert set(scored["band"]) <= {"A", "B", "C", "D"}

    # the registry model is the one that trained: same scores as loading it directly
    from leadml.registry import load_lead_model

    model, resolved = load_lead_model("lead-qualifier", "1")
    assert resolved.version == "1"
    direct = model.score(pd.read_csv(data).head(50))
    pd.testing.assert_series_equal(direct["probability"], scored["probability"].head(50))

    evaluated = leadml("evaluate", "--model", "champion", "--data", data, "--capacity", 25)
    assert "ROC AUC" in evaluated.output

    # the MLflow pyfunc itself takes raw leads as a CRM sends them: ints, text, gaps
    import mlflow.pyfunc

    pyfunc = mlflow.pyfunc.load_model("models:/lead-qualifier@champion")
    raw = pd.read_csv(data).head(20)
    via_mlflow = pyfunc.predict(raw, params={"reasons": 0})
    np.testing.assert_allclose(via_mlflow["probability"], scored["probability"].head(20))
    gappy = raw.astype(object).assign(web_visits=None)
    assert pyfunc.predict(gappy)["probability"].between(0, 1).all()


def test_gate_failure_names_the_gate(mlflow_tmp, tmp_path, make_config, demo_leads):
    config = make_config(demo_leads, gates={"min_auc": 0.99})
    leadml("train", "--config", config)
    result = leadml("promote", code=1)
    assert "FAIL  min_auc" in result.output
    assert "champion" not in aliases()


def test_unreviewed_features_block_training_unless_allowed(
    mlflow_tmp, tmp_path, make_config, demo_leads
):
    raw = yaml.safe_load(SPEC.read_text())
    bad = copy.deepcopy(raw)
    bad["features"][0]["review"].pop("sales")
    bad["features"][3]["known_at"] = "after_contact"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(bad))
    config = make_config(demo_leads, spec=str(spec))

    refused = leadml("train", "--config", config, code=2)
    assert "lead_source: no sign-off from sales" in refused.output
    assert "follow_up_cta: known only after sales contact" in refused.output
    assert "Traceback" not in refused.output

    # --allow-unreviewed admits the missing sign-off, not the feature known after contact
    half = leadml("train", "--config", config, "--allow-unreviewed", code=2)
    assert "follow_up_cta: known only after sales contact" in half.output
    assert "lead_source: no sign-off" not in half.output
    assert "--allow-after-contact (--allow-unreviewed does not admit it)" in half.output

    leadml("train", "--config", config, "--allow-unreviewed", "--allow-after-contact")
    from leadml.registry import resolve
    from leadml.tracking import client

    run = client().get_run(resolve("lead-qualifier", "challenger").run_id)
    assert run.data.tags["reviewed"] == "false"
    assert run.data.tags["spec_hash"]
    result = leadml("promote", code=1)
    assert "FAIL  reviewed" in result.output


def test_leaky_column_is_reported_by_the_audit(mlflow_tmp, tmp_path, make_config, demo_frame):
    raw = yaml.safe_load(SPEC.read_text())
    leak = copy.deepcopy(raw["features"][-1])  # a reviewed boolean feature, renamed
    leak.update(name="meeting_booked", description="A meeting was booked (sales-side field).")
    leak.pop("direction", None)
    raw["features"].append(leak)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw))
    data = tmp_path / "leads.parquet"
    demo_frame.to_parquet(data)
    config = make_config(data, spec=str(spec))
    result = leadml("train", "--config", config, "--no-register")
    assert "suspected leak: meeting_booked" in result.output


def test_too_few_outcomes_and_bad_data_are_clear(mlflow_tmp, tmp_path, make_config, demo_frame):
    small = tmp_path / "small.csv"
    demo_frame.head(600).to_csv(small, index=False)
    result = leadml("train", "--config", make_config(small), code=2)
    assert "sales-ready lead(s)" in result.output and "at least 100" in result.output

    broken = demo_frame.head(2000).drop(columns=["industry"])
    broken_path = tmp_path / "broken.csv"
    broken.to_csv(broken_path, index=False)
    result = leadml("train", "--config", make_config(broken_path), code=2)
    assert "lacks 1 column(s) the spec needs: industry" in result.output

    result = leadml(
        "predict", "--model", "champion", "--data", small, "--out", tmp_path / "x.csv", code=2
    )
    assert "no model 'lead-qualifier' alias 'champion'" in result.output


def test_rules_score_and_features_commands(tmp_path, demo_leads):
    out = tmp_path / "rules.csv"
    result = leadml("rules", "score", "--data", demo_leads, "--out", out)
    assert "sales-ready by the rules" in result.output
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["lead_id", "rules_points", "rules_fired", "rules_sales_ready"]
    assert len(scored) == 30000

    leadml("features", "check", SPEC)
    raw = yaml.safe_load(SPEC.read_text())
    raw["features"][0]["review"].pop("marketing")
    unsigned = tmp_path / "unsigned.yaml"
    unsigned.write_text(yaml.safe_dump(raw))
    result = leadml("features", "check", unsigned, code=1)
    assert "lead_source: no sign-off from marketing" in result.output

    diff = leadml("features", "diff", SPEC, unsigned, code=1)  # 1: the files differ
    assert "~ feature lead_source: review" in diff.output


def test_undated_spec_needs_capacity_as_a_share(mlflow_tmp, make_config):
    bank = make_config(
        "datasets/bank-marketing/bank-full.csv.gz",
        spec=str(SPEC.parent / "bank_features.yaml"),
        rules=str(SPEC.parent / "bank_rules.yaml"),
    )
    result = leadml("train", "--config", bank, "--no-register", code=2)
    assert "give the sales capacity as capacity.share" in result.output


def test_bad_lightgbm_parameter_is_a_config_error(mlflow_tmp, make_config, demo_leads):
    config = make_config(demo_leads, model={"params": {"num_leaves": -4}})
    result = leadml("train", "--config", config, "--no-register", code=2)
    assert "model.params: LightGBM refused the parameters" in result.output
