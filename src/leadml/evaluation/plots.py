"""Charts for sales and marketing: calibration, gains at capacity, what drives the model, bands.

Figures are built with `matplotlib.figure.Figure` (no pyplot, no global state, Agg rendering), so
they are safe to draw from any thread and need no closing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from leadml.evaluation.metrics import (
    calibration_curve_points,
    expected_calibration_error,
    gains_curve,
)
from leadml.scoring.bands import BANDS

DPI = 120


def _percent() -> PercentFormatter:
    return PercentFormatter(xmax=1)  # one per axis: matplotlib formatters cannot be shared


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=DPI, bbox_inches="tight")
    return out


def _check_curves(curves: Mapping[str, tuple[Any, Any]]) -> None:
    if not curves:
        raise ValueError("nothing to plot: give at least one scorer, e.g. {'leadml model': (y, p)}")


def calibration_plot(
    curves: Mapping[str, tuple[Any, Any]], path: str | Path, bins: int = 10
) -> Path:
    """Reliability diagram: promised vs actual conversion per equal-mass bin, per scorer."""
    _check_curves(curves)
    fig = Figure(figsize=(7, 6))
    ax = fig.subplots()
    top = 0.0
    for name, (y, p) in curves.items():
        points = calibration_curve_points(y, p, bins=bins)
        ece = expected_calibration_error(y, p, bins=bins)
        yerr = np.vstack(
            [points["observed"] - points["low"], points["high"] - points["observed"]]
        ).clip(min=0)
        ax.errorbar(
            points["mean_predicted"],
            points["observed"],
            yerr=yerr,
            marker="o",
            capsize=3,
            label=f"{name}, ECE {ece:.1%}",
        )
        top = max(top, float(points["high"].max()), float(points["mean_predicted"].max()))
    top = min(1.0, top * 1.05 + 0.01)
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfectly calibrated")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.xaxis.set_major_formatter(_percent())
    ax.yaxis.set_major_formatter(_percent())
    ax.set_xlabel("Predicted chance of becoming sales-ready")
    ax.set_ylabel("Share of these leads that became sales-ready")
    ax.set_title(
        f"Do the scores mean what they say?\n"
        f"(leads grouped into {bins} equal-sized groups by score; bars: 95% range)"
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", title="ECE: average gap, predicted vs actual")
    return _save(fig, path)


def gains_plot(
    curves: Mapping[str, tuple[Any, Any]], capacity_share: float, path: str | Path
) -> Path:
    """Cumulative gains and lift, with sales capacity (share of leads they can work) marked."""
    _check_curves(curves)
    if not 0 <= capacity_share <= 1:
        raise ValueError(f"capacity_share must be a share in [0, 1], got {capacity_share}")
    fig = Figure(figsize=(13, 5.5))
    gains_ax, lift_ax = fig.subplots(1, 2)
    for name, (y, p) in curves.items():
        worked, found = gains_curve(y, p)
        at_capacity = float(np.interp(capacity_share, worked, found))
        label = f"{name} ({at_capacity:.0%} found at capacity)"
        (line,) = gains_ax.plot(worked, found, label=label)
        start = max(0.01, 1 / (len(worked) - 1))  # lift over the first few leads is noise
        mask = worked >= start
        lift_ax.plot(worked[mask], found[mask] / worked[mask], color=line.get_color(), label=name)
    gains_ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random order")
    lift_ax.axhline(1, linestyle="--", color="grey", label="random order")
    for ax in (gains_ax, lift_ax):
        ax.axvline(capacity_share, color="black", linestyle=":", label="sales capacity")
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(_percent())
        ax.set_xlabel("Share of leads worked (best scores first)")
        ax.grid(alpha=0.3)
    gains_ax.set_ylim(0, 1)
    gains_ax.yaxis.set_major_formatter(_percent())
    gains_ax.set_ylabel("Share of all sales-ready leads found")
    gains_ax.set_title("How many sales-ready leads sales would reach")
    gains_ax.legend(loc="lower right")
    lift_ax.set_ylim(bottom=0)
    lift_ax.set_ylabel("Lift: times better than working leads at random")
    lift_ax.set_title("How much better than random")
    lift_ax.legend(loc="upper right")
    return _save(fig, path)


def importance_plot(
    importance: Mapping[str, float], path: str | Path, title: str = "What drives the model"
) -> Path:
    """Horizontal bars, the most important feature at the top."""
    return _save(importance_figure(importance, title), path)


def importance_figure(
    importance: Mapping[str, float], title: str = "What drives the model"
) -> Figure:
    """`importance_plot`'s figure: shares of the model's importance, on a percent axis (as the
    review sheet's table beside it)."""
    if not importance:
        raise ValueError("nothing to plot: importance is empty")
    items = sorted(importance.items(), key=lambda kv: kv[1])  # ascending: barh draws bottom-up
    names = [str(name) for name, _ in items]
    values = [float(value) for _, value in items]
    fig = Figure(figsize=(8, max(3.0, 0.35 * len(items) + 1.5)))
    ax = fig.subplots()
    ax.barh(names, values, color="tab:blue")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.xaxis.set_major_formatter(_percent())
    ax.set_xlabel("Share of the model's importance (longer bar: the feature moves scores more)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def band_plot(tables: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """Conversion per band A-D, one bar per scorer, annotated with sales-ready and total leads.

    Each table is an `evaluate.band_table` result (columns band, leads, sales_ready, conversion).
    """
    return _save(band_figure(tables), path)


def band_figure(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """`band_plot`'s figure. Each bar's label ("1,234 of 5,678") is written upright across the
    bar's top when it fits the bar's width, else turned along it, so labels never overlap."""
    if not tables:
        raise ValueError("nothing to plot: give at least one band table")
    needed = {"band", "leads", "sales_ready", "conversion"}
    for name, table in tables.items():
        missing = needed - set(table.columns)
        if missing:
            raise ValueError(f"band table {name!r} lacks columns {sorted(missing)}")
    fig = Figure(figsize=(max(8.0, 2.2 * len(tables) + 5), 5.5))
    ax = fig.subplots()
    x = np.arange(len(BANDS))
    width = 0.8 / len(tables)
    rows_of = {n: t.set_index("band").reindex(list(BANDS)) for n, t in tables.items()}
    labels_of = {
        name: [
            f"{int(ready):,}\nof {int(leads):,}" if leads > 0 else "no\nleads"
            for ready, leads in zip(
                rows["sales_ready"].fillna(0), rows["leads"].fillna(0), strict=True
            )
        ]
        for name, rows in rows_of.items()
    }
    longest = max(
        len(line) for labels in labels_of.values() for t in labels for line in t.split("\n")
    )
    # a bar is width / (len(BANDS) + 0.2) of the axis; the axis about 80% of the figure; a
    # character at 8 points about 0.075 inch wide (with a margin)
    bar_inches = fig.get_figwidth() * 0.8 * width / (len(BANDS) + 0.2)
    upright = longest * 0.075 <= bar_inches * 0.95
    rotation = 0 if upright else 90
    top = 0.0
    for i, (name, rows) in enumerate(rows_of.items()):
        conversion = rows["conversion"].astype(float).to_numpy()
        positions = x - 0.4 + width * (i + 0.5)
        bars = ax.bar(positions, np.nan_to_num(conversion), width=width, label=name)
        labels = labels_of[name] if upright else [t.replace("\n", " ") for t in labels_of[name]]
        ax.bar_label(bars, labels=labels, padding=2, fontsize=8, rotation=rotation)
        top = max(top, float(np.nanmax(conversion, initial=0.0)))
    ax.set_xlim(-0.6, len(BANDS) - 0.4)
    ax.set_xticks(x, [f"Band {band}" for band in BANDS])
    ax.set_ylim(0, top * (1.25 if upright else 1.6) + 0.02)  # room for the labels
    ax.set_yticks([tick for tick in ax.get_yticks() if 0 <= tick <= 1])
    ax.yaxis.set_major_formatter(_percent())
    ax.set_ylabel("Share of leads that became sales-ready")
    ax.set_title("Conversion by band (labels: sales-ready leads of all leads in the band)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(title="Scorer", loc="upper right")
    return fig


def drift_plot(drift: pd.DataFrame, path: str | Path) -> Path:
    """Per period (the first column: a month, or a tenth of the leads in the data's order):
    observed conversion beside the model's and the rules' mean probability, with the number of
    leads as bars, so a shift in the base rate is seen, not guessed."""
    return _save(drift_figure(drift), path)


def drift_figure(drift: pd.DataFrame) -> Figure:
    """`drift_plot`'s figure; the legend sits below the axes, never over the points."""
    fig = Figure(figsize=(11, 5.5))
    ax = fig.subplots()
    period = str(drift.columns[0])
    periods = drift[period].astype(str).tolist()
    x = np.arange(len(periods))
    counts = ax.twinx()
    counts.bar(x, drift["leads"], color="#dddddd", label="leads")
    counts.set_ylabel("Leads")
    ax.set_zorder(counts.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(x, drift["conversion"], marker="o", color="black", label="observed conversion")
    ax.plot(x, drift["model"], marker=".", label="model: mean probability")
    ax.plot(x, drift["rules"], marker=".", linestyle="--", label="rules: mean probability")
    step = max(1, len(periods) // 12)
    ax.set_xticks(x[::step], periods[::step], rotation=45, ha="right")
    ax.yaxis.set_major_formatter(_percent())
    ax.set_ylim(bottom=0)
    ax.set_ylabel("Conversion / mean predicted probability")
    ax.set_title(f"Conversion and predicted probability per {period.replace('_', ' ')}")
    handles = ax.get_legend_handles_labels()[0] + counts.get_legend_handles_labels()[0]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(handles),
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
    )
    fig.subplots_adjust(bottom=0.26)
    ax.grid(alpha=0.3)
    return fig
