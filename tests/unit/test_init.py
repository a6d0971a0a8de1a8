"""`leadml init`: drafts of the spec, rules and training config from a team's own export, that
leadml's loaders accept, with every guess marked and what is left to do listed by `check`."""

from __future__ import annotations

import importlib
import os
import sqlite3

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadml.cli import app
from leadml.data import check_leads, read_leads
from leadml.data.draft import draft_from
from leadml.data.draft_files import rules_yaml, spec_yaml, training_yaml
from leadml.data.synth import write_messy
from leadml.errors import DataError
from leadml.evaluation.audit import single_feature_auc
from leadml.rules.definition import load_rules
from leadml.spec import load_spec
from leadml.spec.config import load_config

runner = CliRunner()
cli_app = importlib.import_module("leadml.cli.app")  # the module (`leadml.cli.app` is the app)


@pytest.fixture(autouse=True)
def in_a_folder(monkeypatch, tmp_path):
    """Each test runs in its own folder (`init` writes the project file leadml.yaml there)."""
    monkeypatch.chdir(tmp_path)


def leadml(*args):
    """Run leadml; (exit code, everything it printed)."""
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "CRM Export.csv"
    write_messy(3_000, seed=5, out=path)
    return path


@pytest.fixture(scope="module")
def drafted(export, tmp_path_factory):
    """The messy export through `leadml init`: (folder, spec, rules, config, printed)."""
    here = tmp_path_factory.mktemp("project")
    folder = here / "mine"
    cwd = os.getcwd()
    os.chdir(here)
    try:
        result = runner.invoke(app, ["init", "--data", str(export), "--out-dir", "mine"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    spec = load_spec(folder / "features.yaml")
    return (
        folder,
        spec,
        load_rules(folder / "rules.yaml", spec),
        load_config(folder / "training.yaml"),
        result.output,
    )


def test_the_messy_export_is_read_crlf_trailing_column_and_all(export):
    assert b"\r\n" in export.read_bytes()[:400]
    frame = read_leads(export)
    assert frame.columns[-1].startswith("Unnamed") and frame.iloc[:, -1].isna().all()
    numbers = frame["Lead Number"].astype(int)
    assert (np.diff(numbers) < 0).all()  # newest first
    assert "Select" in set(frame["Industry"]) and set(frame["Existing Customer"].dropna()) == {
        "Yes",
        "No",
    }


def test_init_drafts_files_leadml_loads(drafted):
    folder, spec, rules, config, printed = drafted
    assert spec.lead_id == "Prospect ID" and spec.timestamp is None  # the id, by its name
    assert spec.label.column == "Converted" and spec.label.positive == ["1"]
    assert config.split.method == "time" and config.split.order_by == "Lead Number"
    assert config.spec == str(folder / "features.yaml") and config.rules == str(
        folder / "rules.yaml"
    )
    assert config.capacity.share == 0.1  # no dates, no weeks
    assert len(rules.rules) == 1 and rules.rules[0].feature in spec.names
    assert "no timestamp; the time split is ordered by Lead Number" in printed
    assert cli_app.project_config(folder.parent) == folder.parent / "mine" / "training.yaml"
    assert "Wrote leadml.yaml: commands run here use mine/training.yaml" in printed
    raw = yaml.safe_load((folder / "training.yaml").read_text())
    assert "extends" not in raw and raw["data"]["path"].endswith("CRM Export.csv")


def test_init_names_columns_kinds_placeholders_and_leaks(drafted):
    folder, spec, _, _, printed = drafted
    assert "prospect_id" not in spec.names and "unnamed_17" not in spec.names
    industry = spec.feature("industry")
    assert industry.column == "Industry" and industry.kind == "categorical"
    assert industry.missing_values == ["Select"] and "Select" not in industry.allowed
    assert spec.feature("lead_source").column == "Lead Source"
    assert spec.feature("lead_source").label == "Lead Source"
    assert spec.feature("existing_customer").kind == "boolean"  # Yes/No
    assert spec.feature("employees").kind == "numeric" and spec.feature("employees").range == (
        0,
        None,
    )
    assert "follow_up_cta" in spec.names and spec.feature("follow_up_cta").missing_values is None
    status = spec.feature("lead_status")
    assert status.column == "Lead Status" and status.known_at == "after_contact"
    text = (folder / "features.yaml").read_text()
    assert (
        "SUSPECTED LEAK (Lead Status): its name says it is known after contact; alone it predicts"
        in text
    )
    assert "second id" not in text  # Lead Number orders the split; Prospect ID is the id
    assert "'Unnamed: 17': empty in every lead" in text
    assert "suspected leak" in printed and "'Select' read as missing" in printed
    for f in spec.features:
        assert f.description.startswith("TODO") and f.owner == "TODO" and f.review == {}
        assert "# guessed: review" in text


def test_the_drafted_spec_checks_the_export_it_came_from(drafted, export):
    _, spec, _, _, _ = drafted
    checked = check_leads(read_leads(export), spec, require_label=True)
    assert (
        checked.frame["Industry"].isna().sum() == (read_leads(export)["Industry"] == "Select").sum()
    )
    assert len(checked.frame) == len(read_leads(export))


def test_features_check_lists_what_is_left(drafted):
    folder, spec, _, _, _ = drafted
    code, out = leadml(
        "features", "check", folder / "features.yaml", "--rules", folder / "rules.yaml"
    )
    assert code == 1
    for name in spec.names:
        assert f"{name}: description and owner still TODO; write them in" in out
        assert f"{name}: no sign-off from sales" in out
    assert "lead_status: known only after sales contact" in out
    assert "1 rule(s) still TODO (examples to replace): example_rule" in out


def test_init_refuses_to_overwrite_without_force(drafted, export, tmp_path):
    folder = drafted[0]
    before = (folder / "features.yaml").read_text()
    code, out = leadml("init", "--data", export, "--out-dir", folder)
    assert code == 2 and "features.yaml exists; add --force to overwrite it" in out
    (tmp_path / "leadml.yaml").write_text("config: other.yaml\n")
    code, out = leadml("init", "--data", export, "--out-dir", folder, "--force")
    assert code == 0, out
    assert "leadml.yaml exists and was left as it is" in out
    assert (tmp_path / "leadml.yaml").read_text() == "config: other.yaml\n"
    assert (folder / "features.yaml").read_text().splitlines()[2:] == before.splitlines()[2:]


def _dated(dates: list[str], n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "Lead ID": [f"L{i}" for i in range(n)],
            "Created": [dates[i % len(dates)] for i in range(n)],
            "Source": rng.choice(["web", "event", "N/A"], n),
            "Visits": rng.integers(0, 9, n).astype(str),
            "Won": rng.choice(["Won", "Lost"], n),
        }
    )


def _all(frame: pd.DataFrame, tmp_path) -> tuple:
    draft = draft_from(frame, "leads.csv", auc=single_feature_auc)
    texts = {
        "features.yaml": spec_yaml(draft),
        "rules.yaml": rules_yaml(draft, "features.yaml"),
        "training.yaml": training_yaml(draft, "t", "features.yaml", "rules.yaml"),
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    spec = load_spec(tmp_path / "features.yaml")
    load_rules(tmp_path / "rules.yaml", spec)
    return draft, spec, load_config(tmp_path / "training.yaml"), texts


def test_a_dated_export_gets_its_timestamp_id_and_words_for_the_label(tmp_path):
    days = [f"2025-0{m}-1{d} 09:30" for m in range(1, 8) for d in range(9)]
    _, spec, config, _ = _all(_dated(days), tmp_path)
    assert spec.timestamp == "Created" and spec.lead_id == "Lead ID"
    assert spec.label.positive == ["Won"] and spec.label.negative == ["Lost"]
    assert config.split.method == "time" and config.split.order_by is None
    assert config.capacity.leads_per_week is not None and config.capacity.share is None
    assert spec.feature("source").missing_values == ["N/A"]
    assert spec.feature("visits").kind == "numeric"


def test_day_first_dates_get_their_format_and_ambiguous_ones_a_todo(tmp_path):
    day_first = [f"{d}/0{m}/2025" for m in range(1, 8) for d in range(10, 28)]
    _, spec, _, _ = _all(_dated(day_first), tmp_path)
    assert spec.timestamp_format == "%d/%m/%Y"
    either = [f"0{d}/0{m}/2025" for m in range(1, 8) for d in range(1, 9)]
    _, spec, _, texts = _all(_dated(either), tmp_path)
    assert spec.timestamp_format is None
    assert "# TODO: dates such as '01/01/2025' read either way" in texts["features.yaml"]
    assert "'%d/%m/%Y' (day first) or '%m/%d/%Y' (month first)" in texts["features.yaml"]


def test_no_date_and_no_lead_number_means_a_random_split_said_why(tmp_path):
    frame = _dated(["2025-01-01"]).drop(columns=["Created"]).sample(frac=1, random_state=1)
    _, _, config, texts = _all(frame, tmp_path)
    assert config.split.method == "random" and config.split.order_by is None
    assert "no date column and no column of growing numbers" in texts["training.yaml"]


def test_a_phone_number_is_neither_the_id_nor_the_order_nor_a_feature(tmp_path):
    frame = _dated(["2025-01-01"]).drop(columns=["Created"])
    frame["Phone Number"] = np.random.default_rng(1).permutation(200) + 4_470_000_000
    _, spec, config, texts = _all(frame, tmp_path)
    assert spec.lead_id == "Lead ID" and config.split.method == "random"
    assert "phone_number" not in spec.names
    assert "'Phone Number': a different whole number per lead" in texts["features.yaml"]


def test_a_unique_count_named_without_an_id_word_stays_a_feature(tmp_path):
    frame = _dated(["2025-01-01"]).drop(columns=["Created"])
    frame["Number of Employees"] = np.random.default_rng(4).permutation(200) * 7 + 3
    _, spec, _, _ = _all(frame, tmp_path)
    assert spec.lead_id == "Lead ID" and spec.feature("number_of_employees").kind == "numeric"


def test_a_lead_number_out_of_row_order_orders_the_split_as_a_guess_to_confirm(tmp_path):
    frame = _dated(["2025-01-01"]).drop(columns=["Created"])
    frame["Lead No"] = np.random.default_rng(2).permutation(200) + 1_000  # the file sorted by name
    _, spec, config, texts = _all(frame, tmp_path)
    assert spec.lead_id == "Lead ID" and config.split.order_by == "Lead No"
    assert (
        "TODO: 'Lead No' is named like a lead number but its numbers do not follow"
        in (texts["training.yaml"])
    )
    assert "lead_no" not in spec.names  # the order is not a feature


def test_a_lead_number_in_order_orders_the_split_and_a_text_one_is_the_id(tmp_path):
    frame = _dated(["2025-01-01"]).drop(columns=["Created", "Lead ID"])
    frame["Lead Number"] = [f"L{i:05d}" for i in range(200)]  # text: an id, not an order
    frame["Record Seq"] = np.arange(500, 300, -1)  # newest first
    _, spec, config, texts = _all(frame, tmp_path)
    assert spec.lead_id == "Lead Number" and config.split.order_by == "Record Seq"
    assert "TODO" not in texts["training.yaml"].split("order_by:")[1].splitlines()[0]
    checked = check_leads(frame, spec, require_label=True, order_by="Record Seq")
    assert checked.frame["__order__"].tolist()[:2] == [500, 499]


def test_no_outcome_column_is_refused_with_the_fix(tmp_path):
    frame = _dated(["2025-01-01"]).rename(columns={"Won": "Result Text"})
    with pytest.raises(DataError, match=r"found no outcome column.*Result Text.*--label COLUMN"):
        draft_from(frame, "leads.csv")
    draft = draft_from(frame, "leads.csv", label="Result Text")
    assert draft.label == "Result Text" and draft.positive == ["Won"]


def test_init_reads_an_sql_query(tmp_path):
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        _dated(["2025-01-01 10:00", "2025-02-03 11:00"]).to_sql("leads", conn, index=False)
    code, out = leadml(
        "init",
        "--data",
        f"sqlite:///{db}",
        "--query",
        "select * from leads",
        "--out-dir",
        tmp_path / "p",
    )
    assert code == 0, out
    config = load_config(tmp_path / "p" / "training.yaml")
    assert config.data.query == "select * from leads" and config.data.path == f"sqlite:///{db}"


def test_init_then_sign_leaves_only_the_suspected_leak(drafted, tmp_path):
    spec_file = tmp_path / "features.yaml"
    text = (drafted[0] / "features.yaml").read_text()
    text = text.replace(
        'description: "TODO: what this means, in sales and marketing\'s words"',
        'description: "Written by the teams."',
    ).replace("owner: TODO", "owner: marketing")
    spec_file.write_text(text)
    for team, who in (("sales", "Rui"), ("marketing", "Ann")):
        code, out = leadml("features", "sign", spec_file, "--team", team, "--by", who, "--all")
        assert code == 0, out
    assert "# SUSPECTED LEAK (Lead Status)" in spec_file.read_text()  # comments kept
    code, out = leadml("features", "check", spec_file)
    assert code == 1
    assert "1 problem(s) block training:" in out
    assert "lead_status: known only after sales contact" in out


def test_a_strong_predictor_below_the_leak_bound_is_flagged_for_a_check():
    """A call's length (Bank Marketing's `duration`, AUC 0.81 alone) is known only after the
    call but stays under the leak bound: the draft keeps it and asks both teams to confirm."""
    rng = np.random.default_rng(3)
    y = rng.random(4_000) < 0.2
    frame = pd.DataFrame(
        {
            "Call Seconds": np.where(y, rng.normal(420, 150, y.size), rng.normal(230, 150, y.size)),
            "Age": rng.integers(18, 90, y.size),
            "subscribed": np.where(y, "yes", "no"),
        }
    )
    draft = draft_from(frame, "leads.csv", auc=single_feature_auc)
    by_name = {c.name: c for c in draft.features}
    strong, weak = by_name["call_seconds"], by_name["age"]
    assert 0.75 < strong.auc <= 0.9 and strong.known_at != "after_contact"
    assert "confirm its value is known before sales contact" in strong.check_why
    assert weak.check_why == ""
    assert "# CHECK (Call Seconds): alone it predicts" in spec_yaml(draft)
