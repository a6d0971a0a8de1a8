"""Promotion gates against real training runs in MLflow (SQLite in tmp_path): each line shows the
observed comparison; a suspected leak fails unless both teams reviewed it; capacity that does not
bind fails the recall gate; the champion comparison says when the champion saw the test leads;
the run records the data it read, and each registered version keeps its own model card."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import mlflow.artifacts
import pytest
import yaml
from typer.testing import CliRunner

from leadml.cli import app
from leadml.registry import OVERLAP_TAG, client, move_alias, promote
from leadml.registry.leaks import leak_gates, leak_record
from leadml.registry.tracking import log_training
from leadml.spec.config import load_config
from leadml.spec.features import load_spec
from leadml.training.pipeline import train

from ..conftest import SPEC

pytestmark = pytest.mark.slow
LEADS, OLDER = 12_000, 8_000
NAME = "lead-qualifier"
BOUND = 0.85


def _spec(folder, review=None):
    """The demo spec with a leaky `meeting_booked` (a sales-side field, signed like the others),
    reviewed for leakage by both teams when `review` is given."""
    raw = yaml.safe_load(SPEC.read_text())
    leak = copy.deepcopy(raw["features"][-1])
    leak.update(name="meeting_booked", description="A meeting was booked (sales-side field).")
    leak.pop("direction", None)
    if review is not None:
        leak["leak_reviewed"] = review
    raw["features"].append(leak)
    path = folder / ("reviewed.yaml" if review else "leaky.yaml")
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def files(demo_frame, tmp_path_factory):
    """12,000 demo leads (oldest first), their oldest 8,000, and the two specs."""
    folder = tmp_path_factory.mktemp("gates")
    full, older = folder / "leads.parquet", folder / "older.parquet"
    demo_frame.head(LEADS).to_parquet(full)
    demo_frame.head(OLDER).to_parquet(older)
    review = {"by": {"sales": "Sam", "marketing": "Mia"}, "when": "2026-11-01", "auc": 1.0}
    return {"full": full, "older": older, "leaky": _spec(folder), "reviewed": _spec(folder, review)}


def _train_and_log(config_path, data=None):
    config = load_config(config_path)
    result = train(config, data=str(data) if data else None)
    run_id, version = log_training(result, config, str(config_path), data=str(data or "") or None)
    return result, run_id, version


def leadml(*args, code: int = 0) -> str:
    """What the command printed, on stdout and stderr."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    output = result.output
    assert result.exit_code == code, f"exit {result.exit_code}: {output}"
    return output


def _gates(results, name):
    return [(ok, detail) for gate, ok, detail in results if gate == name]


def _description(version: str) -> str:
    return client().get_model_version(NAME, version).description


def test_failing_gates_show_the_observed_comparison(mlflow_tmp, make_config, files):
    config = make_config(
        files["full"],
        spec=str(files["leaky"]),
        capacity={"leads_per_week": 100_000},
        gates={"max_ece": 0.001},
        checks={"leak_auc": BOUND},
    )
    _, _, version = _train_and_log(config)
    _, results = promote(NAME)
    lines = {gate: (ok, detail) for gate, ok, detail in results}

    ok, detail = lines["max_ece"]
    assert not ok and re.fullmatch(r"calibration error 0\.\d{4} > 0\.001", detail), detail
    ok, detail = lines["min_auc"]
    assert ok and re.fullmatch(r"AUC 0\.\d{4} >= 0\.7", detail), detail
    ok, detail = lines["beats_rules_log_loss"]
    assert re.fullmatch(rf"log loss \d\.\d{{4}} {'<' if ok else '>='} rules \d\.\d{{4}}", detail)

    # capacity covers every lead: recall at capacity is 1.0 for both and may not pass
    ok, detail = lines["beats_rules_recall"]
    assert not ok, detail
    assert re.search(
        r"capacity does not bind \(capacity 100000 leads/week >= \d+ leads/week", detail
    )
    assert "lower capacity.leads_per_week or compare on a share" in detail

    # the suspected leak is a gate: it names the feature, its AUC, the bound and the fix
    [(ok, detail)] = _gates(results, "leak_review")
    assert not ok
    assert re.match(rf"meeting_booked alone reaches AUC 0\.\d{{4}} > {BOUND} \(checks", detail)
    assert "no leak review" in detail and "leak_reviewed: {by: {sales: NAME" in detail
    assert str(files["leaky"]) in detail
    assert "champion" not in client().get_registered_model(NAME).aliases
    printed = leadml("promote", code=1)  # the CLI prints the registry's lines as they are
    assert f"FAIL  max_ece: {lines['max_ece'][1]}" in printed
    assert f"pass  min_auc: {lines['min_auc'][1]}" in printed

    card = _description(version)
    assert card.startswith("# Lead model card") and f"Registered version: {version};" in card
    logged = mlflow.artifacts.download_artifacts(
        run_id=client().get_model_version(NAME, version).run_id, artifact_path="model_card"
    )
    assert (Path(logged) / "README.md").read_text() == card


def test_reviewed_leak_passes_and_the_run_records_its_data_and_overlap(
    mlflow_tmp, make_config, files
):
    first = make_config(files["full"], spec=str(files["leaky"]), checks={"leak_auc": BOUND})
    _, _, champion = _train_and_log(first)
    move_alias(NAME, "champion", champion)

    # the same config's data overridden: the oldest 8,000 leads, so this test window lies
    # inside the champion's training window
    second = make_config(files["full"], spec=str(files["reviewed"]), checks={"leak_auc": BOUND})
    result, run_id, version = _train_and_log(second, data=files["older"])
    run = client().get_run(run_id)
    assert run.data.params["data.path"] == str(files["older"])
    used = result.lead_model.scorer.effective_params_  # what the booster trained with, logged
    assert used and all(run.data.params[f"lightgbm.{k}"] == str(v) for k, v in used.items())
    assert run.data.params["model.refitted"] == str(result.lead_model.scorer.refitted_)
    assert run.data.tags["data_source"] == str(files["older"])
    folder = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="config")
    logged = (Path(folder) / second.name).read_text()
    assert "overridden" in logged and str(files["older"]) in logged
    assert yaml.safe_load(logged)["data"]["path"] == str(files["older"])
    assert run.data.tags[OVERLAP_TAG].startswith("overlap: ")

    _, results = promote(NAME)
    [(ok, detail)] = _gates(results, "beats_champion")
    assert re.match(rf"log loss \d\.\d{{4}} {'<=' if ok else '>'} champion v{champion} ", detail)
    assert "(same leads); overlap: 1,200 of these 1,200 test leads are leads it trained" in detail

    [(ok, detail)] = _gates(results, "leak_review")
    assert ok, detail
    assert "reviewed by sales: Sam, marketing: Mia on 2026-11-01 at AUC 1.0000 >= " in detail

    # a review at a lower AUC than now observed needs a new review
    observed = float(result.audit.set_index("feature").auc["meeting_booked"])
    raw = yaml.safe_load(files["reviewed"].read_text())
    raw["features"][-1]["leak_reviewed"]["auc"] = round(observed - 0.02, 4)
    stale_path = files["reviewed"].parent / "stale.yaml"
    stale_path.write_text(yaml.safe_dump(raw))
    record = leak_record(result.audit, load_spec(stale_path), BOUND, str(stale_path))
    [(_, ok, detail)] = leak_gates(record)
    assert not ok and "review again" in detail and f"auc: {observed:.4f}" in detail

    # each version keeps its own card
    assert f"Registered version: {version};" in _description(version)
    assert f"Registered version: {champion};" in _description(champion)
