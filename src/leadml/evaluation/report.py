"""The quarterly review page: the model beside the agreed rules on leads whose outcome is known,
as one self-contained HTML file (no script, font or image fetched), plus a per-lead CSV."""

from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from leadml.data.check import ORDER, CheckedLeads, as_numbers
from leadml.data.outputs import text_writer, write_files
from leadml.evaluation import metrics as evaluate
from leadml.evaluation import plots
from leadml.evaluation.capacity import (
    CapacityUse,
    capacity_use,
    top_k_per_week,
    weeks_and_capacity,
)
from leadml.rules.propose import WORSE
from leadml.rules.review import contradiction_words, rule_outcomes
from leadml.scoring.bands import BANDS
from leadml.scoring.lead_model import LeadModel, agreement, output_id
from leadml.spec.config import CapacityConfig

TOP_DISAGREEMENTS = 10
REASONS = 3
# the per-lead CSV: the probability to 4 places, no rules probability (the points say it) and
# reasons in plain words, not the spec's full descriptions (10.7 MB for 20k leads before)
LEAD_COLUMNS = [
    "lead_id", "probability", "band", "sales_ready", "rules_points", "rules_sales_ready",
    "agreement", "outcome",
]  # fmt: skip
CSV_DIGITS = 4
UNEQUAL_LISTS = 1.5  # one list this many times the other's size: also compare at equal sizes
OPEN_OUTCOME = "outcome still open"  # `check_leads`' reason for leads it excludes
AGREEMENT_CELLS = {
    "both": ("model yes", "rules yes"),
    "model_only": ("model yes", "rules no"),
    "rules_only": ("model no", "rules yes"),
    "neither": ("model no", "rules no"),
}


def agreement_table(leads: pd.DataFrame) -> pd.DataFrame:
    """Leads and observed conversion per cell of `agreement` (model verdict x rules verdict)."""
    rows = []
    for cell, (model, rules) in AGREEMENT_CELLS.items():
        part = leads[leads["agreement"] == cell]
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


@dataclass
class NextRules:
    """A proposed points table beside the current one (`leadml rules suggest`), measured on the
    same leads: per rule its points before and proposed with what happened to its leads, the
    current rules it leaves out and why, and its points read as probabilities."""

    file: str
    table: pd.DataFrame  # rule, feature, condition, points, proposed, leads, conversions
    left_out: pd.DataFrame  # rule, points, why
    probability: np.ndarray  # one per compared lead, in the comparison's order
    metrics: dict[str, float]  # `score_metrics` of the proposed rules, with "rules"
    current_metrics: dict[str, float]
    points_to_double: float
    sales_ready_points: float


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
    threshold: float = float("nan")  # the model's sales-ready probability
    sales_ready_points: float = float("nan")  # the agreed rules' cut-off
    band_edges: dict[str, float] = field(default_factory=dict)  # lower edge of A, B, C
    excluded: dict[str, int] = field(default_factory=dict)  # leads left out, by reason
    equal_lists: pd.DataFrame | None = None  # agreement when both work their top leads
    no_drift: str = ""  # why there is no drift view (when `drift` is None)
    id_column: str = "lead_id"  # the per-lead CSV's id column, as the export names it
    next_rules: NextRules | None = None  # a proposed table, shown beside the current one

    def agreement_table(self) -> pd.DataFrame:
        """Leads and observed conversion per cell of model verdict x rules verdict."""
        return agreement_table(self.leads)

    def picks(self) -> tuple[int, int]:
        """How many leads the model and the rules call sales-ready, each by its own cut-off."""
        return int(self.leads["sales_ready"].sum()), int(self.leads["rules_sales_ready"].sum())

    def lists_differ(self) -> bool:
        """Whether one side's list of sales-ready leads is over UNEQUAL_LISTS times the other's."""
        small, large = sorted(self.picks())
        return large > UNEQUAL_LISTS * small


def compare(
    lead_model: LeadModel,
    checked: CheckedLeads,
    title: str = "",
    *,
    capacity: CapacityConfig | None = None,
    notes: tuple[str, ...] = (),
    excluded: Mapping[str, int] | None = None,
) -> Comparison:
    """Score leads with known outcomes by the model and the rules, and line them up; sales
    capacity as the model was trained with, unless `capacity` is given. `excluded`: the leads
    left out before (by reason; default: those `check_leads` excluded)."""
    y = np.asarray(checked.y, dtype=np.int64)
    encoded, scores, scored = lead_model.score_parts(checked, reasons=0)
    contrib = lead_model.scorer.contributions(encoded)[:, :-1]
    effects = reason_points(lead_model, encoded, contrib)
    scored = _with_reasons(scored, lead_model, encoded, contrib, effects)
    scored["outcome"] = y
    capacity_config = capacity or CapacityConfig(**lead_model.info.capacity)
    weeks, per_week = weeks_and_capacity(checked.frame, capacity_config)
    p, rp = scored["probability"].to_numpy(), scored["rules_probability"].to_numpy()
    timestamps = checked.frame.get("__timestamp__")
    drift, no_drift = _drift_view(lead_model, checked.frame, y, p, rp)
    comparison = Comparison(
        leads=scored,
        model=evaluate.score_metrics(y, p, weeks, per_week),
        rules=evaluate.score_metrics(y, rp, weeks, per_week),
        capacity=per_week,
        weekly=capacity_config.share is None and timestamps is not None,
        bands={
            "leadml model": evaluate.band_table(y, p, lead_model.bands),
            "agreed rules": evaluate.band_table(y, rp, lead_model.bands),
        },
        rule_review=_rule_review(lead_model, scores.rules.fired, y, effects),
        features=_feature_table(lead_model),
        drift=drift,
        title=title or lead_model.info.name,
        capacity_use=capacity_use(weeks, per_week),
        notes=notes,
        threshold=float(lead_model.threshold),
        sales_ready_points=float(lead_model.rules.sales_ready_points),
        band_edges=dict(lead_model.bands),
        excluded=dict(checked.excluded if excluded is None else excluded),
        no_drift=no_drift,
        id_column=output_id(lead_model.spec),
    )
    if comparison.lists_differ():
        comparison.equal_lists = _equal_lists(scored, weeks, per_week)
    return comparison


def reason_points(lead_model: LeadModel, encoded: np.ndarray, contrib: np.ndarray) -> np.ndarray:
    """Each feature's effect on each lead's probability, in percentage points: the calibrated
    probability minus the one the lead would get without that feature's contribution.

    The contributions (TreeSHAP) are in the booster's log-odds, before calibration; a change in
    log-odds means a different change in probability at different scores, so each is converted
    at the lead's own score, through the model's calibrator."""
    scorer = lead_model.scorer
    raw = scorer.decision_function(encoded)
    p = scorer.calibrator_(raw)
    return np.asarray(100 * (p[:, None] - scorer.calibrator_(raw[:, None] - contrib)))


def feature_label(feature) -> str:
    """A feature's short business label: the spec's `label`, else its name in words."""
    label = getattr(feature, "label", None)
    if label:
        return str(label)
    words = feature.name.replace("_", " ")
    return words[:1].upper() + words[1:]


def points_words(points: float) -> str:
    """+12 pts, -3 pts; below one point with a decimal (+0.4 pts)."""
    return f"{points:+.0f} pts" if abs(points) >= 0.95 else f"{points:+.1f} pts"


def _with_reasons(
    scored: pd.DataFrame,
    lead_model: LeadModel,
    encoded: np.ndarray,
    contrib: np.ndarray,
    effects: np.ndarray,
) -> pd.DataFrame:
    """The REASONS largest contributions per lead, in plain words: "Company size 750: +12 pts"
    (the feature's label, its value, the effect on the probability in percentage points)."""
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :REASONS]
    values, _ = lead_model.scorer.describe(
        encoded, order, np.take_along_axis(contrib, order, axis=1)
    )
    sizes = np.take_along_axis(effects, order, axis=1)
    labels = np.array([feature_label(f) for f in lead_model.spec.features], dtype=object)
    out = scored.copy()
    for k in range(order.shape[1]):
        out[f"reason_{k + 1}"] = [
            f"{label} {value}: {points_words(size)}"
            for label, value, size in zip(labels[order[:, k]], values[k], sizes[:, k], strict=True)
        ]
    return out


def _equal_lists(scored: pd.DataFrame, weeks: np.ndarray, per_week: int) -> pd.DataFrame:
    """The agreement table when both sides work the same number of leads: each its own top
    leads at capacity (the model by probability, the rules by points)."""
    model_yes = top_k_per_week(scored["probability"].to_numpy(), weeks, per_week)
    rules_yes = top_k_per_week(scored["rules_probability"].to_numpy(), weeks, per_week)
    cells = pd.Series(agreement(model_yes, rules_yes))
    return agreement_table(pd.DataFrame({"agreement": cells, "outcome": scored["outcome"]}))


def _rule_review(
    lead_model: LeadModel, fired: np.ndarray, y: np.ndarray, effects: np.ndarray
) -> pd.DataFrame:
    """Per agreed rule: leads it fires on, their conversion against the others' (and the gap
    in percentage points, flagged when the rule's points contradict it), and the model's mean
    effect of the rule's feature on those leads, in percentage points."""
    spec = lead_model.spec
    review = rule_outcomes(lead_model.rules, fired, y)
    model_points = []
    for i, rule in enumerate(lead_model.rules.rules):
        fires = np.asarray(fired[:, i], dtype=bool)
        j = spec.names.index(rule.feature)
        model_points.append(float(effects[fires, j].mean()) if fires.any() else np.nan)
    review["model_points"] = model_points
    return review


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


def _drift_view(
    lead_model: LeadModel, frame: pd.DataFrame, y: np.ndarray, p: np.ndarray, rp: np.ndarray
) -> tuple[pd.DataFrame | None, str]:
    """Drift by month with a timestamp; else by tenths of the leads in the order the model's
    time split used (`split.order_by`: a column, or the file's row order); else none, and why."""
    timestamps = frame.get("__timestamp__")
    if timestamps is not None:
        return _drift(timestamps.dt.strftime("%Y-%m").to_numpy(), "month", y, p, rp), ""
    order = lead_model.info.split_order or {}
    if order.get("kind") == "file_order":
        return _drift(_deciles(np.arange(len(frame)), "row"), "order_decile", y, p, rp), ""
    if order.get("kind") == "column":
        column = order["column"]
        if ORDER in frame:  # the column, carried by `check_leads(order_by=...)`
            raw = frame[ORDER]
            values = as_numbers(raw)
            if values.notna().all() and len(values):
                deciles = _deciles(values.to_numpy(), column)
                return _drift(deciles, "order_decile", y, p, rp), ""
            return None, (
                f"No drift view: the data has no timestamp, and its order column {column} "
                "(split.order_by) does not hold a number for every lead."
            )
        return None, f"No drift view: the data has no timestamp and no {column} column."
    if lead_model.info.split == "random":
        return None, (
            "No drift view: the data has no timestamp and the model was trained with a random "
            "split, so nothing says which leads are newer (give the spec a timestamp, or the "
            "training config split.order_by)."
        )
    return None, (
        "No drift view: the data has no timestamp, and the model does not record what ordered "
        "its time split (trained before leadml kept it)."
    )


def _deciles(values: np.ndarray, column: str) -> np.ndarray:
    """Each lead's tenth of the data by `values` (1 oldest ... 10 newest), as a label that
    says its range: "1: lead_number 1-1,200"."""
    n = len(values)
    order = np.argsort(values, kind="stable")
    tenth = np.empty(n, dtype=np.int64)
    tenth[order] = np.arange(n) * 10 // max(1, n)
    labels = np.empty(n, dtype=object)
    for k in np.unique(tenth):
        part = values[tenth == k]
        low, high = (
            (part.min() + 1, part.max() + 1) if column == "row" else (part.min(), part.max())
        )
        labels[tenth == k] = f"{k + 1:02d}: {column} {_number(low)}-{_number(high)}"
    return labels


def _number(x) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4g}"


def _drift(
    period: np.ndarray, by: str, y: np.ndarray, p: np.ndarray, rp: np.ndarray
) -> pd.DataFrame:
    """Per period (a month, or a tenth of the leads in order): leads, observed conversion, and
    the mean score of the model and the rules."""
    return (
        pd.DataFrame({by: period, "outcome": y, "model": p, "rules": rp})
        .groupby(by, sort=True)
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
    """Booleans as 1/0, the probability to CSV_DIGITS places, reasons in plain words."""
    leads = comparison.leads
    columns = LEAD_COLUMNS + [c for c in leads if c.startswith("reason_")]
    out = leads[[*columns, "rules_fired"]].rename(columns={"lead_id": comparison.id_column})
    out["probability"] = np.round(out["probability"].astype(float), CSV_DIGITS)
    for col in ("sales_ready", "rules_sales_ready"):
        out[col] = out[col].astype(np.int8)
    out.to_csv(path, index=False, float_format="%.10g")


# --- the page ------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f}%"


def png_img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def html_table(
    frame: pd.DataFrame,
    percent: tuple[str, ...] = (),
    digits: int = 3,
    highlight: list[bool] | None = None,
) -> str:
    """An HTML table of `frame`; rows where `highlight` is true get the class `contradicts`."""

    def cell(col: str, v) -> str:
        if isinstance(v, float | np.floating):
            if col in percent:
                return _pct(float(v))
            return f"{v:.0f}" if float(v).is_integer() else f"{v:.{digits}f}"
        return html.escape(str(v))

    marks = highlight or [False] * len(frame)
    head = "".join(f"<th>{html.escape(str(c).replace('_', ' '))}</th>" for c in frame.columns)
    rows = "".join(
        ("<tr class='contradicts'>" if mark else "<tr>")
        + "".join(f"<td>{cell(c, v)}</td>" for c, v in zip(frame.columns, r, strict=True))
        + "</tr>"
        for r, mark in zip(frame.itertuples(index=False), marks, strict=True)
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
tr.contradicts td { background: #fde2e1; } .warn { color: #a3120a; }
@media print {
  body { margin: 0; max-width: none; } h2, h3 { break-after: avoid; }
  img { break-inside: avoid; max-height: 23cm; width: auto; }
  table { break-inside: auto; } tr { break-inside: avoid; }
  thead { display: table-header-group; }
}
"""


def _cutoffs(c: Comparison) -> str:
    """The numbers the page's verdicts rest on: both cut-offs, the band edges, the leads left
    out."""
    edges = sorted(((e, b) for b, e in c.band_edges.items()), reverse=True)
    bands = []
    for k, (edge, band) in enumerate(edges):
        upper = f" to {_pct(edges[k - 1][0])}" if k else " and up"
        bands.append(f"{band} from {_pct(edge)}{upper}")
    if edges:  # the lowest band has no edge of its own
        bands.append(f"{BANDS[-1]} below {_pct(edges[-1][0])}")
    open_leads = c.excluded.get(OPEN_OUTCOME, 0)
    other = [f"{n:,} {reason}" for reason, n in c.excluded.items() if reason != OPEN_OUTCOME]
    left_out = (
        f"{open_leads:,} lead(s) whose outcome is still open were left out (they cannot be "
        "measured yet)" + (f"; also left out: {', '.join(other)}" if other else "") + "."
    )
    return (
        f"The model calls a lead sales-ready at a probability of {_pct(c.threshold)} or more "
        f"(the sales-ready threshold); the agreed rules at {c.sales_ready_points:g} points or "
        f"more (sales_ready_points). Bands by the model's probability: {'; '.join(bands)}. "
        f"{left_out}"
    )


def _lists(c: Comparison) -> str:
    """Which cut-off each side used and how many leads each picked; at equal list sizes too
    when the lists differ a lot."""
    model_n, rules_n = c.picks()
    text = (
        f"<p>Each side by its own cut-off: the model (probability {_pct(c.threshold)} or more) "
        f"picked <b>{model_n:,}</b> leads; the agreed rules ({c.sales_ready_points:g} points or "
        f"more) picked <b>{rules_n:,}</b>.</p>"
    )
    if c.equal_lists is None:
        return text
    small, large = sorted((model_n, rules_n))
    ratio = f"{large / small:.1f} times" if small else "many times"
    worked = int(c.equal_lists.loc[c.equal_lists["model"] == "model yes", "leads"].sum())
    per = "a week" if c.weekly else "in this data"
    return text + (
        f'<p class="warn">The two lists differ in size ({ratio} as many leads on one side), '
        "so the agreement below mixes a difference of opinion with a difference of volume. "
        f"At equal list sizes, each side working its own top {c.capacity:,} leads {per} "
        f"({worked:,} leads each):</p>"
        + _grid(c.equal_lists)
        + html_table(c.equal_lists, ("conversion",))
        + "<p>And by each side's own cut-off:</p>"
    )


def _rules_learn(c: Comparison) -> str:
    """The rule review in percentage points, rules whose points contradict the outcomes
    highlighted."""
    review = c.rule_review
    shown = pd.DataFrame(
        {
            "rule": review["rule"],
            "points": [f"{p:g}" for p in review["points"]],
            "leads it fired on": review["leads"],
            "converted when fired": [_pct(x) for x in review["conversion_when_fired"]],
            "converted otherwise": [_pct(x) for x in review["conversion_otherwise"]],
            "gap": [_points_cell(x) for x in review["gap_points"]],
            "model's effect": [  # a review without the model beside it: n/a
                _points_cell(x) for x in review.get("model_points", [np.nan] * len(review))
            ],
        }
    )
    contradicts = review["contradicts"].astype(bool)
    contradicting = [contradiction_words(r) for _, r in review[contradicts].iterrows()]
    summary = (
        '<p class="warn">Rules whose points contradict what happened (highlighted): '
        + "; ".join(html.escape(t) for t in contradicting)
        + ".</p>"
        if contradicting
        else "<p>No rule's points contradict what happened to its leads.</p>"
    )
    return summary + html_table(shown, highlight=contradicts.tolist())


def _next_rules(c: Comparison) -> str:
    """The proposed table beside the current one: old -> new points with the evidence."""
    nr = c.next_rules
    if nr is None:
        return ""
    m, r, p = c.model, nr.current_metrics, nr.metrics
    said = (
        f"{html.escape(nr.file)} proposes {int(p['rules'])} rules learned from the outcomes "
        f"({nr.points_to_double:.0f} points double a lead's odds; sales-ready from "
        f"{nr.sales_ready_points:g} points). On these leads it ranks with ROC AUC "
        f"{p['roc_auc']:.3f}, against {r['roc_auc']:.3f} for the current rules and "
        f"{m['roc_auc']:.3f} for the model; at capacity its picks converted at "
        f"{_pct(p['precision_at_capacity'])} (current rules {_pct(r['precision_at_capacity'])}, "
        f"model {_pct(m['precision_at_capacity'])}). Its points, read as probabilities, are off "
        f"by {100 * p['ece']:.1f} percentage points on average. It is a proposal: nobody has "
        "signed it."
    )
    if p["roc_auc"] < r["roc_auc"]:
        said += '</p><p class="warn">' + html.escape(WORSE)
    left = (
        "<h3>Current rules it leaves out</h3>" + html_table(nr.left_out) if len(nr.left_out) else ""
    )
    percent = ("converted when fired", "converted otherwise")
    return f"""<h2>The rules we could agree next</h2>
<p class="lead">{said}</p>
<p>The three scorers are on the calibration and gains charts above ("proposed rules"). Each
proposed rule: its condition, its points now and proposed (a rule kept from the current table
keeps its name and wording), and what happened to the leads it fires on here.</p>
{html_table(nr.table, percent)}{left}"""


def _points_cell(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:+.1f} pts"


def _drift_section(c: Comparison, chart: str) -> str:
    if c.drift is None:
        reason = c.no_drift or "No drift view: the data has no timestamp."
        return f"<h2>Drift over time</h2><p>{html.escape(reason)}</p>"
    by = str(c.drift.columns[0])
    if by == "month":
        what = "per month"
    else:
        what = (
            "per tenth of the leads in the order the model's time split used (the data has no "
            "timestamp; 01 is the oldest tenth)"
        )
    return (
        f"<h2>Drift over time</h2><p>Conversion and the mean predicted probability {what}: "
        "a shift in the base rate shows here first.</p>"
        + chart
        + html_table(c.drift, ("conversion", "model", "rules"))
    )


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
        if c.next_rules is not None:  # the three scorers on the same charts
            curves["proposed rules"] = (y, c.next_rules.probability)
        share = min(1.0, m["leads_worked"] / max(1, n))
        charts = {
            "calibration": png_img(
                plots.calibration_plot(curves, folder / "cal.png"), "calibration"
            ),
            "bands": png_img(plots.band_plot(c.bands, folder / "bands.png"), "conversion per band"),
            "gains": png_img(
                plots.gains_plot(curves, share, folder / "gains.png"), "gains and lift"
            ),
            "importance": png_img(
                plots.importance_plot(
                    dict(zip(c.features["feature"], c.features["importance"], strict=True)),
                    folder / "imp.png",
                ),
                "feature importance",
            ),
            "drift": "",
        }
        if c.drift is not None:
            charts["drift"] = png_img(plots.drift_plot(c.drift, folder / "drift.png"), "drift")
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
        tops.append(f"<h3>{label} (top {len(part)})</h3>" + html_table(shown, ("probability",)))
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
<p class="cutoffs">{html.escape(_cutoffs(c))}</p>
<h2>Does "30%" mean 30%?</h2>
<p>Each point is a tenth of the leads, ordered by score: what was promised (across) against what
happened (up), with a 95% interval. On the diagonal, the probabilities mean what they say.</p>
{charts["calibration"]}{charts["bands"]}
{html_table(c.bands["leadml model"].assign(scorer="model"), ("conversion", "mean_probability"))}
{html_table(c.bands["agreed rules"].assign(scorer="rules"), ("conversion", "mean_probability"))}
<h2>Gains and lift</h2>
<p>Share of all sales-ready leads found when working the best-scored leads first; the line marks
what sales can work.</p>{charts["gains"]}
<h2>Where the model and the rules agree</h2>
{_lists(c)}<p>{disagree}</p>{_grid(agree)}{html_table(agree, ("conversion",))}
<h2>Where they disagree, and who was right</h2>
<p>Reasons: the model's three largest, each with how much it moved the lead's probability, in
percentage points (pts).</p>{"".join(tops)}
<h2>What the rules could learn</h2>
<p>For each agreed rule: its points, how many leads it fired on, how those leads converted
against all the others, the gap in percentage points, and the model's average effect of the same
feature on those leads (pts of probability). A rule that adds points while its leads convert
less than the rest (or takes points away while they convert more) contradicts what happened.</p>
{_rules_learn(c)}
{_next_rules(c)}
<h2>Feature review sheet</h2>
<p>Every feature the model reads, who owns it, when its value is known, both teams' sign-offs,
and its share of the model's importance.</p>
{charts["importance"]}{html_table(c.features, ("importance",))}
{_drift_section(c, charts["drift"])}
</body></html>
"""


def write_report(comparison: Comparison, path: str | Path) -> Path:
    """The page alone (the file appears when complete)."""
    out = Path(path)
    page = render_html(comparison)
    write_files({out: text_writer(page)})
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
            page_path: text_writer(html_text),
            csv_path: lambda tmp: _leads_csv(comparison, tmp),
        }
    )
    return page_path, csv_path
