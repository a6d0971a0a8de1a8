"""`leadml compare`: the review page on demo leads with known outcomes, checked for its content,
its numbers against the per-lead CSV, bad input, and as a person sees it in headless Chromium."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadml.cli import app

from ..conftest import environ

pytestmark = pytest.mark.slow
SECTIONS = [
    "Headline",
    'Does "30%" mean 30%?',
    "Gains and lift",
    "Where the model and the rules agree",
    "Where they disagree, and who was right",
    "What the rules could learn",
    "Feature review sheet",
    "Drift over time",
]


@pytest.fixture(scope="module")
def report(registry, demo_frame, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    data = folder / "outcomes.parquet"
    demo_frame.tail(6000).to_parquet(data)
    out = folder / "review.html"
    with environ(MLFLOW_TRACKING_URI=registry):
        result = CliRunner().invoke(app, ["compare", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "at capacity the model's picks converted at" in result.output
    return out, folder / "review.csv"


def test_every_section_is_there_and_nothing_is_fetched(report):
    page = report[0].read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page, title
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert page.count('src="data:image/png;base64,') >= 5
    assert "Of the 40 leads sales can work a week, the model's picks converted at" in page


def test_agreement_table_equals_the_per_lead_csv(report):
    page, csv = report[0].read_text(), pd.read_csv(report[1])
    assert {"lead_id", "probability", "band", "rules_points", "sales_ready",
            "rules_sales_ready", "agreement", "outcome"} <= set(csv.columns)  # fmt: skip
    for cell, model, rules in (
        ("both", "model yes", "rules yes"),
        ("model_only", "model yes", "rules no"),
        ("rules_only", "model no", "rules yes"),
        ("neither", "model no", "rules no"),
    ):
        part = csv[csv["agreement"] == cell]
        assert part["sales_ready"].eq(model == "model yes").all()
        assert part["rules_sales_ready"].eq(rules == "rules yes").all()
        conversion = f"{100 * part['outcome'].mean():.1f}%" if len(part) else "n/a"
        row = (
            f"<tr><td>{cell}</td><td>{model}</td><td>{rules}</td><td>{len(part)}</td>"
            f"<td>{int(part['outcome'].sum())}</td><td>{conversion}</td></tr>"
        )
        assert row in page, row
        grid_cell = f"<td><b>{len(part):,}</b> leads<br>{conversion} became sales-ready</td>"
        assert grid_cell in page, grid_cell


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda f: f.drop(columns=["sales_ready"]), "sales_ready"),
        (lambda f: f.assign(sales_ready=f["sales_ready"].fillna(0).replace({1: 7})), "sales_ready"),
        (lambda f: f.drop(columns=["employees"]), "employees"),
    ],
    ids=["no outcomes", "outcome outside the label", "missing column"],
)
def test_bad_input_names_what_is_missing(registry, demo_frame, tmp_path, change, words):
    data = tmp_path / "bad.parquet"
    change(demo_frame.tail(500).copy()).to_parquet(data)
    with environ(MLFLOW_TRACKING_URI=registry):
        result = CliRunner().invoke(
            app, ["compare", "--data", str(data), "--out", str(tmp_path / "r.html")]
        )
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and words in result.output


def test_the_page_renders_in_chromium_offline_without_errors(report, tmp_path):
    """As a person sees it: headless Chromium loads the page with no network request and no
    script error, and a screenshot is saved (Debian's chromium, installed by `make test`)."""
    import base64
    import json
    import shutil
    import subprocess
    import time

    import httpx
    from httpx_ws import connect_ws

    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not installed (`make test` installs it)")
    proc = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
         "--remote-debugging-port=0", "--window-size=1280,2000", "about:blank"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if match := re.search(r"ws://127\.0\.0\.1:(\d+)/", line):
                port = int(match.group(1))
        assert port, "chromium did not open its DevTools port"
        pages = httpx.get(f"http://127.0.0.1:{port}/json/list").json()
        target = next(p for p in pages if p["type"] == "page")["webSocketDebuggerUrl"]
        requests, errors, loaded = [], [], False
        with httpx.Client() as client, connect_ws(target, client) as ws:
            ids = iter(range(1, 1000))

            def call(method: str, **params) -> dict:
                n = next(ids)
                ws.send_text(json.dumps({"id": n, "method": method, "params": params}))
                while True:
                    message = json.loads(ws.receive_text(timeout=60))
                    if message.get("id") == n:
                        return message.get("result", {})
                    note(message)

            def note(message: dict) -> None:
                nonlocal loaded
                method, params = message.get("method"), message.get("params", {})
                if method == "Network.requestWillBeSent":
                    requests.append(params["request"]["url"])
                elif method == "Runtime.exceptionThrown":
                    errors.append(params["exceptionDetails"].get("text"))
                elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                    errors.append(params["entry"]["text"])
                elif method == "Page.loadEventFired":
                    loaded = True

            for domain in ("Network", "Runtime", "Log", "Page"):
                call(f"{domain}.enable")
            call("Page.navigate", url=report[0].as_uri())
            while not loaded:
                note(json.loads(ws.receive_text(timeout=60)))
            shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            title = call("Runtime.evaluate", expression="document.title")["result"]["value"]
            headings = call(
                "Runtime.evaluate", expression="document.querySelectorAll('h2').length"
            )["result"]["value"]
    finally:
        proc.kill()
        proc.wait()
    png = base64.b64decode(shot["data"])
    (tmp_path / "report.png").write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    assert "model vs agreed rules" in title and headings == len(SECTIONS)
    outside = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert outside == [], outside
    assert errors == [], errors


def test_a_page_with_no_disagreement_of_one_kind(registry, demo_frame, tmp_path):
    """Few leads, none the model picks: empty sections render as empty tables, not errors."""
    from leadml.data import check_leads
    from leadml.registry import load_lead_model
    from leadml.report import compare, render_html

    with environ(MLFLOW_TRACKING_URI=registry):
        model, _ = load_lead_model("lead-qualifier", "champion")
    frame = demo_frame.tail(3000)
    checked = check_leads(frame, model.spec, require_label=True, unseen={})
    scored = model.score_checked(checked, reasons=0)
    keep = ~scored["sales_ready"].to_numpy()
    few = type(checked)(checked.frame[keep].reset_index(drop=True), checked.y[keep])
    comparison = compare(model, few)
    assert (comparison.leads["agreement"] == "model_only").sum() == 0
    page = render_html(comparison)
    assert "The model picked, the rules rejected (top 0)" in page
