"""Training scale: wall time and peak memory of `leadml.training.pipeline.train` at 10k, 100k and
1M demo leads.

Each size runs in a fresh child process, so its peak RSS (VmHWM) is that size's alone. The demo
leads are generated first into .bench/ (not timed); the timed part is exactly
`train(config, data=path)` with training/demo.yaml: reading and checking the data, the time
split, the leakage audit, LightGBM with early stopping, calibration, the agreed rules, the test
metrics and the plots. No MLflow logging.
Targets: 1M leads in <= 120 s and <= 4 GB peak RSS; time should grow about linearly
(time(1M) / time(100k) near 10).
Run: `.venv/bin/python bench/train_scale.py` (`--sizes 10000,100000` for a quick run,
`--profile` to print where the largest size's time goes, from cProfile, `--repeat 3` to keep
the fastest of three runs). On a shared machine LightGBM's OpenMP threads spin while they wait
and can be many times slower: like the leadml CLI, the children wait passively
(OMP_WAIT_POLICY=PASSIVE, leadml.runtime) unless `--spin` is given; `--threads N` caps threads.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench"
CONFIG = "training/demo.yaml"
SEED = 7
MAX_SECONDS_1M = 120.0
MAX_MB_1M = 4096.0
# What the cProfile breakdown reports: (label, function name as pstats keys it, file suffix).
PHASES = (
    ("read leads", "read_leads", "leadml/data.py"),
    ("check leads", "check_leads", "leadml/data.py"),
    ("split + encode windows", "split_windows", "leadml/train.py"),
    ("leakage audit", "leakage_audit", "leadml/audit.py"),
    ("LeadScorer.fit (all)", "fit", "leadml/model.py"),
    ("  lightgbm Dataset construct", "construct", "lightgbm/basic.py"),
    ("  lightgbm boosting rounds", "update", "lightgbm/basic.py"),
    ("  lightgbm eval on calibration", "eval_valid", "lightgbm/basic.py"),
    ("  choose_calibrator", "choose_calibrator", "leadml/calibration.py"),
    ("agreed rules scoring", "score", "leadml/rules.py"),
    ("predict_proba (cal + test)", "predict_proba", "leadml/model.py"),
    ("score_metrics", "score_metrics", "leadml/evaluate.py"),
    ("band tables", "band_table", "leadml/evaluate.py"),
    ("fingerprint (hash)", "fingerprint", "leadml/data.py"),
    ("plots", "_save", "leadml/plots.py"),
)


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def demo_data(rows: int, seed: int = SEED) -> Path:
    """The demo leads for this size, generated once into .bench/ (git ignores it)."""
    from leadml import synth

    path = CACHE / f"demo_{rows}_seed{seed}.parquet"
    if not path.exists():
        _progress(f"generating {rows:,} demo leads into {path} (not timed)")
        synth.write(rows, seed, path)
    return path


def _peak_rss_mb() -> float:
    """This process's RSS high-water mark (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _phases(stats: pstats.Stats) -> list[tuple[str, float]]:
    found = []
    for label, name, suffix in PHASES:
        total = sum(
            row[3]  # cumulative time
            for (file, _line, func), row in stats.stats.items()  # type: ignore[attr-defined]
            if func == name and file.replace("\\", "/").endswith(suffix)
        )
        found.append((label, total))
    return found


def child(rows: int, data: str, profile: bool) -> dict[str, Any]:
    """One size, in this (fresh) process: time train() and read the peak RSS afterwards."""
    from leadml.spec import load_config
    from leadml.training.pipeline import train

    config = load_config(CONFIG)
    baseline_mb = _peak_rss_mb()
    profiler = cProfile.Profile() if profile else None
    load = os.getloadavg()[0]
    cpu = _cpu_seconds()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    result = train(config, data=data, say=lambda *_: None)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu
    scorer = result.lead_model.scorer
    # lgb.train keeps only the best trees; it boosted `early_stopping_rounds` more before stopping.
    rounds = min(
        scorer.best_iteration_ + config.model.early_stopping_rounds, scorer.num_boost_round
    )
    out: dict[str, Any] = {
        "rows": rows,
        "train_leads": result.windows["train"]["leads"],
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "load_before": round(load, 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_after_imports_mb": round(baseline_mb, 1),
        "trees": int(scorer.best_iteration_),
        "rounds": int(rounds),
        "test_auc": round(result.metrics["test_model_roc_auc"], 4),
    }
    shutil.rmtree(result.artifacts, ignore_errors=True)
    if profiler:
        stats = pstats.Stats(profiler)
        out["phases"] = {label: round(s, 2) for label, s in _phases(stats)}
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
        print(text.getvalue(), file=sys.stderr)
    return out


def run_size(
    rows: int, profile: bool, repeat: int, threads: int | None, passive: bool
) -> dict[str, Any]:
    """The fastest of `repeat` fresh-process runs (the machine is shared: the minimum is the
    least disturbed); every run's seconds are kept in `all_seconds`."""
    data = demo_data(rows)
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    if passive:  # what the leadml CLI sets (leadml.runtime); --spin measures OpenMP's default
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    runs = []
    for k in range(repeat):
        _progress(f"training on {rows:,} leads in a fresh process (run {k + 1} of {repeat})")
        cmd = [sys.executable, __file__, "--child", str(rows), "--data", str(data)]
        if profile and k == 0:
            cmd.append("--profile")
        done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        _progress(f"  {runs[-1]['seconds']:.1f} s, peak RSS {runs[-1]['peak_rss_mb']:.0f} MB")
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["all_seconds"] = [r["seconds"] for r in runs]
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    if "phases" in runs[0]:
        best["phases"], best["profiled_seconds"] = runs[0]["phases"], runs[0]["seconds"]
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="comma-separated lead counts"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the largest size; print where time goes"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per size; the fastest is reported"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="OMP_NUM_THREADS for the children (default: all)"
    )
    parser.add_argument(
        "--spin",
        dest="passive",
        action="store_false",
        help="leave OpenMP's default busy-waiting on (leadml's CLI makes threads wait passively)",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # the training config names its files relative to the project root
    if args.child:
        print(json.dumps(child(args.child, args.data, args.profile)))
        return 0

    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    for rows in sizes:  # generate everything first, so no child competes with the generator
        demo_data(rows)
    results = [
        run_size(
            rows,
            args.profile and rows == sizes[-1],
            max(1, args.repeat),
            args.threads,
            args.passive,
        )
        for rows in sizes
    ]

    omp = {k: v for k, v in os.environ.items() if k.startswith("OMP_")}
    omp |= {"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}
    omp |= {"OMP_WAIT_POLICY": "PASSIVE"} if args.passive and "OMP_WAIT_POLICY" not in omp else {}
    print(
        f"\nleadml.training.pipeline.train on demo leads ({CONFIG}), one fresh process per size; "
        f"{os.cpu_count()} cores; OpenMP: {omp or 'defaults'}"
    )
    columns = ("rows", "train leads", "seconds", "s/100k leads", "CPU s", "peak RSS MB")
    columns += ("trees", "rounds", "load before")
    print("  ".join(f"{h:>12}" for h in columns))
    print("-" * (14 * len(columns) - 2))
    for r in results:
        cells = (
            f"{r['rows']:,}",
            f"{r['train_leads']:,}",
            f"{r['seconds']:.1f}",
            f"{r['seconds'] / r['rows'] * 100_000:.1f}",
            f"{r['cpu_seconds']:.1f}",
            f"{r['peak_rss_mb']:.0f}",
            str(r["trees"]),
            str(r["rounds"]),
            f"{r['load_before']:.1f}",
        )
        print("  ".join(f"{c:>12}" for c in cells))
    print(
        f"seconds: wall time of train(), fastest of --repeat {args.repeat}; CPU s: user + sys of "
        "that run (all threads). RSS after imports, before train(): "
        f"{results[0]['rss_after_imports_mb']:.0f} MB. trees: best iteration kept; rounds: boosted,"
        " incl. the early-stopping patience. load before: 1-minute load average (2 cores)."
    )

    by_rows = {r["rows"]: r for r in results}
    summary: dict[str, Any] = {"bench": "train_scale", "config": CONFIG, "openmp": omp}
    summary["results"] = results
    if 100_000 in by_rows and 1_000_000 in by_rows:
        growth = by_rows[1_000_000]["seconds"] / by_rows[100_000]["seconds"]
        summary["growth_1m_over_100k"] = round(growth, 2)
        print(f"\ngrowth: time(1M) / time(100k) = {growth:.1f} (10 = linear)")
    if 1_000_000 in by_rows:
        big = by_rows[1_000_000]
        targets = {
            f"1M leads <= {MAX_SECONDS_1M:.0f} s": big["seconds"] <= MAX_SECONDS_1M,
            f"1M leads <= {MAX_MB_1M / 1024:.0f} GB peak RSS": big["peak_rss_mb"] <= MAX_MB_1M,
        }
        summary["targets"] = targets
        print("Targets:")
        values = (f"{big['seconds']:.1f} s", f"{big['peak_rss_mb']:.0f} MB")
        for (name, ok), v in zip(targets.items(), values, strict=True):
            print(f"  {'pass' if ok else 'FAIL'}  {name}  ({v})")
    else:
        print("\n(1M not in --sizes: targets not checked)")
    profiled = results[-1].get("phases")
    if profiled:
        total = results[-1]["profiled_seconds"]
        print(f"\nWhere the {results[-1]['rows']:,}-lead train() time goes (cProfile, cumulative):")
        for label, s in profiled.items():
            print(f"  {label:<32} {s:7.1f} s  {s / total:6.1%}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
