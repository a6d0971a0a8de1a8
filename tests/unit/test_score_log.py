"""The score log on a real SQLite file and a real PostgreSQL server: Alembic makes its tables,
scores are appended in bulk and read back as written, outcomes are checked against the label
definition and recorded once each."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import inspect, text

from leadml.data import read_leads
from leadml.errors import ConfigError, DataError
from leadml.scorelog import ModelRef, ScoreBatch, ScoreLog, log_url
from leadml.scorelog.holdout import Holdout
from leadml.scorelog.outcomes import outcome_rows
from leadml.scorelog.rows import features_frame, logged_ids
from leadml.scorelog.schema import ROW_COLUMNS
from leadml.scorelog.store import ENV, MIGRATIONS, ScoreLogError, _head
from leadml.scoring.encoding import LeadEncoder

from ..conftest import ROOT, environ

PICKLED = ROOT / "tests" / "data" / "pickled_model"


@pytest.fixture(scope="module")
def scored():
    """A real lead model's scores of real leads: (model, checked leads, encoded, Scores, frame)."""
    model = pickle.loads((PICKLED / "lead_model.pkl").read_bytes())
    checked, _ = model.check(read_leads(PICKLED / "leads.csv"))
    X = LeadEncoder(model.spec).transform(checked.frame)
    s = model.score_encoded(X, reasons=3)
    return model, checked, X, s, model.scores_frame(checked, s)


def _batch(scored, reasons: bool = True, **kwargs) -> ScoreBatch:
    model, _, X, s, out = scored
    if not reasons:
        s = model.score_encoded(X, reasons=0)
    ref = ModelRef("lead-qualifier", "3", "champion")
    ids = out["lead_id"].astype(str).tolist()
    return ScoreBatch.of(model, ref, ids, X, s, job=kwargs.pop("job", "job-1"), **kwargs)


def test_open_makes_the_tables_by_migration_and_again_changes_nothing(log_url):
    log = ScoreLog.open(log_url)
    assert log.revision() == _head() == "0003"
    tables = set(inspect(log.engine).get_table_names())
    assert {"scores", "jobs", "discarded_jobs", "outcomes", "alembic_version"} <= tables
    ScoreLog.open(log_url)  # a second process starting: already at head
    assert log.count_scores() == 0


def _migrate(log: ScoreLog, revision: str, down: bool = False) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with log.engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_scores_logged_before_the_jobs_table_are_kept_by_its_migration(log_url, scored):
    """0002 moves what a job's rows share into `jobs`: every row, its id and values survive
    the way there and back, and new rows go on numbering after the old ones."""
    model, _, _, _, out = scored
    log = ScoreLog.open(log_url)
    when = datetime(2025, 11, 29, 10, 30, tzinfo=UTC)
    log.write_scores([_batch(scored, source="predict", scored_at=when)], model.spec)
    other = _batch(scored, source="api", job="api-2", scored_at=when + timedelta(days=1))
    other.model = ModelRef("lead-qualifier", "4", None)  # no alias: still its own job
    log.write_scores([other], model.spec)
    before = log.read_scores()
    _migrate(log, "0001", down=True)
    wide = pd.read_sql("SELECT * FROM scores ORDER BY id", log.engine)
    assert len(wide) == 2 * len(out) and "model_alias" in wide and "job_id" not in wide
    assert "jobs" not in inspect(log.engine).get_table_names()
    _migrate(log, "head")
    fresh = ScoreLog(log_url)  # knows no job rows
    pd.testing.assert_frame_equal(fresh.read_scores(), before)
    fresh.write_scores([_batch(scored, source="api", job="api-3")], model.spec)
    ids = fresh.read_scores(columns=["job"])
    assert ids["id"].is_unique and ids["id"].max() == before["id"].max() + len(out)


def test_scores_are_written_in_bulk_and_read_back_as_scored(log_url, scored):
    model, checked, _, _, out = scored
    log = ScoreLog.open(log_url)
    when = datetime(2025, 11, 29, 10, 30, 15, 123456, tzinfo=UTC)  # before the api rows
    holdout = np.arange(len(out)) % 7 == 0
    first_batch = _batch(scored, source="predict", holdout=holdout, scored_at=when)
    assert log.write_scores([first_batch], model.spec) == len(out)
    log.write_scores([_batch(scored, source="api")], model.spec)  # re-scored: rows are added
    back = log.read_scores()
    assert len(back) == 2 * len(out) == log.count_scores()
    first = back[back["source"] == "predict"].reset_index(drop=True)
    assert (first["scored_at"] == pd.Timestamp(when)).all()
    assert first["lead_id"].tolist() == out["lead_id"].astype(str).tolist()
    np.testing.assert_allclose(first["probability"], out["probability"], rtol=0, atol=0)
    assert first["band"].tolist() == out["band"].astype(str).tolist()
    assert first["holdout"].astype(bool).tolist() == holdout.tolist()
    assert first["rules_sales_ready"].astype(bool).tolist() == out["rules_sales_ready"].tolist()
    assert set(first["model_alias"]) == {"champion"} and set(first["model_version"]) == {"3"}
    assert set(first["spec_hash"]) == {model.spec.content_hash}
    # the features as scored, read back by the spec: what checking made of the leads
    features = features_frame(first["features"], model.spec)
    expected = checked.frame[[f.source for f in model.spec.features]].astype(object)
    for f in model.spec.features:
        got, want = features[f.source], expected[f.source]
        assert (got.isna() == want.isna()).all(), f.source
        known = want.notna()
        if f.kind == "categorical":
            assert (got[known] == want[known]).all(), f.source
        else:
            np.testing.assert_allclose(got[known].astype(float), want[known].astype(float))
    reasons = json.loads(first["reasons"].iloc[0])
    assert set(reasons) <= set(model.spec.names) and len(reasons) == 3
    later = log.read_scores(since=when + timedelta(microseconds=1))
    assert len(later) == len(out) and set(later["source"]) == {"api"}


def test_rows_beyond_one_statement_are_all_written_in_order(log_url, scored):
    """SQLite takes many rows a statement (at most 999 values each): whole statements and the
    rest; PostgreSQL one COPY."""
    model, _, X, _, out = scored
    many = np.vstack([X] * 5)  # 300 leads: more than three statements' rows
    ids = [f"{i}-{lead}" for i in range(5) for lead in out["lead_id"].astype(str)]
    s = model.score_encoded(many, reasons=3)
    batch = ScoreBatch.of(model, ModelRef("m", "1"), ids, many, s, source="predict", job="j")
    log = ScoreLog.open(log_url)
    assert log.write_scores([batch], model.spec) == len(ids) == 300
    back = log.read_scores(columns=["lead_id", "probability"])
    assert back["lead_id"].tolist() == ids
    np.testing.assert_allclose(back["probability"], s.probability, rtol=0, atol=0)


def test_scores_are_read_oldest_first_whatever_order_they_were_written_in(log_url, scored):
    model, *_, out = scored
    log = ScoreLog.open(log_url)
    later = datetime(2026, 11, 2, tzinfo=UTC)
    for when in (later, later - timedelta(days=1), later):  # a writer behind another
        log.write_scores([_batch(scored, source="api", scored_at=when)], model.spec)
    back = log.read_scores(columns=["lead_id"])
    n = len(out)
    assert (back["scored_at"].iloc[:n] == pd.Timestamp(later - timedelta(days=1))).all()
    assert back["scored_at"].is_monotonic_increasing
    assert back["id"].iloc[n:].is_monotonic_increasing and back["id"].iloc[0] == n + 1


def test_outcomes_are_checked_against_the_label_and_recorded_once(log_url, scored):
    model, *_, out = scored
    spec = model.spec
    log = ScoreLog.open(log_url)
    log.write_scores([_batch(scored, source="predict")], spec)
    first, second = out["lead_id"].iloc[0], out["lead_id"].iloc[1]
    yes, no = spec.label.positive[0], spec.label.negative[0]
    sent = pd.DataFrame(
        {
            "lead_id": [first, second, "never-scored", first],
            "outcome": [yes, no, yes, yes],
            "decided_at": [
                "2026-11-01T09:00:00Z",
                "",
                "2026-11-02T11:30:00+02:00",
                "2026-11-01T09:00:00Z",
            ],
        }
    )
    rows, still_open = outcome_rows(
        sent, spec, id_column="lead_id", value_column="outcome", decided_column="decided_at"
    )
    counts = log.record_outcomes(rows, "api", still_open)
    assert (counts.recorded, counts.unchanged, counts.unknown) == (3, 1, 1)
    assert counts.unknown_ids == ["never-scored"]
    again = log.record_outcomes(rows, "api")  # the same outcomes twice: one outcome each
    assert (again.recorded, again.unchanged) == (0, 4)
    changed, _ = outcome_rows(
        pd.DataFrame({"lead_id": [first], "outcome": [no]}),
        spec,
        id_column="lead_id",
        value_column="outcome",
    )
    assert log.record_outcomes(changed, "file").recorded == 1  # a changed outcome: a new row
    recorded = log.read_outcomes()
    mine = recorded[recorded["lead_id"] == first]
    assert mine["outcome"].tolist() == [1, 0] and mine["source"].tolist() == ["api", "file"]
    assert mine["decided_at"].iloc[0] == pd.Timestamp("2026-11-01T09:00:00Z")
    assert recorded["received_at"].notna().all()
    by_lead = recorded.drop_duplicates("lead_id").set_index("lead_id")["decided_at"]
    assert pd.isna(by_lead[second])  # not given: none recorded
    assert by_lead["never-scored"] == pd.Timestamp("2026-11-02T09:30:00Z")  # in UTC


def test_an_outcome_outside_the_label_definition_names_its_row(scored):
    spec = scored[0].spec
    sent = pd.DataFrame(
        {
            "id": ["L1", "", "L3"],
            "won": [spec.label.positive[0], "no", "maybe"],
            "when": ["x", "", ""],
        }
    )
    with pytest.raises(DataError) as refused:
        outcome_rows(sent, spec, id_column="id", value_column="won", decided_column="when")
    message = str(refused.value)
    assert "column 'id' has empty lead ids: row 2" in message
    assert "(label) has values outside the label definition" in message and "'maybe'" in message
    assert "column 'when' must hold ISO 8601 times" in message and "row 1 (lead L1): 'x'" in message
    with pytest.raises(DataError, match="the outcomes lack column"):
        outcome_rows(sent, spec, id_column="lead", value_column="won")
    sent.loc[0, "id"] = "L" * 300
    with pytest.raises(DataError) as refused:
        outcome_rows(sent, spec, id_column="id", value_column="won")
    assert "lead ids longer than the score log keeps (256 characters): row 1" in str(refused.value)


def test_a_lead_id_longer_than_the_log_keeps_is_named_before_it_is_written(scored):
    spec = scored[0].spec
    ids = pd.Series(["L1", "x" * 257, "L3"])
    with pytest.raises(DataError, match=r"lead 'xxxx.*\.\.\. \(257 characters\)"):
        logged_ids(spec, ids)
    assert logged_ids(spec, ids.iloc[[0, 2]]) == ["L1", "L3"]


def test_where_the_log_lives(tmp_path):
    with environ(**{ENV: None}):
        assert log_url(f"sqlite:///{tmp_path}/mlflow.db") == f"sqlite:///{tmp_path}/scores.db"
    with environ(**{ENV: "OFF"}):
        assert log_url() is None
    with environ(**{ENV: "postgresql://u:secret@db/leads"}):
        assert log_url() == "postgresql+psycopg://u:secret@db/leads"


def test_a_database_that_cannot_be_reached_is_named_without_its_password():
    log = ScoreLog("postgresql+psycopg://leadml:secret@127.0.0.1:9/none?connect_timeout=2")
    with pytest.raises(ScoreLogError) as failed:
        log.upgrade()
    assert "score log postgresql+psycopg://leadml:***@127.0.0.1:9/none" in str(failed.value)
    assert "secret" not in str(failed.value)


def test_rows_of_leads_scored_without_reasons(scored):
    model = scored[0]
    rows = _batch(scored, reasons=False, source="predict").rows(model.spec, 1)
    assert len(rows) == len(scored[4]) and {r[ROW_COLUMNS.index("reasons")] for r in rows} == {"{}"}
    assert not any(r[ROW_COLUMNS.index("holdout")] for r in rows)


def test_the_holdout_is_a_stable_salted_share_of_lead_ids():
    ids = [f"L{i}" for i in range(20_000)]
    five = Holdout(0.05, "ours")
    flags = five.flags(ids)
    assert 0.045 < flags.mean() < 0.055
    assert (five.flags(ids[::-1])[::-1] == flags).all()  # by the id alone, in any order
    assert (Holdout(0.05, "theirs").flags(ids) != flags).sum() > 1_000  # the salt moves it
    assert not Holdout().flags(ids).any()  # off by default
    with environ(LEADML_HOLDOUT="0.1", LEADML_HOLDOUT_SALT="s"):
        assert Holdout.from_env() == Holdout(0.1, "s")
    for bad in ("5%", "1.5", "-0.1"):
        with environ(LEADML_HOLDOUT=bad), pytest.raises(ConfigError, match="LEADML_HOLDOUT="):
            Holdout.from_env()


def test_the_writer_sets_aside_what_the_database_refuses_and_goes_on(log_url, scored, tmp_path):
    """A segment cut short and one the database refuses (a lead id over 256 characters on
    PostgreSQL; SQLite keeps it) never block the segments after them."""
    from leadml.scorelog.spool import SEGMENT, SET_ASIDE, _Writer

    model = scored[0]
    log = ScoreLog.open(log_url)
    spool = tmp_path / "spool"
    spool.mkdir()
    spec_json = model.spec.model_dump_json(by_alias=True)
    good = _batch(scored, source="api")
    (spool / f"0001{SEGMENT}").write_bytes(b"\x80\x05 cut short")
    (spool / f"0003{SEGMENT}").write_bytes(pickle.dumps({"spec": spec_json, "batches": [good]}))
    counted = []
    _Writer(log, spool, 2.0, lambda state, n: counted.append((state, n))).write_spool()
    assert log.count_scores() == len(good)
    assert [p.name for p in (spool / SET_ASIDE).iterdir()] == [f"0001{SEGMENT}"]
    assert not list(spool.glob(f"*{SEGMENT}")) and ("written", len(good)) in counted


def test_several_processes_opening_a_new_sqlite_log_at_once(tmp_path):
    """A service starting with several workers: every one opens the new log, one migrates."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'scores.db'}"
    code = f"from leadml.scorelog import ScoreLog; ScoreLog.open({url!r}); print('ok')"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    assert [p.communicate(timeout=120)[0].strip() for p in procs] == ["ok"] * 4
    assert ScoreLog(url).revision() == _head()


def test_a_malformed_url_is_named_without_its_password():
    with pytest.raises(ScoreLogError) as refused:
        ScoreLog("postgresql://leadml:hunter2@db:notaport/leads")
    assert "hunter2" not in str(refused.value) and "leadml:***@db" in str(refused.value)
    assert not refused.value.transient


def test_leads_named_by_row_number_are_logged_without_an_id_and_never_held_out(scored):
    from leadml.scorelog.rows import logged_ids

    spec = scored[0].spec
    rows = pd.Series(["1", "2", "3"])
    assert logged_ids(spec, rows) == ["1", "2", "3"]
    unnamed = spec.model_copy(update={"lead_id": None})
    assert logged_ids(unnamed, rows) == ["", "", ""]
    assert not Holdout(0.99).flags(["", "", ""]).any()


def test_a_job_recording_writes_its_parts_or_fails_naming_the_log(log_url, scored, tmp_path):
    """`leadml predict`'s recording: parts written by the writer process while the job goes on;
    a log that does not answer fails the job (its parts are not silently dropped)."""
    from leadml.scorelog.job import JobRecording

    model = scored[0]
    recording = JobRecording(log_url)
    for _ in range(3):
        recording.record(_batch(scored, source="predict", job="predict-1"), model.spec)
    assert recording.finish() == 3 * len(scored[4]) == ScoreLog(log_url).count_scores()

    down = JobRecording("postgresql+psycopg://leadml:secret@127.0.0.1:9/none", retry_after=0.2)
    down.record(_batch(scored, source="predict"), model.spec)
    with pytest.raises(ScoreLogError, match="the job's scores were not all written") as failed:
        down.finish()
    assert "secret" not in str(failed.value) and not down._folder.exists()


def test_a_job_row_removed_elsewhere_is_written_again_never_left_unnamed(log_url, scored):
    """A long-lived writer knows its job's row; once someone removes the job (its row and
    scores), its next scores name a new row rather than one that is gone."""
    model, *_ = scored
    writer, other = ScoreLog.open(log_url), ScoreLog(log_url)
    writer.write_scores([_batch(scored, source="api", job="api-9")], model.spec)
    with other.engine.begin() as conn:
        conn.execute(text("DELETE FROM scores"))
        conn.execute(text("DELETE FROM jobs"))
    writer.write_scores([_batch(scored, source="api", job="api-9")], model.spec)
    back = other.read_scores(columns=["job", "model_version"])
    assert len(back) == len(scored[4]) and set(back["job"]) == {"api-9"}
    assert set(back["model_version"]) == {"3"}


def test_a_job_given_up_takes_no_more_scores(log_url, scored):
    """A failed predict's job is discarded: its rows go, and a task still running (a process
    of its own, knowing the job's row or not) can write none afterwards; other jobs go on."""
    model, *_ = scored
    worker, late, predict = ScoreLog.open(log_url), ScoreLog(log_url), ScoreLog(log_url)
    worker.write_scores([_batch(scored, job="predict-7", source="predict")], model.spec)
    assert predict.discard_job("predict-7") == len(scored[4])
    for writer in (worker, late):
        with pytest.raises(ScoreLogError, match="job predict-7 was given up at") as refused:
            writer.write_scores([_batch(scored, job="predict-7", source="predict")], model.spec)
        assert not refused.value.transient  # the spool's writer sets the segment aside
    worker.write_scores([_batch(scored, job="predict-8", source="predict")], model.spec)
    back = predict.read_scores(columns=["job"])
    assert set(back["job"]) == {"predict-8"} and len(back) == len(scored[4])
    assert predict.discard_job("predict-7") == 0  # given up twice: nothing more to remove
    # rows of a job given up that could not be removed (a writer that never finished): never
    # read, whatever columns are asked for
    worker.write_scores([_batch(scored, job="predict-6", source="predict")], model.spec)
    with predict.engine.begin() as conn:
        conn.execute(text("INSERT INTO discarded_jobs VALUES ('predict-6', '2026-11-29')"))
    for columns in (None, ["lead_id"], ["job", "probability"]):
        assert set(predict.read_scores(columns=columns)["id"]) == set(back["id"])


def test_giving_up_a_job_waits_for_its_writing_transaction_and_removes_its_rows(log_url, scored):
    """A task committing its partition while the job is given up: the discard waits for it,
    then removes what it wrote."""
    import threading

    model, *_ = scored
    worker, predict = ScoreLog.open(log_url), ScoreLog(log_url)
    discarded: list[int] = []
    with worker.streaming(model.spec) as write:
        write(_batch(scored, job="predict-5", source="predict"))
        giving_up = threading.Thread(
            target=lambda: discarded.append(predict.discard_job("predict-5"))
        )
        giving_up.start()
        giving_up.join(1.0)
        assert giving_up.is_alive()  # waits for the writing transaction
    giving_up.join(30)
    assert discarded == [len(scored[4])] and predict.count_scores() == 0


def test_a_job_whose_writer_died_fails_naming_the_log(tmp_path, scored):
    """The writer process killed under a job: the job fails with the score log's error, not a
    broken pipe, and nothing of it is kept."""
    import os
    import signal

    from leadml.scorelog.job import JobRecording

    model = scored[0]
    url = f"sqlite:///{tmp_path / 'scores.db'}"
    recording = JobRecording(url)
    recording.record(_batch(scored, source="predict"), model.spec)
    os.kill(recording._recorder._writer.pid, signal.SIGKILL)
    recording._recorder._writer.wait()
    with pytest.raises(ScoreLogError, match="the job's scores were not all written"):
        recording.finish()
    assert not recording._folder.exists()
    again = JobRecording(url)  # and a part recorded once the writer is gone fails at once
    os.kill(again._recorder._writer.pid, signal.SIGKILL)
    again._recorder._writer.wait()
    with pytest.raises(ScoreLogError, match="the writer process stopped"):
        again.record(_batch(scored, source="predict"), model.spec)
