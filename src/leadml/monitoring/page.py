"""The monitor's page (`leadml monitor --out page.html`): the alerts first, then calibration by
week and by band (charts) and by segment, drift, and the holdout; one self-contained HTML file in
the review page's style, with nothing fetched from the network."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from leadml.data.outputs import text_writer, write_files
from leadml.evaluation.drift import SHIFT
from leadml.evaluation.plots import DPI
from leadml.evaluation.report import CSS, html_table, png_img
from leadml.monitoring.monitor import MonitorReport


def _error_bars(frame: pd.DataFrame) -> np.ndarray:
    """The 95% interval around each rate as matplotlib's error bars (at a rate of 0 or 1 the
    interval's bound can miss the rate by a rounding step: never below zero)."""
    return np.vstack([frame["rate"] - frame["low"], frame["high"] - frame["rate"]]).clip(min=0)


def _calibration_chart(rows: list[dict[str, Any]], folder: Path) -> str:
    """Observed conversion per week with its 95% interval, beside the mean score."""
    if not rows:
        return ""
    frame = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    x = range(len(frame))
    _observed(ax, x, frame)
    ax.plot(x, frame["mean_probability"], "s--", label="mean score (expected)")
    ax.set_xticks(list(x), frame["group"], rotation=45, ha="right")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1))
    ax.set_ylabel("sales-ready")
    return _image(fig, ax, folder / "weeks.png", "per week against the mean score")


def _band_chart(rows: list[dict[str, Any]], folder: Path) -> str:
    """Each band's observed conversion, with its 95% interval, against its mean score: on the
    diagonal, "30%" meant 3 in 10."""
    if not rows:
        return ""
    frame = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    top = min(1.0, 1.1 * float(max(frame["high"].max(), frame["mean_probability"].max())))
    ax.plot([0, top], [0, top], ":", color="grey", label="as scored")
    _observed(ax, frame["mean_probability"], frame)
    for band, x, y in zip(frame["group"], frame["mean_probability"], frame["rate"], strict=True):
        ax.annotate(f" {band}", (x, y), fontsize=9)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1))
    ax.set_xlabel("mean score (expected)")
    ax.set_ylabel("sales-ready (observed)")
    return _image(fig, ax, folder / "bands.png", "per band against its mean score")


def _observed(ax, x, frame: pd.DataFrame) -> None:
    """The observed rates at `x`, with their 95% intervals."""
    ax.errorbar(x, frame["rate"], yerr=_error_bars(frame), fmt="o", label="observed (95% interval)")


def _image(fig, ax, path: Path, what: str) -> str:
    """The chart, with its legend, as an embedded PNG ("Observed conversion {what}")."""
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return png_img(path, f"Observed conversion {what}")


def _groups(rows: list[dict[str, Any]]) -> str:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return "<p class='small'>No matured lead.</p>"
    shown = frame[["group", "leads", "expected", "observed", "rate", "low", "high",
                   "mean_probability"]]  # fmt: skip
    return html_table(
        shown.rename(columns={"mean_probability": "mean score"}),
        percent=("rate", "low", "high", "mean score"),
        digits=1,
        highlight=frame["outside"].tolist(),
    )


def render(report: MonitorReport, chart: str, band_chart: str = "") -> str:
    p, leads, cal = report.period, report.leads, report.calibration
    alerts = "".join(f"<li class='warn'>{html.escape(a)}</li>" for a in report.alerts)
    test = cal["sequential_test"]
    drift = report.drift
    if drift.get("recorded"):
        psi = pd.DataFrame(sorted(drift["features"].items(), key=lambda kv: -kv[1]),
                           columns=["feature", "PSI"])  # fmt: skip
        score = "-" if drift["score_psi"] is None else f"{drift['score_psi']:.2f}"
        drift_html = (
            f"<p>Population stability index against {html.escape(p.get('drift_against', ''))}'s "
            f"training window, {drift['leads']:,} leads; scores against its test window: "
            f"{score}. Above "
            f"{SHIFT} (highlighted): a major shift.</p>"
            + html_table(psi, digits=3, highlight=(psi["PSI"] > SHIFT).tolist())
        )
    else:
        drift_html = f"<p class='small'>Not measured: {html.escape(drift['why'])}.</p>"
    held = report.holdout
    if held is None:
        holdout_html = "<p class='small'>No matured holdout lead (LEADML_HOLDOUT sets a share).</p>"
    else:
        sides = pd.DataFrame(
            [{"picked by": k, **{x: held[k][x] for x in ("picked", "converted", "rate", "low",
                                                         "high")}} for k in ("model", "rules")]
        )  # fmt: skip
        diff = held["difference"]
        holdout_html = (
            f"<p>{held['leads']:,} matured leads the CRM routed by the agreed rules alone: "
            "which side's picks converted better, measured without the model choosing who was "
            "worked.</p>"
            + html_table(sides, percent=("rate", "low", "high"))
            + (
                f"<p>Difference: {diff['rate']:+.1%} ({diff['low']:+.1%} to "
                f"{diff['high']:+.1%}, 95%).</p>"
                if diff
                else ""
            )
        )
    segments = "".join(
        f"<h3>by {html.escape(name)}</h3>{_groups(rows)}"
        for name, rows in cal["by_segment"].items()
    )
    model = html.escape(p.get("model", ""))
    log = html.escape(str(p.get("score_log", "")))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>leadml monitor: {model}</title>
<style>{CSS}</style></head><body>
<h1>{model}: live scores against outcomes</h1>
<p class="lead">{leads["scored"]:,} leads scored, {leads["matured"]:,} matured,
{leads["maturing"]:,} still maturing. {cal["observed"]:,} became sales-ready against
{cal["expected"]:,.1f} expected.</p>
<p class="small">Period {html.escape(str(p.get("since") or "start"))} to
{html.escape(str(p.get("until") or "now"))}; score log {log}.</p>
<h2>Alerts</h2>{f"<ul>{alerts}</ul>" if alerts else "<p>None.</p>"}
<h2>Calibration</h2>
<p>{html.escape(test["test"])}, false-alarm rate {test["alpha"]}:
{"<b class='warn'>alert</b>" if test["alert"] else "no alert"} (observed minus expected
{test["observed_minus_expected"]:+,.1f}). Rows whose mean score lies outside the observed
rate's 95% interval are highlighted.</p>
{chart}
<h3>by week</h3>{_groups(cal["by_week"])}
<h3>by band</h3>{band_chart}{_groups(cal["by_band"])}
{segments}
<h2>Drift</h2>{drift_html}
<h2>The holdout</h2>{holdout_html}
</body></html>
"""


def write_page(report: MonitorReport, out: Path) -> Path:
    """The page (the file appears when complete)."""
    with tempfile.TemporaryDirectory() as tmp:
        chart = _calibration_chart(report.calibration["by_week"], Path(tmp))
        bands = _band_chart(report.calibration["by_band"], Path(tmp))
        page = render(report, chart, bands)
    write_files({out: text_writer(page)})
    return out
