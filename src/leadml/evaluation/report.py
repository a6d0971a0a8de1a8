"""The quarterly review page: the model beside the agreed rules on leads whose outcome is known,
as one self-contained HTML file (no script, font or image fetched), plus a per-lead CSV."""

from __future__ import annotations

import base64
import html
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from leadml.data.check import CheckedLeads
from leadml.data.outputs import write_files
from leadml.evaluation import metrics as evaluate
from leadml.evaluation import plots
from leadml.evaluation.capacity import CapacityUse, capacity_use, weeks_and_capacity
from leadml.scoring.encoding import LeadEncoder
from leadml.scoring.lead_model import LeadModel
from leadml.spec.config import CapacityConfig

TOP_DISAGREEMENTS = 10
LEAD_COLUMNS = [
    "lead_id", "probability", "band", "sales_ready", "rules_points", "rules_probability",
    "rules_sales_ready", "agreement", "outcome",
]  # fmt: skip
AGREEMENT_CELLS = {
    "both": ("model yes", "rules yes"),
    "model_only": ("model yes", "rules no"),
    "rules_only": ("model no", "rules yes"),
    "neither": ("model no", "rules no"),
}


@dataclass
class Comparison:
    """Everything the page shows, computed once (the HTML only formats it)."""

    leads: pd.DataFrame  # one row per lead: LEAD_COLUMNS, reasons and fired rules
    model: dict[str, float]
    rules: dict[str, float]
    capacity: int
    weekly: bool
    bands: dict[str, pd.DataFrame]
    rule_review: pd.DataFrame
    features: pd.DataFrame
    drift: pd.DataFrame | None
    title: str
    capacity_use: CapacityUse | None = None  # None: not measured (a Comparison made by hand)
    notes: tuple[str, ...] = ()  # said under the title: how the model was split, ...

    def agreement_table(self) -> pd.DataFrame:
        """Leads and observed conversion per cell of model verdict x rules verdict."""
        rows = []
        for cell, (model, rules) in AGREEMENT_CELLS.items():
            part = self.leads[self.leads["agreement"] == cell]
            rows.append(
                {
                    "cell": cell,
                    "model": model,
                    "rules": rules,
                    "leads": len(part),
                    "sales_ready": int(part["outcome"].sum()),
                    "conversion": float(part["outcome"].mean()) if len(part) else float("nan"),
                }
            )
        return pd.DataFrame(rows)


def compare(
    lead_model: LeadModel,
    checked: CheckedLeads,
    title: str = "",
    *,
    capacity: CapacityConfig | None = None,
    notes: tuple[str, ...] = (),
) -> Comparison:
    """Score leads with known outcomes by the model and the rules, and line them up; sales
    capacity as the model was trained with, unless `capacity` is given."""
    y = np.asarray(checked.y, dtype=np.int64)
    scored = lead_model.score_checked(checked, reasons=3)
    scored["outcome"] = y
    capacity_config = capacity or CapacityConfig(**lead_model.info.capacity)
    weeks, per_week = weeks_and_capacity(checked.frame, capacity_config)
    p, rp = scored["probability"].to_numpy(), scored["rules_probability"].to_numpy()
    timestamps = checked.frame.get("__timestamp__")
    encoded = LeadEncoder(lead_model.spec).transform(checked.frame)
    return Comparison(
        leads=scored,
        model=evaluate.score_metrics(y, p, weeks, per_week),
        rules=evaluate.score_metrics(y, rp, weeks, per_week),
        capacity=per_week,
        weekly=capacity_config.share is None and timestamps is not None,
        bands={
            "leadml model": evaluate.band_table(y, p, lead_model.bands),
            "agreed rules": evaluate.band_table(y, rp, lead_model.bands),
        },
        rule_review=_rule_review(lead_model, encoded, y),
        features=_feature_table(lead_model),
        drift=None if timestamps is None else _drift(timestamps, y, p, rp),
        title=title or lead_model.info.name,
        capacity_use=capacity_use(weeks, per_week),
        notes=notes,
    )


def _rule_review(lead_model: LeadModel, encoded: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Per agreed rule: leads it fires on, their conversion against the others', and the
    model's mean contribution from the rule's feature on those leads."""
    spec = lead_model.spec
    contrib = lead_model.scorer.contributions(encoded)[:, :-1]
    fired = lead_model.rules.score_encoded(encoded, spec).fired
    review = []
    for i, rule in enumerate(lead_model.rules.rules):
        fires = fired[:, i]
        j = spec.names.index(rule.feature)
        review.append(
            {
                "rule": rule.name,
                "description": rule.description,
                "points": rule.points,
                "leads": int(fires.sum()),
                "conversion_when_fired": float(y[fires].mean()) if fires.any() else np.nan,
                "conversion_otherwise": float(y[~fires].mean()) if (~fires).any() else np.nan,
                "model_contribution": float(contrib[fires, j].mean()) if fires.any() else np.nan,
            }
        )
    return pd.DataFrame(review)


def _feature_table(lead_model: LeadModel) -> pd.DataFrame:
    """Each feature with its owner, sign-offs and share of the model's importance."""
    importance = lead_model.scorer.importance()
    return pd.DataFrame(
        [
            {
                "feature": f.name,
                "description": f.description,
                "owner": f.owner,
                "known_at": f.known_at,
                "sales": _signoff(f, "sales"),
                "marketing": _signoff(f, "marketing"),
                "importance": importance.get(f.name, 0.0),
            }
            for f in lead_model.spec.features
        ]
    ).sort_values("importance", ascending=False)


def _drift(timestamps: pd.Series, y: np.ndarray, p: np.ndarray, rp: np.ndarray) -> pd.DataFrame:
    """Per month: leads, observed conversion, and the mean score of the model and the rules."""
    month = timestamps.dt.strftime("%Y-%m").to_numpy()
    return (
        pd.DataFrame({"month": month, "outcome": y, "model": p, "rules": rp})
        .groupby("month", sort=True)
        .agg(
            leads=("outcome", "size"),
            conversion=("outcome", "mean"),
            model=("model", "mean"),
            rules=("rules", "mean"),
        )
        .reset_index()
    )


def _signoff(feature, team: str) -> str:
    s = feature.review.get(team)
    return f"{s.by}, {s.when} (v{s.version})" if s else "missing"


def write_leads_csv(comparison: Comparison, path: str | Path) -> Path:
    """The per-lead table a CRM or a spreadsheet can import (the file appears when complete)."""
    out = Path(path)
    write_files({out: lambda tmp: _leads_csv(comparison, tmp)})
    return out


def _leads_csv(comparison: Comparison, path: Path) -> None:
    columns = LEAD_COLUMNS + [c for c in comparison.leads if c.startswith("reason_")]
    comparison.leads[[*columns, "rules_fired"]].to_csv(path, index=False)


# --- the page ------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f}%"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame, percent: tuple[str, ...] = (), digits: int = 3) -> str:
    def cell(col: str, v) -> str:
        if isinstance(v, float | np.floating):
            if col in percent:
                return _pct(float(v))
            return f"{v:.0f}" if float(v).is_integer() else f"{v:.{digits}f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c).replace('_', ' '))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{cell(c, v)}</td>" for c, v in zip(frame.columns, r, strict=True))
        + "</tr>"
        for r in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _grid(agree: pd.DataFrame) -> str:
    """The 2x2 table: model verdict across, rules verdict down; leads and conversion per cell."""
    cells = agree.set_index("cell")

    def cell(name: str) -> str:
        row = cells.loc[name]
        return (
            f"<td><b>{int(row['leads']):,}</b> leads<br>{_pct(row['conversion'])} became "
            f"sales-ready</td>"
        )

    return (
        '<table class="grid"><thead><tr><th></th><th>model: sales-ready</th>'
        "<th>model: not sales-ready</th></tr></thead><tbody>"
        f"<tr><th>rules: sales-ready</th>{cell('both')}{cell('rules_only')}</tr>"
        f"<tr><th>rules: not sales-ready</th>{cell('model_only')}{cell('neither')}</tr>"
        "</tbody></table>"
    )


CSS = """
body { font-family: sans-serif; max-width: 60rem; margin: 2rem auto; color: #222;
       line-height: 1.45; }
h1 { font-size: 1.6rem; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
p.lead { font-size: 1.1rem; } img { max-width: 100%; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } .small { color: #555; font-size: .85rem; }
@media print {
  body { margin: 0; max-width: none; } h2 { break-after: avoid; }
  img, table { break-inside: avoid; }
}
"""


def render_html(c: Comparison) -> str:
    """The page: plain words first, numbers after."""
    n, sales_ready = len(c.leads), int(c.leads["outcome"].sum())
    per = "a week" if c.weekly else "in this data"
    m, r = c.model, c.rules
    agree = c.agreement_table()
    model_only = agree.set_index("cell").loc["model_only"]
    rules_only = agree.set_index("cell").loc["rules_only"]
    headline = (
        f"{n:,} leads, of which {sales_ready:,} became sales-ready ({_pct(sales_ready / n)}). "
        f"Of the {c.capacity:,} leads sales can work {per}, the model's picks converted at "
        f"{_pct(m['precision_at_capacity'])}, the agreed rules' picks at "
        f"{_pct(r['precision_at_capacity'])}; the model's picks found "
        f"{_pct(m['recall_at_capacity'])} of all sales-ready leads, the rules' "
        f"{_pct(r['recall_at_capacity'])}."
    )
    disagree = (
        f"Leads the rules rejected but the model picked ({int(model_only['leads']):,}) converted "
        f"at {_pct(model_only['conversion'])}; leads the rules picked but the model rejected "
        f"({int(rules_only['leads']):,}) converted at {_pct(rules_only['conversion'])}."
    )
    if c.capacity_use is not None and not c.capacity_use.binds:
        headline += (
            f" But capacity does not bind here: {c.capacity_use.describe('these leads')}. "
            "Read the ranking (gains, AUC) and the calibration instead."
        )
    calibration = (
        f"When the model says a probability, it is off by {100 * m['ece']:.1f} percentage points "
        f"on average (calibration error); the rules' points, read as probabilities, are off by "
        f"{100 * r['ece']:.1f} points."
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        y = c.leads["outcome"].to_numpy()
        curves = {
            "leadml model": (y, c.leads["probability"].to_numpy()),
            "agreed rules": (y, c.leads["rules_probability"].to_numpy()),
        }
        share = min(1.0, m["leads_worked"] / max(1, n))
        charts = {
            "calibration": _img(plots.calibration_plot(curves, folder / "cal.png"), "calibration"),
            "bands": _img(plots.band_plot(c.bands, folder / "bands.png"), "conversion per band"),
            "gains": _img(plots.gains_plot(curves, share, folder / "gains.png"), "gains and lift"),
            "importance": _img(
                plots.importance_plot(
                    dict(zip(c.features["feature"], c.features["importance"], strict=True)),
                    folder / "imp.png",
                ),
                "feature importance",
            ),
        }
        if c.drift is not None:
            charts["drift"] = _img(plots.drift_plot(c.drift, folder / "drift.png"), "drift")
    tops = []
    for cell, key, label in (
        ("model_only", "probability", "The model picked, the rules rejected"),
        ("rules_only", "rules_points", "The rules picked, the model rejected"),
    ):
        part = c.leads[c.leads["agreement"] == cell].sort_values(key, ascending=False)
        part = part.head(TOP_DISAGREEMENTS)
        reason_columns = [c for c in part if c.startswith("reason_")]
        shown = part[["lead_id", "probability", "rules_points", "outcome"]].assign(
            outcome=np.where(part["outcome"] == 1, "sales-ready", "not"),
            model_reasons=[
                "; ".join(map(str, r)) for r in part[reason_columns].itertuples(index=False)
            ],
            rules_fired=[str(f).replace(";", ", ") for f in part["rules_fired"]],
        )
        tops.append(f"<h3>{label} (top {len(part)})</h3>" + _table(shown, ("probability",)))
    review = c.rule_review.assign(model_contribution=c.rule_review["model_contribution"].round(3))
    drift_html = ""
    if c.drift is not None:
        drift_html = (
            "<h2>Drift over time</h2><p>Conversion and the mean predicted probability per month: "
            "a shift in the base rate shows here first.</p>"
            + charts["drift"]
            + _table(c.drift, ("conversion", "model", "rules"))
        )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(c.title)}: model vs agreed rules</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(c.title)}: the model beside the agreed rules</h1>
<p class="small">Generated {generated}. Every number is measured on leads whose outcome
is known.</p>{"".join(f'<p class="small">{html.escape(note)}</p>' for note in c.notes)}
<h2>Headline</h2>
<p class="lead">{headline}</p><p class="lead">{disagree}</p><p class="lead">{calibration}</p>
<h2>Does "30%" mean 30%?</h2>
<p>Each point is a tenth of the leads, ordered by score: what was promised (across) against what
happened (up), with a 95% interval. On the diagonal, the probabilities mean what they say.</p>
{charts["calibration"]}{charts["bands"]}
{_table(c.bands["leadml model"].assign(scorer="model"), ("conversion", "mean_probability"))}
{_table(c.bands["agreed rules"].assign(scorer="rules"), ("conversion", "mean_probability"))}
<h2>Gains and lift</h2>
<p>Share of all sales-ready leads found when working the best-scored leads first; the line marks
what sales can work.</p>{charts["gains"]}
<h2>Where the model and the rules agree</h2>
<p>{disagree}</p>{_grid(agree)}{_table(agree, ("conversion",))}
<h2>Where they disagree, and who was right</h2>{"".join(tops)}
<h2>What the rules could learn</h2>
<p>For each agreed rule: its points, how often it fires, how those leads converted (and the
others), and the model's average contribution of the same feature for those leads (log-odds;
positive raises the probability). A rule with many points but a small or negative model
contribution may over-weight its signal.</p>
{_table(review, ("conversion_when_fired", "conversion_otherwise"))}
<h2>Feature review sheet</h2>
<p>Every feature the model reads, who owns it, when its value is known, both teams' sign-offs,
and its share of the model's importance.</p>
{charts["importance"]}{_table(c.features, ("importance",))}
{drift_html}
</body></html>
"""


def write_report(comparison: Comparison, path: str | Path) -> Path:
    """The page alone (the file appears when complete)."""
    out = Path(path)
    page = render_html(comparison)
    write_files({out: lambda tmp: tmp.write_text(page, encoding="utf-8")})
    return out


def write_comparison(
    comparison: Comparison, page: str | Path, csv: str | Path
) -> tuple[Path, Path]:
    """The page and the per-lead CSV, which appear together or not at all: both are written
    beside their destinations and renamed into place only when both are complete."""
    html_text = render_html(comparison)
    page_path, csv_path = Path(page), Path(csv)
    write_files(
        {
            page_path: lambda tmp: tmp.write_text(html_text, encoding="utf-8"),
            csv_path: lambda tmp: _leads_csv(comparison, tmp),
        }
    )
    return page_path, csv_path
