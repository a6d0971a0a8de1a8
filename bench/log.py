"""The score log's cost: the scoring API and `leadml predict` with the log off, on SQLite and on
PostgreSQL, measured in the same run.

API: three `leadml serve` processes up at once (log off, SQLite, PostgreSQL; one worker each),
driven by wrk (4 connections) in turn, three rounds: single leads and batches of 1,000, no
reasons. Ratios are of the medians. Target: with the log on, >= 0.9 x the requests/s with it off.
predict: 1,000,000 demo leads (Parquet parts), default 3 reasons, `leadml predict` with each
engine (pandas; Dask on a local cluster of one worker per core) and each log, each run twice
(the logs take turns); the time is the command's wall time minus its fixed cost (the same
command on 1,000 leads, log off). Target: recording adds at most 50% to the scoring time. The
same runs' CPU (the job's processes, its writer and Dask's workers included, and the PostgreSQL
server's) says what recording costs per score: where scoring alone keeps every core busy (Dask),
the wall-time ratio cannot be below the CPU ratio.
monitor: the last pandas run's logs (each the 1,000,000 scores), the leads' true outcomes
loaded with `leadml outcomes load`, then `leadml monitor --json` timed (the faster of two runs),
its fixed cost (the same command on a log of 1,000 scores) shown beside it. Target: <= 10 s
for 1M logged scores.
The model: bench/serve.py's cached demo model (.bench/serve/). PostgreSQL: Debian's server,
started in a temporary folder (`leadml.scorelog.local_postgres`).
Run: `.venv/bin/python bench/log.py` (about 15 minutes; `--quick`: 200,000 leads, 3 s per wrk
run). Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from serve import BIN, CACHE, KEY, prepare, server, wrk

ROOT = Path(__file__).resolve().parents[1]
LOG_CACHE = ROOT / ".bench" / "log"
API_MIN, PREDICT_MAX, MONITOR_MAX_S = 0.9, 1.5, 10.0


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def api(uri: str, leads: list[dict], logs: dict[str, str], seconds: int, rounds: int = 3):
    """Requests/s per log and scenario, one value a round."""
    bodies = {
        "single": {"leads": leads[:1], "explain": False},
        "batch 1000": {"leads": leads, "explain": False},
    }
    base_env = {
        "MLFLOW_TRACKING_URI": uri,
        "LEADML_API_KEYS": KEY,
        "LEADML_MODEL": "champion",
        "LEADML_WORKERS": "1",
        "BENTOML_HOME": str(CACHE / "bentoml"),
    }
    command = [str(BIN / "leadml"), "serve", "--model", "champion", "--port", "{port}"]
    rps: dict[str, dict[str, list[float]]] = {s: {log: [] for log in logs} for s in bodies}
    with contextlib.ExitStack() as stack:
        bases = {}
        for log, url in logs.items():
            env = {**base_env, "LEADML_SCORE_LOG": url,
                   "LEADML_SCORE_LOG_SPOOL": str(LOG_CACHE / f"spool-{log}")}  # fmt: skip
            bases[log] = stack.enter_context(server(f"log-{log}", command, ROOT, "/readyz", env))
        for base in bases.values():
            for body in bodies.values():
                wrk(base, body, 1, "warm-up")
        for k in range(rounds):
            for scenario, body in bodies.items():
                for log, base in bases.items():
                    _say(f"  round {k + 1}/{rounds}: {scenario}, log {log}")
                    rps[scenario][log].append(wrk(base, body, seconds, f"log-{log}")["rps"])
        # the writers run at a lower priority than the answers: what they left in the spool
        # under load, written once the load is over
        ended, catch_up = time.perf_counter(), {}
        for log in logs:
            if log != "off":
                while list((LOG_CACHE / f"spool-{log}").glob("*.scores*")):
                    time.sleep(0.1)
                catch_up[log] = time.perf_counter() - ended
    return rps, catch_up


def server_cpu() -> float:
    """CPU seconds the PostgreSQL server's processes have used so far (this machine's)."""
    import psutil

    total = 0.0
    for process in psutil.process_iter(["name"]):
        if (process.info["name"] or "").startswith("postgres"):
            try:
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
            except psutil.Error:  # gone meanwhile
                continue
    return total


def fresh_sqlite(name: str) -> str:
    """The URL of a new, empty SQLite score log in the cache (an earlier run's removed)."""
    path = LOG_CACHE / name
    for stale in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", ".lock"))):
        stale.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def parts(rows: int) -> Path:
    from leadml import synth

    path = LOG_CACHE / f"parts_{rows}"
    if not (path / "_leadml.json").exists():
        _say(f"generating {rows:,} demo leads into {path} (not timed)")
        synth.write_partitioned(rows, 7, path, partition_rows=250_000)
    return path


def leadml(uri: str, log: str, *args: str, codes: tuple[int, ...] = (0,)) -> float:
    """Wall seconds of one leadml command."""
    return _run(uri, log, *args, codes=codes)[0]


def _run(uri: str, log: str, *args: str, codes: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall seconds of one leadml command, and the CPU seconds of its processes (its score log
    writer and Dask's workers included: processes it waited for)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "LEADML_SCORE_LOG": log}
    command = [str(BIN / "leadml"), *args]
    used = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=LOG_CACHE)
    seconds = time.perf_counter() - start
    if done.returncode not in codes:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr}")
    return seconds, _children_cpu() - used


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def monitor(uri: str, data: Path, log: str) -> tuple[float, float]:
    """Seconds to load the leads' outcomes into `log`, and of `leadml monitor` on it."""
    import pandas as pd

    truth = LOG_CACHE / f"truth_{data.name}.parquet"
    if not truth.exists():
        frame = pd.read_parquet(data, columns=["lead_id", "sales_ready"]).dropna()
        frame["sales_ready"] = frame["sales_ready"].astype(int)
        frame.to_parquet(truth)
    loading = leadml(uri, log, "outcomes", "load", "--data", str(truth))
    # exit 1: an alert (the demo world drifts by design); the faster of two runs, as predict's
    return loading, min(leadml(uri, log, "monitor", "--json", codes=(0, 1)) for _ in range(2))


def predict(uri: str, data: Path, engine: str, log: str, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one `leadml predict` run (its output replaced)."""
    target = out if engine == "dask" else out.with_suffix(".parquet")
    if target.is_dir():
        shutil.rmtree(target)
    target.unlink(missing_ok=True)
    args = ["predict", "--data", str(data), "--out", str(target), "--engine", engine]
    return _run(uri, log, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200,000 leads, 3 s per wrk run")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = 200_000 if args.quick else args.rows
    seconds = 3 if args.quick else 8
    from leadml.runtime import configure
    from leadml.scorelog import ScoreLog
    from leadml.scorelog.local_postgres import postgres_server

    configure()
    LOG_CACHE.mkdir(parents=True, exist_ok=True)
    uri, leads = prepare(False)
    data = parts(rows)
    tiny = parts(1_000)
    with postgres_server() as pg:
        logs = {
            "off": "off",
            "sqlite": fresh_sqlite("api.db"),
            "postgres": pg.new_database(),
        }
        _say("API: three servers up at once")
        rps, catch_up = api(uri, leads, logs, seconds)
        times: dict[str, dict[str, list[float]]] = {}
        fixed: dict[str, float] = {}
        fixed_cpu: dict[str, float] = {}
        cpu: dict[str, dict[str, list[float]]] = {}  # CPU s per run: the job's processes, and
        # the PostgreSQL server's
        last: dict[str, str] = {}  # the last pandas run's logs
        db_cpu: dict[str, list[float]] = {}  # the PostgreSQL server's CPU seconds per run
        for engine in ("pandas", "dask"):
            _say(f"predict: the fixed cost of the {engine} engine (1,000 leads, log off)")
            runs = [predict(uri, tiny, engine, "off", LOG_CACHE / "tiny") for _ in range(2)]
            fixed[engine] = min(wall for wall, _ in runs)
            fixed_cpu[engine] = min(used for _, used in runs)
            for k in range(2):
                for log in ("off", "sqlite", "postgres"):
                    if log == "sqlite":
                        url = fresh_sqlite(f"{engine}-{k}.db")
                    else:
                        url = pg.new_database() if log == "postgres" else "off"
                    _say(f"predict {rows:,} leads: {engine}, log {log}, run {k + 1}")
                    served = server_cpu()
                    wall, used = predict(uri, data, engine, url, LOG_CACHE / "out")
                    times.setdefault(engine, {}).setdefault(log, []).append(wall)
                    if log == "postgres":
                        db_cpu.setdefault(engine, []).append(server_cpu() - served)
                        used += db_cpu[engine][-1]
                    cpu.setdefault(engine, {}).setdefault(log, []).append(used)
                    if log != "off":
                        assert ScoreLog(url).count_scores() == rows, (engine, log)
                        if engine == "pandas":
                            last[log] = url
        watched = {}
        small_log = fresh_sqlite("tiny.db")
        predict(uri, tiny, "pandas", small_log, LOG_CACHE / "tiny")
        _say("monitor: the fixed cost (1,000 scores)")
        watched["fixed"] = monitor(uri, tiny, small_log)
        for log, url in last.items():
            _say(f"monitor: {rows:,} scores on {log}")
            watched[log] = monitor(uri, data, url)
    report(rps, catch_up, times, fixed, rows, seconds, watched, db_cpu, (cpu, fixed_cpu))


def report(rps, catch_up, times, fixed, rows, seconds, watched, db_cpu, cpus) -> None:
    print(f"\nScoring API, wrk -c4 -d{seconds}s, three rounds in turn (req/s per round):")
    print(f"{'scenario':<12} {'log':<9} {'req/s (rounds)':<32} {'median':>9} {'vs off':>7}")
    ratios = {}
    for scenario, by_log in rps.items():
        off = statistics.median(by_log["off"])
        for log, values in by_log.items():
            median = statistics.median(values)
            ratio = median / off
            ratios[f"api {scenario} {log}"] = ratio
            shown = ", ".join(f"{v:,.0f}" for v in values)
            print(f"{scenario:<12} {log:<9} {shown:<32} {median:>9,.0f} {ratio:>6.2f}x")
    shown = ", ".join(f"{log} {s:.1f} s" for log, s in catch_up.items())
    print(f"(the spool written out after the last round: {shown})")
    print(f"\nleadml predict, {rows:,} leads, 3 reasons (wall s per run; scoring = wall - fixed):")
    print(f"{'engine':<8} {'log':<9} {'runs (s)':<18} {'scoring s':>10} {'vs off':>7}")
    for engine, by_log in times.items():
        off = min(by_log["off"]) - fixed[engine]
        for log, values in by_log.items():
            scoring = min(values) - fixed[engine]
            ratio = scoring / off
            ratios[f"predict {engine} {log}"] = ratio
            shown = ", ".join(f"{v:.1f}" for v in values)
            print(f"{engine:<8} {log:<9} {shown:<18} {scoring:>10.1f} {ratio:>6.2f}x")
    print(f"(fixed cost: {', '.join(f'{e} {s:.1f} s' for e, s in fixed.items())})")
    spent = ", ".join(f"{e} {', '.join(f'{v:.1f}' for v in vs)} s" for e, vs in db_cpu.items())
    print(f"(the PostgreSQL server's own CPU in each postgres run, on the same cores: {spent})")
    # the floor under the wall-time ratio when scoring alone keeps every core busy (Dask's
    # workers): recording's CPU cannot overlap with anything
    cpu, fixed_cpu = cpus
    print(
        "\nCPU of the same runs (s: the job's processes and the PostgreSQL server's; scoring ="
        " CPU - the fixed cost's; us/score: what recording one score costs):"
    )
    print(f"{'engine':<8} {'log':<9} {'runs (CPU s)':<18} {'scoring':>8} {'vs off':>7} "
          f"{'us/score':>9}")  # fmt: skip
    cpu_ratios = {}
    for engine, by_log in cpu.items():
        off = min(by_log["off"]) - fixed_cpu[engine]
        for log, values in by_log.items():
            used = min(values) - fixed_cpu[engine]
            cpu_ratios[f"{engine} {log}"] = used / off
            per_score = (used - off) / rows * 1e6
            shown = ", ".join(f"{v:.1f}" for v in values)
            print(f"{engine:<8} {log:<9} {shown:<18} {used:>8.1f} {used / off:>6.2f}x "
                  f"{per_score:>9.1f}")  # fmt: skip
    print(f"\nleadml monitor over {rows:,} logged scores with their outcomes "
          "(wall s; monitor: the faster of two runs):")  # fmt: skip
    print(f"{'log':<9} {'outcomes load':>14} {'monitor':>8}")
    for log, (loading, watching) in watched.items():
        label = "1,000" if log == "fixed" else log
        print(f"{label:<9} {loading:>14.1f} {watching:>8.1f}")
    checks = [
        (f"API {k.split(' ', 1)[1]} >= {API_MIN} x log off", v >= API_MIN, f"{v:.2f}")
        for k, v in ratios.items()
        if k.startswith("api") and not k.endswith("off")
    ] + [
        (f"predict {k.split(' ', 1)[1]} <= {PREDICT_MAX} x log off", v <= PREDICT_MAX, f"{v:.2f}")
        for k, v in ratios.items()
        if k.startswith("predict") and not k.endswith("off")
    ]
    checks += [
        (f"monitor {rows:,} scores {log} <= {MONITOR_MAX_S:.0f} s", t <= MONITOR_MAX_S, f"{t:.1f}")
        for log, (_, t) in watched.items()
        if log != "fixed"
    ]
    print("\nTargets:")
    for label, ok, value in checks:
        print(f"  {'pass' if ok else 'FAIL'}  {label}  ({value})")
    print(json.dumps({"bench": "log", "rows": rows, "api_rps": rps, "catch_up_s": catch_up,
                      "predict_s": times, "fixed_s": fixed, "db_server_cpu_s": db_cpu,
                      "ratios": ratios, "monitor_s": watched, "predict_cpu_s": cpus[0],
                      "fixed_cpu_s": cpus[1], "cpu_ratios": cpu_ratios,
                      "targets": {label: ok for label, ok, _ in checks}}))  # fmt: skip


if __name__ == "__main__":
    main()
