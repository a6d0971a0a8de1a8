"""The Dask engine on a local cluster started here: the same scores as the pandas engine, a
model that passes the same checks, and bad partitions named with nothing left behind."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadml import synth
from leadml.cli import app
from leadml.data import partition_files
from leadml.scorelog import ScoreLog
from tests.conftest import SPEC, environ, write_config

pytestmark = pytest.mark.slow  # starts Dask clusters and uses the trained `registry`

runner = CliRunner()


@pytest.fixture(scope="module")
def client():
    """Two workers configured as `--engine dask` configures its own cluster."""
    from distributed import Client

    from leadml.cluster import local_cluster

    with local_cluster(n_workers=2) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """The session's 30,000 demo leads (same seed) as three Parquet parts."""
    path = tmp_path_factory.mktemp("parts") / "leads"
    synth.write_partitioned(30_000, seed=11, out=path, partition_rows=10_000)
    return path


def _predict(registry: str, *args: str, log: str | None = None):
    """`leadml predict`, recording to the score log `log` (default: the registry's)."""
    with environ(MLFLOW_TRACKING_URI=registry, LEADML_SCORE_LOG=log):
        return runner.invoke(app, ["predict", *args])


def _predict_dask(registry: str, client, data, out, *args: str, log: str | None = None):
    """`leadml predict --engine dask` on the test's cluster."""
    address = client.scheduler.address
    engine = ["--engine", "dask", "--scheduler", address]
    return _predict(registry, "--data", str(data), "--out", str(out), *engine, *args, log=log)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def test_synth_writes_the_same_leads_as_parts(parts, demo_frame):
    names = sorted(p.name for p in parts.iterdir())
    assert names == ["_leadml.json", *(f"part-{i:05d}.parquet" for i in range(3))]
    assert [len(pd.read_parquet(parts / n)) for n in names[1:]] == [10_000] * 3
    pd.testing.assert_frame_equal(pd.read_parquet(parts), demo_frame)


@pytest.mark.parametrize("reasons", ["0", "3"])
def test_predict_equals_pandas_row_for_row(registry, parts, client, tmp_path, reasons):
    """And both record the same scores in the score log (the workers write their partitions)."""
    dask_out, pandas_out = tmp_path / "scores", tmp_path / "scores.parquet"
    dask_log, pandas_log = (f"sqlite:///{tmp_path / n}.db" for n in ("dask", "pandas"))
    result = _predict_dask(registry, client, parts, dask_out, "--reasons", reasons, log=dask_log)
    assert result.exit_code == 0, result.output
    assert "Scored 30,000 leads" in result.output and "3 Parquet part(s)" in result.output
    assert "Recorded 30,000 scores in the score log" in result.output
    result = _predict(
        registry,
        "--data",
        str(parts),
        "--reasons",
        reasons,
        "--out",
        str(pandas_out),
        log=pandas_log,
    )
    assert result.exit_code == 0, result.output
    got, want = pd.read_parquet(dask_out), pd.read_parquet(pandas_out)
    assert len(got) == 30_000 and got["probability"].between(0, 1).all()
    pd.testing.assert_frame_equal(got, want)
    assert (dask_out / "_leadml.json").exists() and _leftovers(tmp_path) == []
    logged = [ScoreLog(url).read_scores().sort_values("lead_id") for url in (dask_log, pandas_log)]
    columns = ["lead_id", "probability", "band", "features", "reasons", "rules_points"]
    pd.testing.assert_frame_equal(
        logged[0][columns].reset_index(drop=True), logged[1][columns].reset_index(drop=True)
    )
    assert logged[0]["job"].nunique() == 1 and logged[0]["job"].iloc[0].startswith("predict-")


def test_predict_reads_a_glob_of_csv_files(registry, parts, client, tmp_path):
    csv = tmp_path / "csv"
    csv.mkdir()
    for i, part in enumerate(sorted(parts.glob("part-*.parquet"))):
        pd.read_parquet(part).to_csv(csv / f"leads-{i}.csv", index=False)
    glob = str(csv / "leads-*.csv")
    result = _predict_dask(registry, client, glob, str(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    result = _predict(registry, "--data", glob, "--out", str(tmp_path / "p.parquet"))
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "d"), pd.read_parquet(tmp_path / "p.parquet")
    )


def _copy_parts(parts: Path, dest: Path) -> Path:
    shutil.copytree(parts, dest)
    (dest / "_leadml.json").unlink()
    return dest


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (
            lambda f: f.assign(web_visits=f["web_visits"].astype(str).where(f.index != 4, "lots")),
            "web_visits",
        ),
        (lambda f: f.drop(columns=["industry"]), "industry"),
    ],
    ids=["wrong-type", "missing-column"],
)
def test_bad_partition_stops_the_job_naming_the_file(
    registry, parts, client, tmp_path, damage, named
):
    data = _copy_parts(parts, tmp_path / "in")
    bad = data / "part-00001.parquet"
    damage(pd.read_parquet(bad)).to_parquet(bad, index=False)
    out = tmp_path / "scores"
    result = _predict_dask(registry, client, str(data), str(out))
    assert result.exit_code == 2, result.output
    assert "part-00001.parquet" in result.output and named in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and _leftovers(tmp_path) == []


def test_a_lead_in_two_partitions_is_refused(registry, parts, client, tmp_path):
    """Nothing is published, and the workers' rows in the score log are removed."""
    data = _copy_parts(parts, tmp_path / "in")
    shutil.copy(data / "part-00000.parquet", data / "part-00003.parquet")
    out = tmp_path / "scores"
    log = f"sqlite:///{tmp_path / 'scores.db'}"
    result = _predict_dask(registry, client, str(data), str(out), log=log)
    assert result.exit_code == 2, result.output
    assert ScoreLog(log).count_scores() == 0
    given_up = pd.read_sql("SELECT job FROM discarded_jobs", log)["job"].tolist()
    assert len(given_up) == 1 and given_up[0].startswith("predict-")  # a late task writes none
    assert "10,000 lead id(s) occur more than once" in result.output
    assert "part-00000.parquet" in result.output and "part-00003.parquet" in result.output
    assert not out.exists() and _leftovers(tmp_path) == []


def test_output_replaces_an_earlier_output_but_no_other_folder(registry, parts, client, tmp_path):
    out = tmp_path / "scores"
    for _ in range(2):  # the second run replaces the first
        result = _predict_dask(registry, client, str(parts), str(out))
        assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == 30_000 and _leftovers(tmp_path) == []
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    result = _predict_dask(registry, client, str(parts), str(precious))
    assert result.exit_code == 2 and "is not a leadml output folder" in result.output
    assert (precious / "notes.txt").read_text() == "keep me"


def test_a_worker_that_dies_mid_job_is_replaced(registry, parts, client, tmp_path):
    """Dask reruns the partitions a dead worker held; the output is still complete and equal."""
    from leadml.cluster import score_partitions
    from leadml.registry import load_lead_model

    with environ(MLFLOW_TRACKING_URI=registry):
        model, _ = load_lead_model("lead-qualifier", "champion")
    killed: list[str] = []

    def kill_a_busy_worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.01)

    before = set(client.scheduler_info(n_workers=-1)["workers"])
    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    summary = score_partitions(model, str(parts), tmp_path / "scores", client, reasons=3)
    killer.join()
    assert killed and killed[0] in before
    client.wait_for_workers(2, timeout=60)
    assert killed[0] not in client.scheduler_info(n_workers=-1)["workers"]
    assert summary.rows == 30_000
    want = model.score(pd.read_parquet(parts), reasons=3)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "scores"), want)


def test_dask_training_passes_the_pandas_checks_on_the_same_windows(parts, client, tmp_path):
    from leadml.config import load_config
    from leadml.train import train

    config = load_config(write_config(tmp_path, parts))
    local = train(config)
    spread = train(config, client=client)
    try:
        # the same leads in the same windows, the same audit, content hash and categories
        assert spread.windows == local.windows
        assert spread.lead_model.info["data"] == local.lead_model.info["data"]
        assert spread.lead_model.info["seen_categories"] == local.lead_model.info["seen_categories"]
        pd.testing.assert_frame_equal(spread.test.frame, local.test.frame)
        pd.testing.assert_frame_equal(spread.audit, local.audit)
        assert spread.lead_model.info["engine"] == "dask"
        # a model as good as the pandas one on the same test window
        m, p = spread.metrics, local.metrics
        assert m["test_model_roc_auc"] >= 0.99 * p["test_model_roc_auc"]
        assert m["test_model_log_loss"] <= 1.02 * p["test_model_log_loss"]
        assert m["test_model_ece"] <= config.gates.max_ece
        assert m["test_model_log_loss"] < m["test_rules_log_loss"]
        trees = spread.lead_model.scorer.best_iteration_
        assert 0 < trees < config.model.num_boost_round  # early stopping stopped it
    finally:
        for r in (local, spread):
            shutil.rmtree(r.artifacts, ignore_errors=True)


def test_cli_trains_on_the_cluster_and_registers(parts, client, mlflow_tmp, tmp_path):
    from leadml.tracking import client as mlflow_client

    config = write_config(tmp_path, parts)
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(config),
            "--engine",
            "dask",
            "--scheduler",
            client.scheduler.address,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Registered lead-qualifier version 1" in result.output
    version = mlflow_client().get_model_version_by_alias("lead-qualifier", "challenger")
    assert version.tags["engine"] == "dask"
    result = runner.invoke(app, ["promote"])
    assert result.exit_code == 0, result.output
    champion = mlflow_client().get_model_version_by_alias("lead-qualifier", "champion")
    assert str(champion.version) == "1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "--scheduler", "tcp://127.0.0.1:9"], "--scheduler needs --engine dask"),
        (["train", "--scheduler", "tcp://127.0.0.1:9"], "--scheduler needs --engine dask"),
        (["predict", "--engine", "dask", "--query", "select 1"], "not database queries"),
        (["train", "--engine", "dask", "--query", "select 1"], "not database queries"),
    ],
)
def test_engine_options_that_do_not_fit_are_refused(args, message):
    extra = ["--data", "leads/", "--out", "scores/"] if args[0] == "predict" else []
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 2 and message in result.output


def test_without_an_id_column_leads_are_numbered_as_one_table(registry, parts, client, tmp_path):
    """A spec without lead ids numbers leads by row: across partitions as in one table."""
    from leadml.cluster import score_partitions
    from leadml.registry import load_lead_model

    with environ(MLFLOW_TRACKING_URI=registry):
        model, _ = load_lead_model("lead-qualifier", "champion")
    model.scorer.spec = model.spec.model_copy(update={"lead_id": None})
    data = _copy_parts(parts, tmp_path / "in")
    pd.read_parquet(data / "part-00001.parquet").head(0).to_parquet(data / "part-00001a.parquet")
    score_partitions(model, str(data), tmp_path / "scores", client, reasons=0)
    got = pd.read_parquet(tmp_path / "scores")
    want = model.score(pd.read_parquet(parts), reasons=0)
    assert got["lead_id"].tolist()[:2] == ["1", "2"] and got["lead_id"].iloc[-1] == "30000"
    pd.testing.assert_frame_equal(got, want)


def test_out_may_not_overlap_the_data(registry, parts, client, tmp_path):
    data = _copy_parts(parts, tmp_path / "in")
    for out in (data, data / "scores", tmp_path / "scores.parquet"):
        result = _predict_dask(registry, client, data, out)
        assert result.exit_code == 2, result.output
    assert len(partition_files(data)) == 3


def test_dask_training_without_ids_and_with_an_empty_part(parts, client, tmp_path):
    """Training numbers id-less leads as one table does, skips an empty partition, and keeps
    the best trees when early stopping never ran out of patience."""
    import yaml

    from leadml.config import load_config
    from leadml.train import train

    spec = yaml.safe_load(SPEC.read_text())
    spec["lead_id"] = None
    spec_path = tmp_path / "no_ids.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    data = _copy_parts(parts, tmp_path / "in")
    pd.read_parquet(data / "part-00001.parquet").head(0).to_parquet(data / "part-00001a.parquet")
    rounds = {"num_boost_round": 40, "early_stopping_rounds": 100}
    config = load_config(write_config(tmp_path, data, spec=str(spec_path), model=rounds))
    local, spread = train(config), train(config, client=client)
    try:
        assert spread.lead_model.info["data"] == local.lead_model.info["data"]
        pd.testing.assert_frame_equal(spread.test.frame, local.test.frame)
        booster = spread.lead_model.scorer.booster_
        assert 0 < booster.best_iteration <= 40
        assert spread.lead_model.scorer.best_iteration_ == booster.best_iteration
    finally:
        for r in (local, spread):
            shutil.rmtree(r.artifacts, ignore_errors=True)


def _worker_settings() -> dict:
    from leadml.cluster import _memory_settings

    return {**_memory_settings(), "omp_wait": os.environ.get("OMP_WAIT_POLICY")}


def test_the_local_cluster_runs_workers_with_the_fast_settings():
    """`leadml ... --engine dask` without --scheduler: one single-threaded worker per core, on
    Arrow's system allocator, without the nanny's malloc trimming (both slow scoring down)."""
    from leadml.cluster import connect

    said = []
    with connect(say=said.append) as c:
        info = c.scheduler_info(n_workers=-1)["workers"]
        settings = list(c.run(_worker_settings).values())
    assert len(info) == (os.cpu_count() or 1)
    assert all(w["nthreads"] == 1 for w in info.values())
    assert settings and all(
        s["arrow"] == "system" and s["trim"] is None and s["omp_wait"] == "PASSIVE"
        for s in settings
    ), settings
    assert len(said) == 1 and said[0].startswith("Dask: local cluster"), said  # no slow note


def test_workers_that_would_score_slowly_are_named():
    """A scheduler whose workers trim memory and keep Arrow's default pool (Dask's defaults):
    connecting says so and points to the README."""
    from distributed import LocalCluster

    from leadml.cluster import connect

    saved = dict(os.environ)
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "mimalloc"
    try:
        with LocalCluster(
            n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster:
            said = []
            with connect(cluster.scheduler_address, say=said.append):
                pass
    finally:  # a nanny writes its settings into this process's environment
        os.environ.clear()
        os.environ.update(saved)
    assert len(said) == 2, said
    assert "1 of 1 worker(s) run with MALLOC_TRIM_THRESHOLD_ set" in said[1]
    assert "1 of 1 use Arrow's mimalloc pool" in said[1] and "Your own cluster" in said[1]
