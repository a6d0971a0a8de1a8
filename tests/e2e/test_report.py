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
    return out, folder / "review.csv", result.output


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


def _words(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_the_page_states_the_cut_offs_and_the_open_leads_left_out(report):
    page, csv = _words(report[0].read_text()), pd.read_csv(report[1])
    found = re.search(r"Excluded ([\d,]+) lead\(s\): outcome still open", report[2])
    left_out = found.group(1) if found else "0"
    assert f"{left_out} lead(s) whose outcome is still open were left out" in page
    threshold = re.search(r"sales-ready at a probability of (\d+\.\d)% or more", page)
    assert threshold, page[:2000]
    assert "the agreed rules at 40 points or more (sales_ready_points)" in page
    assert "A from 50.0% and up; B from 25.0% to 50.0%; C from 10.0% to 25.0%; D below 10.0%" in (
        page
    )
    picked = csv[csv["sales_ready"] == 1]["probability"]
    assert picked.min() >= float(threshold.group(1)) / 100 - 0.0006
    model_n, rules_n = int(csv["sales_ready"].sum()), int(csv["rules_sales_ready"].sum())
    assert (
        f"the model (probability {threshold.group(1)}% or more) picked {model_n:,} leads; the "
        f"agreed rules (40 points or more) picked {rules_n:,} ." in page
    )
    assert ("At equal list sizes" in page) == (max(model_n, rules_n) > 1.5 * min(model_n, rules_n))


def test_reasons_are_short_labels_with_percentage_points(report):
    page, csv = report[0].read_text(), pd.read_csv(report[1])
    plain = re.compile(r"^[A-Z][^()]{2,60}: [+-]\d+(\.\d)? pts$")
    for column in ("reason_1", "reason_2", "reason_3"):
        bad = csv.loc[~csv[column].str.match(plain), column]
        assert bad.empty, bad.head().tolist()
    assert " raises the chance (" not in page and " lowers the chance (" not in page
    assert csv["reason_1"].str.contains("Capture form demo_request: +", regex=False).any()


def test_the_rules_review_is_in_percentage_points(report):
    page = report[0].read_text()
    section = page[
        page.index("<h2>What the rules could learn</h2>") : page.index(
            "<h2>Feature review sheet</h2>"
        )
    ]
    assert "log-odds" not in section and "model_contribution" not in section
    assert re.search(r"<td>[+-]\d+\.\d pts</td>", section)
    # the demo's whitepaper rule gives +5 points to leads that convert far less than the rest
    assert "<tr class='contradicts'><td>whitepaper_download</td><td>5</td>" in section


def test_the_per_lead_csv_is_rounded_and_trimmed(report):
    csv, text = pd.read_csv(report[1]), report[1].read_text()
    assert "rules_probability" not in csv.columns
    assert (csv["probability"].round(4) == csv["probability"]).all()
    assert len(text) / len(csv) < 250, len(text) / len(csv)  # 10.7 MB for 20k leads before: 535


def _pdf_pages(path) -> list[tuple[int, int]]:
    """Per page of a Chromium PDF: its text and image drawing operations."""
    import zlib

    data = path.read_bytes()
    objs = {int(m[1]): m[2] for m in re.finditer(rb"(\d+) 0 obj(.*?)endobj", data, re.S)}

    def stream(n: int) -> bytes:
        body = objs[n]
        m = re.search(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S)
        assert m, n
        return zlib.decompress(m[1]) if b"FlateDecode" in body[: m.start()] else m[1]

    pages = []
    for body in (b for _, b in sorted(objs.items()) if re.search(rb"/Type\s*/Page(?![s\w])", b)):
        refs = re.search(rb"/Contents\s*(\[[^\]]*\]|\d+ 0 R)", body)
        ids = [int(x) for x in re.findall(rb"(\d+) 0 R", refs[1])] if refs else []
        content = b"".join(stream(i) for i in ids)
        pages.append((len(re.findall(rb"T[Jj]\b", content)), len(re.findall(rb"\bDo\b", content))))
    return pages


def test_the_printed_page_has_no_blank_or_nearly_blank_page(report, tmp_path):
    """Printed to PDF by headless Chromium, every page but the last holds a chart or more than
    a heading's worth of text (a heading alone on a page was the defect)."""
    import shutil
    import subprocess

    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not installed (`make test` installs it)")
    pdf = tmp_path / "review.pdf"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         f"--user-data-dir={tmp_path / 'profile'}", f"--print-to-pdf={pdf}",
         report[0].as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    pages = _pdf_pages(pdf)
    assert len(pages) >= 5, pages
    thin = [i + 1 for i, (text, images) in enumerate(pages[:-1]) if not images and text < 100]
    assert thin == [], pages
