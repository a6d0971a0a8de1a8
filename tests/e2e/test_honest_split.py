"""Splitting honestly, end to end: a newest-first export without dates is refused until the
config says what orders it, and then trains oldest first (on the Dask engine too); capacity that
covers every lead is said; `evaluate` and `compare` say which leads the model has seen and can
leave them out; `train --test-out` writes the leads it never saw."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadml.cli import app

from ..conftest import SPEC, write_config

pytestmark = pytest.mark.slow
runner = CliRunner()
LEADS = 12_000


def leadml(*args, code: int = 0) -> str:
    """What the command printed, on stdout and stderr."""
    result = runner.invoke(app, [str(a) for a in args])
    output = result.output
    assert result.exit_code == code, f"exit {result.exit_code}: {output}"
    return output


@pytest.fixture(scope="module")
def export(demo_frame, tmp_path_factory):
    """12,000 demo leads as a CRM might export them: numbered by creation (`lead_number`), no
    date column, newest first; and a spec that reads them (id lead_number, no timestamp)."""
    folder = tmp_path_factory.mktemp("export")
    frame = demo_frame.head(LEADS).copy()  # the generator writes them oldest first
    frame.insert(0, "lead_number", np.arange(1, LEADS + 1))
    frame = frame.drop(columns=["lead_id", "created_at"]).iloc[::-1]
    path = folder / "export.csv"
    frame.to_csv(path, index=False)
    spec = yaml.safe_load(SPEC.read_text())
    spec.update(lead_id="lead_number", timestamp=None)
    spec_path = folder / "export_features.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    return path, spec_path


def _config(tmp_path, export, **overrides):
    path, spec = export
    overrides.setdefault("capacity", {"share": 0.1})
    return write_config(tmp_path, path, spec=str(spec), **overrides)


def test_a_newest_first_export_without_dates_is_refused_with_the_fixes(tmp_path, export):
    result = leadml("train", "--config", _config(tmp_path, export), "--no-register", code=2)
    text = " ".join(result.split())
    assert "split.method: time needs an order" in text and "has no timestamp" in text
    for fix in ("`timestamp:`", "split.order_by: COLUMN", "split.order_by: file_order"):
        assert fix in text
    assert "split.method: random" in text


def _train(config_path):
    from leadml.spec.config import load_config
    from leadml.training.pipeline import train

    said: list[str] = []
    return train(load_config(config_path), say=said.append), said


def test_ordered_by_lead_number_the_oldest_train_and_the_card_says_so(tmp_path, export):
    from leadml.training.card import write_model_card

    result, said = _train(_config(tmp_path, export, split={"order_by": "lead_number"}))
    try:
        test = result.test.frame["lead_number"].astype(int)
        n_test = len(test)
        assert sorted(test) == list(range(LEADS - n_test + 1, LEADS + 1))  # the newest leads
        words = "time split by lead_number (split.order_by): lowest lead_number trains"
        assert f"Windows: {words}, next calibrates, highest tests" in said
        card = write_model_card(result, tmp_path / "card").read_text()
        assert f"## Windows ({words}" in card
        summary = json.loads((result.artifacts / "summary.json").read_text())
        assert summary["split_order"] == {"kind": "column", "column": "lead_number"}
        assert "lowest lead_number trains" in (result.artifacts / "compare.html").read_text()
        assert result.metrics["test_capacity_binds"] == 1.0  # a share of 10% binds
        assert not [s for s in said if s.startswith("capacity does not bind")]
    finally:
        shutil.rmtree(result.artifacts, ignore_errors=True)


def test_file_order_is_trusted_as_declared_and_said(tmp_path, export):
    """The config declares the file oldest first (it is not): the split follows the file, and
    the card says whose word it took."""
    from leadml.training.card import write_model_card

    result, _ = _train(_config(tmp_path, export, split={"order_by": "file_order"}))
    try:
        test = result.test.frame["lead_number"].astype(int)
        assert test.max() == len(test)  # the file's last rows: its oldest leads
        card = write_model_card(result, tmp_path / "card").read_text()
        assert "time split by the file's row order (declared in the config" in card
    finally:
        shutil.rmtree(result.artifacts, ignore_errors=True)


def test_the_dask_engine_splits_by_the_same_order(tmp_path, export):
    from distributed import Client

    from leadml.cluster.training import load_training
    from leadml.spec import load_spec
    from leadml.spec.config import load_config
    from leadml.training.engine import load_local

    path, spec_path = export
    parts = tmp_path / "parts"
    parts.mkdir()
    frame = pd.read_csv(path)
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[chunk].to_parquet(parts / f"part-{i:05d}.parquet", index=False)
    spec = load_spec(spec_path)
    ordered = load_config(_config(tmp_path, export, split={"order_by": "lead_number"}))
    unordered = load_config(_config(tmp_path, export))
    with Client(processes=False, n_workers=1, threads_per_worker=1) as client:
        spread = load_training(client, str(parts), spec, ordered, lambda _: None)
        with pytest.raises(Exception, match="needs an order"):
            load_training(client, str(parts), spec, unordered, lambda _: None)
    local = load_local(str(parts), None, spec, ordered, lambda _: None)
    pd.testing.assert_frame_equal(spread.test.frame, local.test.frame)
    assert spread.test.frame["lead_number"].astype(int).min() > LEADS * 0.8
    for a, b in zip(
        (spread.calibration.trained.train, spread.calibration.trained.calibration),
        (local.calibration.trained.train, local.calibration.trained.calibration),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_capacity_that_covers_every_lead_is_said_and_recorded(tmp_path, demo_leads):
    from leadml.spec.config import load_config
    from leadml.training.card import write_model_card
    from leadml.training.pipeline import train

    config = load_config(write_config(tmp_path, demo_leads, capacity={"leads_per_week": 100_000}))
    said: list[str] = []
    result = train(config, say=said.append)
    try:
        notes = [s for s in said if s.startswith("capacity does not bind:")]
        assert len(notes) == 2, said  # the test window, and the calibration window's threshold
        assert "sales can work 100,000 leads a week, against about" in notes[0]
        assert "test_capacity_binds = 0" in notes[0]
        assert "the sales-ready threshold derived there is" in notes[1]
        m = result.metrics
        assert m["test_capacity_binds"] == 0.0 and m["test_worked_share"] == 1.0
        assert m["test_model_recall_at_capacity"] == m["test_rules_recall_at_capacity"] == 1.0
        card = write_model_card(result, tmp_path / "card").read_text()
        assert "| share of sales-ready found (not informative) |" in card
        assert "Sales capacity does not bind on the test window" in card
    finally:
        shutil.rmtree(result.artifacts, ignore_errors=True)


def test_test_out_is_checked_before_training(mlflow_tmp, tmp_path, export):
    config = _config(tmp_path, export, split={"order_by": "lead_number"})
    taken = tmp_path / "taken.csv"
    taken.write_text("x\n")
    result = leadml("train", "--config", config, "--test-out", taken, code=2)
    assert "--test-out" in result and "exists; add --force" in result
    result = leadml("train", "--config", config, "--test-out", export[0], "--force", code=2)
    assert "is the data being read" in result
    assert not (tmp_path / "models").exists()  # refused before any training


def test_evaluate_and_compare_say_what_the_model_has_seen(mlflow_tmp, tmp_path, export):
    """Train with --test-out, then measure on the test window's file, on the whole export
    (said to be mostly in-sample) and on the whole export without the leads it has seen."""
    path, spec = export
    config = _config(tmp_path, export, split={"order_by": "lead_number"})
    test_out = tmp_path / "test_window.csv"
    result = leadml("train", "--config", config, "--test-out", test_out)
    assert f"-> {test_out}" in result
    test_leads = pd.read_csv(test_out)
    assert test_leads["lead_number"].min() > LEADS * 0.8  # the newest leads

    held_out = leadml("evaluate", "--model", "challenger", "--data", test_out)
    assert "trained on" not in held_out
    whole = leadml("evaluate", "--model", "challenger", "--data", path)
    seen = LEADS - len(test_leads) - _open_leads(path, spec)
    text = " ".join(whole.split())
    assert f"{seen:,} of the {seen + len(test_leads):,} leads in {path}" in text
    assert "matched by lead id (lead_number)" in text and "--exclude-trained" in text
    unseen = leadml("evaluate", "--model", "challenger", "--data", path, "--exclude-trained")
    assert f"Left out {seen:,} lead(s)" in unseen
    # the same leads, the same numbers (those that do not depend on how ties are ordered)
    assert len(_table(held_out)) == 4 and _table(unseen) == _table(held_out)
    assert _table(whole) != _table(held_out)
    assert f"({len(test_leads):,} leads)" in unseen

    page = tmp_path / "review.html"
    result = leadml(
        "compare",
        "--model",
        "challenger",
        "--data",
        path,
        "--out",
        page,
        "--exclude-trained",
        "--capacity",
        "100000",
    )
    text = " ".join(result.split())
    assert "capacity does not bind" in text and "--capacity" in text
    html = page.read_text()
    assert "Left out: " in html and "lowest lead_number trains" in html
    assert "But capacity does not bind here" in html
    assert len(pd.read_csv(page.with_suffix(".csv"))) == len(test_leads)


def _open_leads(path, spec_path) -> int:
    """Leads whose outcome is still open (excluded from training and from evaluation)."""
    from leadml.data import check_leads
    from leadml.spec import load_spec

    checked = check_leads(pd.read_csv(path), load_spec(spec_path), require_label=True)
    return sum(checked.excluded.values())


def _table(output: str) -> list[str]:
    """The rows of `leadml evaluate`'s table that do not depend on the leads' order (which
    breaks ties in the rules' points: binning and picks at capacity)."""
    rows = ("ROC AUC", "PR AUC", "log loss", "Brier score")
    return [line for line in output.splitlines() if line.startswith(tuple(f"│ {r} " for r in rows))]
