"""The drafts `leadml init` writes from a `Draft` of an export: the feature spec, the agreed
rules and the training config, as YAML with comments (plain text, so the comments say what was
guessed and why)."""

from __future__ import annotations

from datetime import date

from leadml.data.draft import LEAK_AUC, RARE_SHARE, Column, Draft, percent, quote
from leadml.spec.features import TODO


def _header(draft: Draft, what: str) -> list[str]:
    read = f"{draft.source}" + (f" (query: {draft.query})" if draft.query else "")
    return [
        f"# {what}, drafted by `leadml init` from {read} on {date.today().isoformat()}",
        f"# ({draft.rows:,} leads). A draft: every guess is marked; nothing here is reviewed yet.",
    ]


def spec_yaml(draft: Draft) -> str:
    """The feature spec draft, with comments."""
    out = _header(draft, "Feature spec")
    out += [
        "# To do: write each feature's description and owner (sales or marketing) where it says",
        "# TODO, check each known_at (when the value is known: capture, enrichment, engagement,",
        "# after_contact), then each team signs:",
        "#   leadml features sign THIS_FILE --team sales --by NAME --all",
        "#   leadml features check THIS_FILE   (lists what is left to do)",
    ]
    out += [f"# {note}" for note in draft.notes]
    left = [c for c in draft.columns if not c.kind]
    if left:
        out.append("# Columns left out:")
        out += [f"#   '{c.column}': {c.left_out}" for c in left]
    out += ["spec_version: 1", f"title: {quote('Leads from ' + draft.source)}"]
    if draft.lead_id is None:
        out.append("lead_id: null   # no unique id column found: leads are named by row number")
    else:
        note = "   # unique in every lead" + (
            ", and grows with time: it orders the split"
            if draft.order_by == draft.lead_id and not draft.order_note
            else ""
        )
        out.append(f"lead_id: {quote(draft.lead_id)}{note}")
    if draft.timestamp is None:
        out.append("timestamp: null   # no date column found")
    else:
        out.append(f"timestamp: {quote(draft.timestamp)}   # each lead's creation date")
    if draft.timestamp_format:
        out.append(f"timestamp_format: {quote(draft.timestamp_format)}   # {draft.timestamp_note}")
    elif draft.timestamp_note:
        out.append(f"# TODO: {draft.timestamp_note}")
    out += ["label:", f"  column: {quote(draft.label)}"]
    note = f" ({draft.label_note})" if draft.label_note else ""
    out.append(
        f"  positive: [{quote(draft.positive[0])}]   # sales-ready: {draft.positives:,} leads{note}"
    )
    out.append(f"  negative: [{quote(draft.negative[0])}]")
    if draft.has_open:
        out.append(
            "  open: [null]   # an empty outcome: the lead is still open (excluded, counted)"
        )
    out.append("features:")
    for c in draft.features:
        out += _feature_lines(c, draft.rows)
    return "\n".join(out) + "\n"


def _feature_lines(c: Column, rows: int) -> list[str]:
    lines = []
    if c.known_at == "after_contact":
        lines += [
            f"  # SUSPECTED LEAK ({c.column}): {c.known_why}.",
            "  # Proposed known_at: after_contact, which training refuses. Remove the feature, or,",
            "  # if both teams confirm it is known before sales contact, change known_at.",
        ]
    elif c.check_why:
        lines.append(f"  # CHECK ({c.column}): {c.check_why}.")
    lines += [
        f"  - name: {c.name}",
        *([f"    column: {quote(c.column)}"] if c.name != c.column else []),
        f"    label: {quote(_label_of(c))}",
        f"    kind: {c.kind}",
        f'    description: "{TODO}: what this means, in sales and marketing\'s words"',
        f"    owner: {TODO}   # sales or marketing",
        f"    known_at: {c.known_at}   # guessed: review",
    ]
    if c.kind == "categorical":
        lines.append("    allowed:")
        rare = max(5, RARE_SHARE * rows)
        for value, count in c.allowed:
            note = f"   # rare: {count:,} lead(s)" if count < rare else ""
            lines.append(f"      - {quote(value)}{note}")
    if c.kind == "numeric" and c.seen is not None:
        lo, mid, hi = c.seen
        bound = "0" if lo >= 0 else "null"
        lines.append(f"    range: [{bound}, null]   # seen: {lo:g} to {hi:g}, median {mid:g}")
    if c.placeholders:
        listed = ", ".join(f"{v!r} in {k:,} lead(s)" for v, k in c.placeholders.items())
        values = ", ".join(quote(v) for v in c.placeholders)
        lines.append(f"    missing_values: [{values}]   # placeholders read as missing: {listed}")
    lines.append(f"    missing: {quote(_missing_text(c, rows))}")
    return lines


def _label_of(c: Column) -> str:
    text = c.column if c.column != c.name else c.name.replace("_", " ").capitalize()
    return text.strip()[:40]


def _missing_text(c: Column, rows: int) -> str:
    """What the export says about missing values (people add what a missing value means)."""
    parts = [f"empty in {percent(c.empty_share)}"] if c.empty_share else []
    parts += [f"{v!r} in {percent(k / rows)}" for v, k in c.placeholders.items()]
    if not parts:
        return "Never empty in the export."
    return f"Not given in the export ({', '.join(parts)} of leads): scored as missing."


def rules_yaml(draft: Draft, spec_file: str) -> str:
    """A skeleton of the agreed rules, with one example rule valid against the drafted spec."""
    example = _example_rule(draft)
    out = _header(draft, "Agreed rules")
    out += [
        "# Write the points table your teams use today, in the feature names of the spec. Each",
        "# rule gives points when ONE condition holds on one feature (in / at_least / at_most /",
        "# is / missing); a lead with at least sales_ready_points is sales-ready. The example",
        "# below is only an example: replace it.",
        "rules_version: 1",
        f"title: {quote('Agreed rules for ' + draft.source)}",
        f"spec: {quote(spec_file)}",
        "sales_ready_points: 10",
        "groups:",
        "  example:",
        f'    description: "{TODO}: what the rules in this group look at"',
        "rules:",
        "  - name: example_rule",
        f'    description: "{TODO}: an example; replace it with a rule your teams agreed"',
        *example,
        "    points: 10",
        "    group: example",
    ]
    return "\n".join(out) + "\n"


def _example_rule(draft: Draft) -> list[str]:
    before = [c for c in draft.features if c.known_at != "after_contact"] or draft.features
    by_kind = {c.kind: c for c in reversed(before)}
    if "boolean" in by_kind:
        return [f"    feature: {by_kind['boolean'].name}", "    is: true"]
    if "categorical" in by_kind:
        c = by_kind["categorical"]
        return [f"    feature: {c.name}", f"    in: [{quote(c.allowed[0][0])}]"]
    c = by_kind["numeric"]
    median = c.seen[1] if c.seen else 0.0
    return [f"    feature: {c.name}", f"    at_least: {median:g}"]


def training_yaml(draft: Draft, name: str, spec_file: str, rules_file: str) -> str:
    """The training config draft: it extends nothing and names the spec, rules and data."""
    out = _header(draft, "Training config")
    out += [
        "# Check the split and the sales capacity; the model settings are leadml's defaults.",
        f"name: {quote(name)}",
        f"spec: {quote(spec_file)}",
        f"rules: {quote(rules_file)}",
        "data:",
        f"  path: {quote(draft.source)}",
    ]
    if draft.query:
        out.append(f"  query: {quote(draft.query)}")
    out.append("split:")
    if draft.timestamp:
        out.append("  method: time   # oldest leads train, newest test, by the spec's timestamp")
    elif draft.order_by and draft.order_note:
        out += [
            "  method: time",
            f"  order_by: {quote(draft.order_by)}   # {TODO}: {draft.order_note}; else set "
            "method: random",
        ]
    elif draft.order_by:
        out += [
            "  method: time",
            f"  order_by: {quote(draft.order_by)}   # no date column; this number grows with "
            "time (oldest first), whatever the file's row order",
        ]
    else:
        out += [
            "  method: random   # no date column and no column of growing numbers (a lead",
            "                   #   number) was found, so there is no honest time order: the",
            "                   #   windows are drawn at random. Add a date or a lead number",
            "                   #   and use method: time; or, if the file lists the oldest",
            "                   #   leads first, method: time with order_by: file_order",
        ]
    out += ["  calibration_share: 0.15", "  test_share: 0.15", "capacity:"]
    if draft.timestamp and draft.weekly:
        guess = max(1, round(0.1 * draft.weekly))
        out += [
            f"  leads_per_week: {guess}   # {TODO}: leads sales can work a week (a guess: 10% of "
            f"the {draft.weekly:,.0f} a week in the export)",
        ]
    else:
        out += [
            "  share: 0.1   # no dates, so no weeks: sales works the top 10% of leads (check it)",
            "  leads_per_week: null",
        ]
    min_ready = min(200, max(1, draft.positives // 2))
    out += [
        "checks:",
        f"  min_sales_ready: {min_ready}   # the export has {draft.positives:,} sales-ready leads",
        f"  leak_auc: {LEAK_AUC}",
        "tracking:",
        f"  experiment: {quote('leadml-' + name)}",
        f"  registered_model: {quote(name + '-lead-qualifier')}",
    ]
    return "\n".join(out) + "\n"
