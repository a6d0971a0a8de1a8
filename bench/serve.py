"""Scoring API speed: the real BentoML server under wrk, beside BentoML's own ceiling and the
FastAPI + pandas way, then the in-process costs.

Setup (cached in .bench/serve/, `--retrain` to redo): the demo leads (data/demo_leads.parquet,
else 200,000 generated with seed 7), a model trained with training/demo.yaml into a SQLite MLflow
store there, promoted to champion.

Each server runs alone on loopback and is driven by `wrk` (Debian's package; `make bench-serve`
installs it) with a Lua script for the POST body, for a fixed time at fixed concurrency:
  leadml     `leadml serve` (service/service.py): BentoML, API key check, JSON errors
  trivial    bench/servers/trivial_service.py: the same BentoML settings and request model,
             returns a constant: the ceiling of the framework on this machine
  trivial*   the same, BentoML as shipped (without leadml's fix for its request timers)
  fastapi    bench/servers/fastapi_baseline.py: FastAPI + uvicorn, the MLflow pyfunc (the
             scikit-learn pipeline) on a pandas frame per request
Every server gets the same number of worker processes (`--workers`, default 1).
Scenarios: single leads with and without reasons, batches of 100 and 1,000 (4 clients).
Then single leads and batches of 1,000 (no reasons) on leadml and the trivial endpoint, both
servers up at once, measured in turn three times: the single-lead ratio and the batch target
use their medians, since separate runs drift too much on a shared machine.
In-process: one lead through the API core, reasons for 1,000 leads, and how exactly the reasons'
contributions match LightGBM's own TreeSHAP (`pred_contrib`).

Run: `.venv/bin/python bench/serve.py` (about 5 minutes); `--quick` for a smoke run.
The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench" / "serve"
BIN = Path(sys.executable).parent
KEY = "bench-key-" + "b" * 30
CLIENTS = 4
PAIRED_BATCH = "batch 1000, no reasons"

# Targets (issue: serve lead scores through a BentoML API)
VS_TRIVIAL, VS_FASTAPI = 0.70, 5.0
P50_MS, P99_MS = 5.0, 25.0
BATCH_LEADS_S, BATCH_REASONS_LEADS_S = 100_000, 10_000
ONE_LEAD_MS, REASONS_1000_MS, TOP3_AGREEMENT = 0.5, 100.0, 0.95


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- setup -------------------------------------------------------------------------------------


def prepare(retrain: bool) -> tuple[str, list[dict]]:
    """The cached registry (demo model as champion) and 1,000 demo leads as a CRM sends them."""
    import pandas as pd

    from leadml import synth
    from leadml.spec import load_spec

    CACHE.mkdir(parents=True, exist_ok=True)
    data = ROOT / "data" / "demo_leads.parquet"
    if not data.exists():
        data = CACHE / "demo_leads.parquet"
        if not data.exists():
            _say("generating 200,000 demo leads (seed 7)")
            synth.write(200_000, seed=7, out=data)
    db = CACHE / "mlflow.db"
    uri = f"sqlite:///{db}"
    if retrain or not db.exists():
        for stale in (db, CACHE / "mlartifacts"):
            if stale.is_dir():
                shutil.rmtree(stale)
            elif stale.exists():
                stale.unlink()
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        config = ROOT / "training" / "demo.yaml"
        _say("training the demo model (training/demo.yaml) into .bench/serve/mlflow.db")
        for args in (["train", "--config", str(config), "--data", str(data)], ["promote"]):
            subprocess.run(
                [str(BIN / "leadml"), *args], cwd=CACHE, env=env, check=True, capture_output=True
            )
    spec = load_spec(ROOT / "features" / "lead_features.yaml")
    columns = ["lead_id"] + [f.source for f in spec.features]
    frame = pd.read_parquet(data, columns=columns).tail(1000)
    return uri, json.loads(frame.to_json(orient="records"))


@contextmanager
def server(name: str, command: list[str], cwd: Path, ready: str, env: dict[str, str]):
    from leadml.serving.process import running

    with running(command, env=env, cwd=cwd, log=CACHE / f"{name}.log", ready=ready) as base:
        yield base


# --- wrk ---------------------------------------------------------------------------------------

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = [==[{body}]==]
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * UNITS[unit]


def wrk(base: str, body: dict, seconds: int, name: str) -> dict[str, float]:
    """Drive POST /score with one body for `seconds` at CLIENTS connections."""
    script = CACHE / f"{name}.lua"
    script.write_text(LUA.format(key=KEY, body=json.dumps(body)))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CLIENTS}", f"-d{seconds}s", "--latency", "-s", str(script),
         base + "/score"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if bad or errors:
        raise RuntimeError(f"{name}: wrk saw failures:\n{out}")
    return {"p50_ms": p50, "p99_ms": p99, "rps": rps}


# --- in-process ----------------------------------------------------------------------------------


def in_process(uri: str, leads: list[dict]) -> dict[str, float]:
    os.environ["MLFLOW_TRACKING_URI"] = uri
    from leadml.registry import load_lead_model
    from leadml.serving import LeadScoringAPI, Served, request_models

    lead_model, resolved = load_lead_model("lead-qualifier", "champion")
    api = LeadScoringAPI(lead_model, Served("lead-qualifier", resolved.version, "champion", ""))
    score_request, _ = request_models(lead_model.spec)
    scorer = lead_model.scorer

    def median_ms(fn, repeat: int) -> float:
        fn()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e3

    one = [leads[0]]
    body = json.dumps({"leads": one, "explain": False}).encode()
    X = api.encode(leads)
    booster = scorer.booster_
    exact = booster.predict(X, pred_contrib=True, num_iteration=scorer.best_iteration_)[:, :-1]
    ours = scorer.contributions(X)[:, :-1]

    def top3(c):
        import numpy as np

        return np.argsort(-np.abs(c), axis=1, kind="stable")[:, :3]

    frame_one = __import__("pandas").DataFrame(one)
    return {
        "one_lead_ms": median_ms(lambda: api.score(one, explain=False), 2000),
        "one_lead_request_ms": median_ms(
            lambda: api.score(score_request.model_validate_json(body).leads, explain=False), 2000
        ),
        "one_lead_reasons_ms": median_ms(lambda: api.score(one, explain=True), 2000),
        "pandas_pipeline_one_lead_ms": median_ms(lambda: scorer.predict_proba(frame_one), 300),
        "reasons_1000_ms": median_ms(lambda: scorer.reasons(X, 3), 30),
        "pred_contrib_1000_ms": median_ms(
            lambda: booster.predict(X, pred_contrib=True, num_iteration=scorer.best_iteration_), 5
        ),
        "contrib_max_abs_diff": float(abs(ours - exact).max()),
        "top3_agreement": float((top3(ours) == top3(exact)).all(axis=1).mean()),
        "trees": scorer.best_iteration_,
    }


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk time per scenario")
    parser.add_argument("--quick", action="store_true", help="3 s per scenario")
    parser.add_argument("--retrain", action="store_true", help="retrain the cached model")
    parser.add_argument(
        "--workers", type=int, default=1,
        help="server worker processes, the same for every server (default 1: with more, the "
        "kernel spreads wrk's 4 connections over the workers unevenly, run to run)",
    )  # fmt: skip
    args = parser.parse_args()
    seconds = 3 if args.quick else args.seconds
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `make bench-serve` installs it (apt-get install wrk)")
    from leadml.runtime import configure

    configure()
    uri, leads = prepare(args.retrain)
    bodies = {
        "single, reasons": {"leads": leads[:1], "explain": True},
        "single, no reasons": {"leads": leads[:1], "explain": False},
        "batch 100, no reasons": {"leads": leads[:100], "explain": False},
        "batch 100, reasons": {"leads": leads[:100], "explain": True},
        "batch 1000, no reasons": {"leads": leads, "explain": False},
        "batch 1000, reasons": {"leads": leads, "explain": True},
    }
    common = {
        "MLFLOW_TRACKING_URI": uri,
        "LEADML_API_KEYS": KEY,
        "LEADML_MODEL": "champion",
        "LEADML_WORKERS": str(args.workers),
        "BENTOML_HOME": str(CACHE / "bentoml"),
        "LEADML_BENCH_SPEC": str(ROOT / "features" / "lead_features.yaml"),
    }
    servers = {
        "leadml": (
            [str(BIN / "leadml"), "serve", "--model", "champion", "--port", "{port}"],
            ROOT, "/readyz", list(bodies),
        ),
        "trivial": (
            [str(BIN / "bentoml"), "serve", "trivial_service:Trivial", "--port", "{port}",
             "--working-dir", str(ROOT / "bench" / "servers")],
            ROOT, "/readyz", ["single, no reasons", "batch 1000, no reasons"],
        ),
        "trivial*": (  # BentoML as shipped: its request timers pin every request for 60 s
            ["env", "LEADML_BENCH_AS_SHIPPED=1", str(BIN / "bentoml"), "serve",
             "trivial_service:Trivial", "--port", "{port}",
             "--working-dir", str(ROOT / "bench" / "servers")],
            ROOT, "/readyz", ["single, no reasons"],
        ),
        "fastapi": (
            [str(BIN / "uvicorn"), "fastapi_baseline:app", "--port", "{port}",
             "--app-dir", str(ROOT / "bench" / "servers"), "--workers", str(args.workers)],
            ROOT, "/docs", ["single, reasons", "single, no reasons", "batch 1000, no reasons"],
        ),
    }  # fmt: skip
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, (command, cwd, ready, scenarios) in servers.items():
        _say(f"starting {name}")
        with server(name, command, cwd, ready, env=common) as base:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}) as warm:
                for scenario in scenarios:  # first requests build caches: not measured
                    for _ in range(20):
                        warm.post("/score", json=bodies[scenario], timeout=60)
            for scenario in scenarios:
                _say(f"  {name}: {scenario} ({seconds} s, {CLIENTS} clients)")
                r = wrk(base, bodies[scenario], seconds, f"{name}-{scenario.replace(' ', '_')}")
                r["leads_s"] = r["rps"] * len(bodies[scenario]["leads"])
                results.setdefault(name, {})[scenario] = r
    paired = alternate(
        servers, common, {k: bodies[k] for k in ("single, no reasons", PAIRED_BATCH)}, seconds
    )
    _say("in-process measurements")
    inproc = in_process(uri, leads)
    report(results, inproc, seconds, args.workers, paired)


def alternate(
    servers, env, bodies: dict[str, dict], seconds, rounds: int = 3
) -> dict[str, dict[str, list[float]]]:
    """Each body on leadml and on the trivial endpoint, both running, measured in turn
    (leadml, trivial, leadml, ...): the shared machine's drift hits both alike. Requests/s per
    scenario and server, one value a round."""
    rps: dict[str, dict[str, list[float]]] = {s: {"leadml": [], "trivial": []} for s in bodies}
    with (
        server("leadml-paired", *servers["leadml"][:3], env=env) as ours,
        server("trivial-paired", *servers["trivial"][:3], env=env) as ceiling,
    ):
        for base in (ours, ceiling):
            for body in bodies.values():
                wrk(base, body, 1, "warm-up")
        for k in range(rounds):
            for scenario, body in bodies.items():
                for name, base in (("leadml", ours), ("trivial", ceiling)):
                    _say(f"  paired round {k + 1}/{rounds}: {name}, {scenario}")
                    rps[scenario][name].append(wrk(base, body, seconds, f"paired-{name}")["rps"])
    return rps


def report(results, inproc, seconds, workers, paired) -> None:
    print(f"\nScoring API on loopback, wrk -t1 -c{CLIENTS} -d{seconds}s per row; "
          f"demo model with {inproc['trees']} trees; {workers} worker process(es) per server "
          f"on {os.cpu_count()} cores\n")  # fmt: skip
    header = (
        f"{'server':<9} {'scenario':<24} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>9} {'leads/s':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, rows in results.items():
        for scenario, r in rows.items():
            print(f"{name:<9} {scenario:<24} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                  f"{r['rps']:>9,.0f} {r['leads_s']:>10,.0f}")  # fmt: skip
    ours, fast = results["leadml"], results["fastapi"]
    single = ours["single, no reasons"]
    one = paired["single, no reasons"]
    vs_trivial = statistics.median(one["leadml"]) / statistics.median(one["trivial"])
    vs_fastapi = single["rps"] / fast["single, no reasons"]["rps"]
    batch_vs_fastapi = (
        ours["batch 1000, no reasons"]["leads_s"] / fast["batch 1000, no reasons"]["leads_s"]
    )

    def runs(scenario: str, per: int) -> str:
        pairs = zip(paired[scenario]["leadml"], paired[scenario]["trivial"], strict=True)
        return ", ".join(f"{a * per:,.0f}/{b * per:,.0f}" for a, b in pairs)

    leads = paired[PAIRED_BATCH]
    batch = 1000 * statistics.median(leads["leadml"])
    batch_vs_trivial = statistics.median(leads["leadml"]) / statistics.median(leads["trivial"])
    print(f"\nboth servers up, measured in turn three times (leadml/trivial):"
          f"\n  single lead without reasons, req/s: {runs('single, no reasons', 1)}"
          f"\n  batch of 1,000 without reasons, leads/s: {runs(PAIRED_BATCH, 1000)}"
          f"\n  single lead: {vs_trivial:.2f} x the trivial endpoint's requests/s (medians); "
          f"{vs_fastapi:.1f} x FastAPI + pandas; batches of 1,000: {batch:,.0f} leads/s (median), "
          f"{batch_vs_trivial:.2f} x the trivial endpoint, "
          f"{batch_vs_fastapi:.1f} x FastAPI's leads/s")  # fmt: skip
    print("\nIn-process (median):")
    print(f"  one lead, API core (no reasons)          {inproc['one_lead_ms']:.3f} ms")
    print(f"  one lead, JSON validation + core         {inproc['one_lead_request_ms']:.3f} ms")
    print(f"  one lead with 3 reasons                  {inproc['one_lead_reasons_ms']:.3f} ms")
    print(
        f"  one lead, sklearn pipeline on pandas     {inproc['pandas_pipeline_one_lead_ms']:.3f} ms"
    )
    print(f"  reasons for 1,000 leads                  {inproc['reasons_1000_ms']:.1f} ms "
          f"(LightGBM pred_contrib alone: {inproc['pred_contrib_1000_ms']:.1f} ms)")  # fmt: skip
    print(f"  contributions vs pred_contrib: max |diff| {inproc['contrib_max_abs_diff']:.1e}, "
          f"top-3 identical for {inproc['top3_agreement']:.1%} of leads")  # fmt: skip
    batch_reasons = ours["batch 1000, reasons"]["leads_s"]
    one, reasons_ms, agree = (
        inproc["one_lead_ms"],
        inproc["reasons_1000_ms"],
        inproc["top3_agreement"],
    )
    checks = [
        (f"single lead >= {VS_TRIVIAL:.0%} of trivial req/s", vs_trivial >= VS_TRIVIAL,
         f"{vs_trivial:.2f}"),
        (f"single lead >= {VS_FASTAPI:.0f} x FastAPI req/s", vs_fastapi >= VS_FASTAPI,
         f"{vs_fastapi:.1f}"),
        (f"p50 <= {P50_MS} ms at {CLIENTS} clients", single["p50_ms"] <= P50_MS,
         f"{single['p50_ms']:.2f}"),
        (f"p99 <= {P99_MS} ms at {CLIENTS} clients", single["p99_ms"] <= P99_MS,
         f"{single['p99_ms']:.2f}"),
        (f"batch 1000 >= {BATCH_LEADS_S:,} leads/s (median of the paired runs)",
         batch >= BATCH_LEADS_S, f"{batch:,.0f}"),
        (f"batch 1000 with reasons >= {BATCH_REASONS_LEADS_S:,} leads/s",
         batch_reasons >= BATCH_REASONS_LEADS_S, f"{batch_reasons:,.0f}"),
        (f"one lead in-process <= {ONE_LEAD_MS} ms", one <= ONE_LEAD_MS, f"{one:.3f}"),
        (f"reasons for 1,000 <= {REASONS_1000_MS:.0f} ms", reasons_ms <= REASONS_1000_MS,
         f"{reasons_ms:.1f}"),
        (f"top-3 reasons agree >= {TOP3_AGREEMENT:.0%}", agree >= TOP3_AGREEMENT,
         f"{agree:.1%}"),
    ]  # fmt: skip
    print("\nTargets:")
    for label, ok, value in checks:
        print(f"  {'pass' if ok else 'FAIL'}  {label}  ({value})")
    summary = {
        "servers": results,
        "in_process": inproc,
        "workers": workers,
        "paired_rps": paired,
        "ratios": {
            "single_vs_trivial": vs_trivial,
            "batch1000_vs_trivial": batch_vs_trivial,
            "single_vs_fastapi": vs_fastapi,
            "batch1000_vs_fastapi": batch_vs_fastapi,
        },
        "targets": {label: ok for label, ok, _ in checks},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
