"""Scale: scoring and training with the pandas engine and the Dask engine on this machine.

Scoring (no reasons, then with 3 reasons at the smaller size): leads/s, leads/s per core and peak
memory per process, for 1M and 10M demo leads in Parquet parts of PART_ROWS leads. The pandas
engine runs in a fresh child process (read the folder, score, write one Parquet file), peak =
its RSS high-water mark; at 10M it is skipped unless --pandas-10m (it holds all leads at once).
Each scoring job runs --repeats times (default 3; the engines take turns) and the table shows
the run of median time, every run's seconds, and the highest peak of all runs.
The Dask engine uses a fresh local cluster per run (one single-threaded worker process per core,
as `leadml predict --engine dask` starts, leadml imported in each worker), timed from handing
the model to the cluster to the output folder being in place; peak = the largest worker's RSS
high-water mark.
Training (training/demo.yaml, no MLflow logging): wall time and peak memory of
`leadml.training.pipeline.train` at 1M and 5M leads on each engine.
The model scored is training/demo.yaml trained on 200,000 demo leads, cached in .bench/scale/.
Targets: 10M leads scored by Dask with <= 2 GB per worker; scoring without reasons >= 300,000
leads/s per core; Dask within 1.3x of the pandas engine's throughput where both fit.
Run: `.venv/bin/python bench/scale.py` (about 20 minutes; `--quick` for 200k/1M scoring and 200k
training). Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pickle
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench" / "scale"
CONFIG = ROOT / "training" / "demo.yaml"
SEED = 7
PART_ROWS = 250_000
MAX_WORKER_MB = 2048.0
MIN_PER_CORE = 300_000.0
MAX_DASK_SLOWDOWN = 1.3


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _peak_mb() -> float:
    """This process's RSS high-water mark (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def parts(rows: int) -> Path:
    """Demo leads as Parquet parts, generated once into .bench/scale/ (not timed)."""
    from leadml import synth

    path = CACHE / f"parts_{rows}_seed{SEED}"
    if not (path / "_leadml.json").exists():
        _say(f"generating {rows:,} demo leads into {path} (not timed)")
        synth.write_partitioned(rows, SEED, path, partition_rows=PART_ROWS)
    return path


def model_file() -> Path:
    """training/demo.yaml trained on 200,000 demo leads (no MLflow), pickled once."""
    path = CACHE / "lead_model.pkl"
    if not path.exists():
        from leadml.spec import load_config
        from leadml.training.pipeline import train

        _say("training the demo model on 200,000 leads (not timed)")
        result = train(load_config(CONFIG), data=str(parts(200_000)))
        shutil.rmtree(result.artifacts, ignore_errors=True)
        path.write_bytes(pickle.dumps(result.lead_model))
    return path


def _in_child(fn: str, *args: Any) -> dict[str, Any]:
    """Run `fn(*args)` of this module in a fresh process; its result plus its peak RSS."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_child_entry, (fn, args))


def _child_entry(fn: str, args: tuple) -> dict[str, Any]:
    from leadml.runtime import configure

    configure()
    out = globals()[fn](*args)
    out["peak_mb"] = _peak_mb()
    return out


def pandas_score(data: str, out: str, reasons: int) -> dict[str, Any]:
    """The pandas engine: read every part, score, write one file."""
    from leadml.data import read_leads, write_table

    model = pickle.loads(model_file().read_bytes())
    model.scorer.tables_  # built once per process, as at service start  # noqa: B018
    start = time.perf_counter()
    scored = model.score(read_leads(data), reasons=reasons)
    write_table(scored, out)
    return {"seconds": time.perf_counter() - start, "rows": len(scored)}


def pandas_train(data: str) -> dict[str, Any]:
    from leadml.spec import load_config
    from leadml.training.pipeline import train

    start = time.perf_counter()
    result = train(load_config(CONFIG), data=data)
    seconds = time.perf_counter() - start
    shutil.rmtree(result.artifacts, ignore_errors=True)
    return {"seconds": seconds, "auc": result.metrics["test_model_roc_auc"]}


@contextmanager
def _cluster():
    """The local cluster `--engine dask` starts without --scheduler, leadml imported in each
    worker before timing (as in the pandas child)."""
    from leadml.cluster import connect

    with connect() as client:
        client.run(_warm)
        yield client


def _warm() -> None:
    import leadml.cluster
    import leadml.scoring  # noqa: F401


def _worker_peaks(client) -> list[float]:
    return sorted(client.run(_peak_mb).values())


def dask_score(data: Path, out: Path, reasons: int) -> dict[str, Any]:
    from leadml.cluster import score_partitions

    model = pickle.loads(model_file().read_bytes())
    with _cluster() as client:
        start = time.perf_counter()
        summary = score_partitions(model, str(data), out, client, reasons=reasons)
        seconds = time.perf_counter() - start
        peaks = _worker_peaks(client)
    return {"seconds": seconds, "rows": summary.rows, "peak_mb": max(peaks), "workers": len(peaks)}


def dask_train(data: Path) -> dict[str, Any]:
    from leadml.cluster import DaskEngine
    from leadml.spec import load_config
    from leadml.training.pipeline import train

    with _cluster() as client:
        start = time.perf_counter()
        result = train(load_config(CONFIG), engine=DaskEngine(client), data=str(data))
        seconds = time.perf_counter() - start
        peaks = _worker_peaks(client)
    shutil.rmtree(result.artifacts, ignore_errors=True)
    return {
        "seconds": seconds,
        "auc": result.metrics["test_model_roc_auc"],
        "peak_mb": max(peaks),
        "workers": len(peaks),
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median time (each run a fresh process or cluster), with the highest peak
    memory of all runs and every run's time."""
    ranked = sorted(runs, key=lambda r: r["seconds"])
    median = dict(ranked[(len(ranked) - 1) // 2])
    median["processes"] = median.pop("workers", 1)
    median["peak_mb"] = max(r["peak_mb"] for r in runs)
    median["all_seconds"] = [round(r["seconds"], 3) for r in runs]
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k/1M scoring, 200k training")
    parser.add_argument("--pandas-10m", action="store_true", help="also score 10M with pandas")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="fresh runs per scoring job; the table shows the median (default 3)",
    )
    args = parser.parse_args()
    from leadml.runtime import configure

    configure()
    CACHE.mkdir(parents=True, exist_ok=True)
    score_sizes = [200_000, 1_000_000] if args.quick else [1_000_000, 10_000_000]
    train_sizes = [200_000] if args.quick else [1_000_000, 5_000_000]
    model_file()
    for n in sorted({*score_sizes, *train_sizes}):
        parts(n)
    cores = os.cpu_count() or 1
    out_dir = CACHE / "out"
    rows: list[dict[str, Any]] = []

    for n in score_sizes:
        for reasons in (0, 3) if n == score_sizes[0] else (0,):
            what = f"score {n:,}" + (", reasons" if reasons else "")
            runs: dict[str, list[dict[str, Any]]] = {"pandas": [], "dask": []}
            for k in range(args.repeats):  # engines take turns, so both see the same noise
                if n < 10_000_000 or args.pandas_10m:
                    _say(f"{what}: pandas engine (run {k + 1} of {args.repeats})")
                    runs["pandas"].append(
                        _in_child(
                            "pandas_score", str(parts(n)), str(out_dir / "pandas.parquet"), reasons
                        )
                    )
                _say(f"{what}: dask engine (run {k + 1} of {args.repeats})")
                runs["dask"].append(dask_score(parts(n), out_dir / "dask", reasons))
                shutil.rmtree(out_dir, ignore_errors=True)
            for engine, found in runs.items():
                if found:
                    rows.append({"job": what, "engine": engine, **_median_run(found), "leads": n})
    for n in train_sizes:
        _say(f"train {n:,}: pandas engine")
        r = _in_child("pandas_train", str(parts(n)))
        rows.append({"job": f"train {n:,}", "engine": "pandas", "processes": 1, **r, "leads": n})
        _say(f"train {n:,}: dask engine")
        r = dask_train(parts(n))
        rows.append(
            {
                "job": f"train {n:,}",
                "engine": "dask",
                "processes": r.pop("workers"),
                **r,
                "leads": n,
            }
        )

    print(
        f"\nleadml scale benchmark: {cores} cores, parts of {PART_ROWS:,} leads, training/demo.yaml"
    )
    head = (
        f"{'job':<26}{'engine':<8}{'procs':>6}{'seconds':>10}{'leads/s':>12}{'per core':>11}"
        f"{'peak MB/proc':>14}{'AUC':>8}  runs (s)"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        r["leads_per_s"] = r["leads"] / r["seconds"]
        r["per_core"] = r["leads_per_s"] / r["processes"]
        auc = f"{r['auc']:.4f}" if "auc" in r else ""
        print(
            f"{r['job']:<26}{r['engine']:<8}{r['processes']:>6}{r['seconds']:>10.1f}"
            f"{r['leads_per_s']:>12,.0f}{r['per_core']:>11,.0f}{r['peak_mb']:>14,.0f}{auc:>8}"
            f"  {' '.join(f'{t:.2f}' for t in r.get('all_seconds', []))}"
        )

    def find(job: str, engine: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["job"] == job and r["engine"] == engine), None)

    big, small = f"score {score_sizes[-1]:,}", f"score {score_sizes[0]:,}"
    targets: dict[str, bool] = {}
    dask_big = find(big, "dask")
    targets[f"dask {big}: peak <= {MAX_WORKER_MB:.0f} MB per worker"] = (
        dask_big["peak_mb"] <= MAX_WORKER_MB
    )
    for engine in ("pandas", "dask"):
        for job in (small, big):
            r = find(job, engine)
            if r is not None:
                targets[f"{engine} {job}: >= {MIN_PER_CORE:,.0f} leads/s per core"] = (
                    r["per_core"] >= MIN_PER_CORE
                )
    ratios = {}
    for job in dict.fromkeys(r["job"] for r in rows):
        p, d = find(job, "pandas"), find(job, "dask")
        if p and d:
            ratios[job] = p["seconds"] / d["seconds"]  # > 1: dask faster
            if job.startswith("score") and "reasons" not in job:
                targets[f"{job}: dask within {MAX_DASK_SLOWDOWN}x of pandas"] = (
                    d["seconds"] <= MAX_DASK_SLOWDOWN * p["seconds"]
                )
    print(
        "\npandas time / dask time (same job, same run): "
        + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
    )
    for name, ok in targets.items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")
    print(
        json.dumps(
            {
                "cores": cores,
                "rows": [
                    {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
                    for r in rows
                ],
                "pandas_over_dask_time": {k: round(v, 3) for k, v in ratios.items()},
                "targets": targets,
                "all_pass": all(targets.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
