"""Reading a team's own CRM export for `leadml init`: each column's role (id, timestamp, order,
label, feature), kind, values, placeholders and suspected leaks, as a `Draft` that
`leadml.data.draft_files` writes out. Nothing here is final: every guess is marked there."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadml.data.check import DAY_MONTH, as_numbers, normalised
from leadml.errors import DataError
from leadml.spec.features import FEATURE_NAME, norm_value

# single-feature AUC: (values as floats, NaN missing; outcomes 0/1; categorical?) -> AUC
Auc = Callable[[np.ndarray, np.ndarray, bool], float]

LEAK_AUC = 0.9
CHECK_AUC = 0.75  # alone above this (and at most LEAK_AUC): strong enough to ask when it is known
MAX_CATEGORIES = 60  # more distinct texts than this: free text or an id, not a category
RARE_SHARE = 0.01  # a category in fewer leads than this share (or 5 leads) is noted as rare
OUTCOME_WORDS = {"converted", "conversion", "won", "sales_ready", "salesready", "subscribed", "y",
                 "outcome", "target", "label", "purchased", "qualified", "closed_won"}  # fmt: skip
ID_WORDS = {"id", "uuid", "guid", "key"}
ORDER_WORDS = {"number", "no", "num", "nr", "seq", "sequence", "counter", "index"}
# unique per lead, yet not an id or an order: a contact detail ("Phone Number", "Zip No")
CONTACT_WORDS = {"phone", "mobile", "cell", "tel", "telephone", "fax", "zip", "postal",
                 "postcode", "ssn", "passport", "iban", "card", "email", "mail"}  # fmt: skip
RECORD_WORDS = {"lead", "prospect", "contact", "record", "customer", "account", "opportunity",
                "deal", "request", "ticket", "crm", "row", "entry"}  # fmt: skip
UNIQUE_MIN_ROWS = 50  # whole numbers unique across at least this many leads: an id, not a count
DATE_WORDS = ("creat", "date", "time", "timestamp", "submitted", "received", "added")
AFTER_CONTACT_WORDS = {"status", "stage", "tags", "tag", "quality", "score", "outcome", "result",
                       "reason", "lost", "closed", "owner", "notes", "disposition"}  # fmt: skip
AFTER_CONTACT_PHRASES = ("last_activity", "last_notable", "last_contact", "last_call")
ENGAGEMENT_WORDS = {"visit", "visits", "views", "page", "pages", "time", "minutes", "opens",
                    "clicks", "click", "downloads", "download", "webinar", "email", "activity",
                    "sessions", "website", "newsletter"}  # fmt: skip
ENRICHMENT_WORDS = {"company", "employees", "industry", "revenue", "size", "customer",
                    "account", "sector", "seniority", "title", "domain"}  # fmt: skip
PLACEHOLDER_WORDS = {"select", "n/a", "na", "-", "--", "unknown", "?", "null", "nan",
                     "not provided", "not specified", "not available", "(blank)", "blank",
                     "missing", "undefined", "#n/a", "please select", "select one"}  # fmt: skip
POSITIVE_WORDS = ("won", "convert", "yes", "success", "subscribed", "qualified", "ready", "true")
NEGATIVE_WORDS = ("lost", "no", "fail", "not", "unqualified", "false", "reject")
DATE_LIKE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


def snake(column: str) -> str:
    """A column's name as a feature name: lower case, words joined by '_'."""
    word = re.sub(r"[^a-z0-9]+", "_", str(column).lower()).strip("_") or "feature"
    return word if word[0].isalpha() else f"f_{word}"


def _words(column: str) -> set[str]:
    return set(snake(column).split("_"))


def quote(value: Any) -> str:
    """A YAML scalar: JSON's double-quoted string (valid YAML), or a plain number/bool."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    return json.dumps(str(value), ensure_ascii=False)


def percent(share: float) -> str:
    return f"{100 * share:.1f}%"


@dataclass
class Column:
    """What the draft found in one column, and what it makes of it."""

    column: str
    name: str = ""
    kind: str = ""  # numeric / categorical / boolean, or "" when left out
    left_out: str = ""  # why the column is not a feature
    empty_share: float = 0.0
    placeholders: dict[str, int] = field(default_factory=dict)  # value -> leads
    allowed: list[tuple[str, int]] = field(default_factory=list)  # value -> leads, by count
    seen: tuple[float, float, float] | None = None  # min, median, max of a numeric column
    known_at: str = "capture"
    known_why: str = ""
    check_why: str = ""  # a strong predictor not taken for a leak: why to confirm its known_at
    auc: float | None = None
    values: np.ndarray | None = None  # encoded for the leak check


@dataclass
class Draft:
    """The columns' roles: id, timestamp (and its format), order, label, and the features."""

    source: str
    query: str | None
    rows: int
    lead_id: str | None = None
    timestamp: str | None = None
    timestamp_format: str | None = None
    timestamp_note: str = ""
    order_by: str | None = None
    order_note: str = ""  # when order_by is a guess: what to confirm
    label: str = ""
    positive: list[Any] = field(default_factory=list)
    negative: list[Any] = field(default_factory=list)
    label_note: str = ""
    has_open: bool = False
    positives: int = 0
    columns: list[Column] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the roles, for the file's header
    weekly: float | None = None  # leads per week, when dated

    @property
    def features(self) -> list[Column]:
        return [c for c in self.columns if c.kind]


# ---- finding each column's role ------------------------------------------------------------
def _present(series: pd.Series) -> pd.Series:
    """The values given (a text such as 'N/A' is a value here: see PLACEHOLDER_WORDS)."""
    return series.dropna()


def _numbers(values: pd.Series) -> pd.Series | None:
    """The values as numbers, or None when some are not numbers."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    parsed = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    return None if parsed.isna().any() else parsed.astype("float64")


def _dates(values: pd.Series) -> pd.Series | None:
    """The values as dates when (almost) all read as dates and they are written as dates."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    text = values.astype(str)
    sample = text.drop_duplicates().head(2000)
    if len(sample) == 0 or not sample.str.contains(DATE_LIKE).mean() > 0.95:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return parsed if parsed.notna().mean() > 0.95 else None


def _day_month_format(values: pd.Series) -> tuple[str | None, str]:
    """(timestamp_format, note) for dates written day and month first (03/04/2025): the format
    when some value shows which comes first, else None and a note saying what to set."""
    parts = values.astype(str).drop_duplicates().str.extract(DAY_MONTH).dropna()
    if parts.empty:
        return None, ""
    first, second = (pd.to_numeric(parts[i]) for i in (0, 1))
    sample = str(values.astype(str).iloc[0]).strip()
    sep = re.match(r"\d{1,2}([/.\-])", sample)
    s = sep.group(1) if sep else "/"
    year = "%Y" if re.match(r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}", sample) else "%y"
    rest = sample.split(" ", 1)[1] if " " in sample else ""
    clock = {5: " %H:%M", 8: " %H:%M:%S"}.get(len(rest), "") if ":" in rest else ""
    day_first, month_first = f"%d{s}%m{s}{year}{clock}", f"%m{s}%d{s}{year}{clock}"
    if (first > 12).any() and not (second > 12).any():
        return day_first, "a day above 12 comes first"
    if (second > 12).any() and not (first > 12).any():
        return month_first, "a day above 12 comes second"
    return None, (
        f"dates such as {sample!r} read either way (day or month first?): set timestamp_format "
        f"to '{day_first}' (day first) or '{month_first}' (month first)"
    )


def _find_timestamp(frame: pd.DataFrame, draft: Draft) -> list[str]:
    """The creation date column (dates; a name like 'created' preferred); other date columns
    are returned to be left out."""
    dated = [c for c in frame.columns if _dates(_present(frame[c])) is not None]
    if not dated:
        return []
    ranked = sorted(
        dated, key=lambda c: next((k for k, w in enumerate(DATE_WORDS) if w in snake(c)), 99)
    )
    draft.timestamp = ranked[0]
    values = _present(frame[ranked[0]])
    if not pd.api.types.is_datetime64_any_dtype(values):
        draft.timestamp_format, draft.timestamp_note = _day_month_format(values)
        fmt = draft.timestamp_format
        parsed = pd.to_datetime(values, errors="coerce", format=fmt or "mixed")
    else:
        parsed = values
    span = (parsed.max() - parsed.min()) / pd.Timedelta(weeks=1)
    draft.weekly = len(values) / span if span and span > 0 else None
    return ranked[1:]


def _unique_complete(series: pd.Series) -> bool:
    return bool(series.notna().all() and series.is_unique)


def _find_order(frame: pd.DataFrame, skip: set[str]) -> tuple[str | None, bool]:
    """(column, sure): a unique column of whole numbers that grow (or shrink) with the file's
    rows, like a lead number (sure); else one named like a lead number ('Lead No', not 'Number
    of Employees') whose numbers do not follow the rows (a guess, to confirm); else (None,
    False). Contact details are never it."""
    guess = None
    for column in frame.columns:
        if column in skip or _words(column) & CONTACT_WORDS:
            continue
        if not _unique_complete(frame[column]):
            continue
        numbers = _numbers(frame[column])
        if numbers is None or len(numbers) < 3 or not (numbers % 1 == 0).all():
            continue
        steps = np.diff(numbers.to_numpy())
        if (steps > 0).all() or (steps < 0).all():
            return str(column), True
        if guess is None and _id_named(_words(column) - ID_WORDS):
            guess = str(column)
    return guess, False


def _id_named(words: set[str]) -> bool:
    """Named like an id: an id word, or a number word with a record word ('Lead No')."""
    return bool(words & ID_WORDS or (words & ORDER_WORDS and words & RECORD_WORDS))


def _find_id(frame: pd.DataFrame, skip: set[str]) -> list[str]:
    """Columns named like an id ('Prospect ID', or 'Lead Number' holding text or whole
    numbers: a number word with a record word, so 'Number of Employees' is not one), unique
    and never empty; those named id, uuid, guid or key first."""
    found = []
    for column in frame.columns:
        words = _words(column)
        if column in skip or not _id_named(words) or words & CONTACT_WORDS:
            continue
        if not _unique_complete(frame[column]):
            continue
        numbers = _numbers(frame[column])
        if numbers is None or (numbers % 1 == 0).all():
            found.append(str(column))
    return sorted(found, key=lambda c: not _words(c) & ID_WORDS)


def _unique_numbers(column: str, raw: pd.Series) -> bool:
    """Whole numbers, a different one per lead across many leads, in a column named like an id,
    a number or a contact detail ('Phone Number', 'Customer No'): not a feature. A unique
    count or amount named otherwise stays a feature."""
    words = _words(column)
    if not (_id_named(words) or words & CONTACT_WORDS):
        return False
    if len(raw) < UNIQUE_MIN_ROWS or not _unique_complete(raw):
        return False
    numbers = _numbers(raw)
    return numbers is not None and bool((numbers % 1 == 0).all())


def _find_label(frame: pd.DataFrame, label: str | None) -> str:
    """The outcome: the column given, else the two-valued column named like an outcome."""
    if label is not None:
        if label not in frame.columns:
            raise DataError(
                f"--label {label}: no such column (columns: {', '.join(map(str, frame.columns))})"
            )
        return label
    two = [c for c in frame.columns if _present(frame[c]).nunique() == 2]
    named = [c for c in two if snake(c) in OUTCOME_WORDS or _words(c) & OUTCOME_WORDS]
    if not named:
        raise DataError(
            "found no outcome column (two values, named like converted, won, sales_ready, "
            f"subscribed or y); columns with two values: {', '.join(map(str, two)) or 'none'}. "
            "Name it with --label COLUMN"
        )
    return str(named[0])


def _label_values(frame: pd.DataFrame, draft: Draft) -> np.ndarray:
    """Which label value is sales-ready (from the words, else the rarer one); 0/1 per lead
    (NaN where the outcome is open)."""
    raw = frame[draft.label]
    present = _present(raw)
    counts = present.value_counts()
    if len(counts) != 2:
        raise DataError(
            f"column '{draft.label}' (the label) holds {len(counts)} distinct values, not two: "
            f"{', '.join(map(str, counts.index[:10]))}"
        )
    values = [v.item() if isinstance(v, np.generic) else v for v in counts.index]
    normed = [norm_value(v) for v in values]
    if sorted(normed) == ["0", "1"]:
        pos = values[normed.index("1")]
    else:
        score = [
            sum(w in str(v).lower() for w in POSITIVE_WORDS)
            - sum(w in str(v).lower().split() for w in NEGATIVE_WORDS)
            for v in values
        ]
        if score[0] != score[1]:
            pos = values[int(np.argmax(score))]
        else:
            pos = values[1]  # the rarer value
            draft.label_note = "guessed: the rarer value is sales-ready; check"
    neg = values[1 - values.index(pos)]
    draft.positive, draft.negative = [pos], [neg]
    draft.has_open = bool(len(present) < len(raw))
    y = np.where(raw.isin([pos]), 1.0, np.where(raw.isin([neg]), 0.0, np.nan))
    draft.positives = int(np.nansum(y))
    return y


# ---- what each feature column holds ----------------------------------------------------------
def _known_at(column: Column, auc_bound: float) -> None:
    """known_at guessed from the name (and the leak check), with the reason."""
    name = snake(column.column)
    words = set(name.split("_"))
    if words & AFTER_CONTACT_WORDS or any(p in name for p in AFTER_CONTACT_PHRASES):
        column.known_at = "after_contact"
        column.known_why = "its name says it is known after contact"
    elif column.auc is not None and column.auc > auc_bound:
        column.known_at = "after_contact"
    elif words & ENGAGEMENT_WORDS:
        column.known_at = "engagement"
    elif words & ENRICHMENT_WORDS:
        column.known_at = "enrichment"
    if column.auc is not None and column.auc > auc_bound:
        alone = f"alone it predicts the outcome with AUC {column.auc:.3f} (above {auc_bound:g})"
        column.known_why = f"{column.known_why}; {alone}" if column.known_why else alone
    elif column.known_at != "after_contact" and column.auc is not None and column.auc > CHECK_AUC:
        column.check_why = (
            f"alone it predicts the outcome with AUC {column.auc:.3f}: confirm its value is known "
            "before sales contact (a call's length or a count of calls would leak the outcome)"
        )


def _profile(raw: pd.Series, column: Column) -> None:
    """The column's kind, placeholders, allowed values or what its numbers look like."""
    n = len(raw)
    present = _present(raw)
    column.empty_share = 1 - len(present) / n if n else 0.0
    if present.empty:
        column.left_out = "empty in every lead"
        return
    if not pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present):
        text = present.astype(str)
        counts = text.value_counts()
        column.placeholders = {
            str(v): int(k) for v, k in counts.items() if str(v).strip().lower() in PLACEHOLDER_WORDS
        }
        present = present[~text.isin(column.placeholders)]
    if present.empty:
        column.left_out = "only placeholder values"
        return
    if present.astype(str).nunique() == 1:
        column.left_out = f"one value only ({present.iloc[0]!r}): nothing to learn from"
        return
    normed = {norm_value(v) for v in present.unique()}
    numbers = _numbers(present)
    if normed <= {"0", "1"} and (len(normed) == 2 or numbers is None):
        column.kind = "boolean"
        column.values = normalised(raw).map({"1": 1.0, "0": 0.0}).to_numpy("float64")
    elif numbers is not None:
        column.kind = "numeric"
        column.seen = (float(numbers.min()), float(numbers.median()), float(numbers.max()))
        encoded = as_numbers(raw)
        column.values = encoded.to_numpy(dtype="float64")  # placeholders: NaN
    else:
        counts = present.astype(str).value_counts()
        if len(counts) > MAX_CATEGORIES:
            column.left_out = (
                f"{len(counts):,} distinct texts: free text or an id, not a category (group it "
                "into a few values upstream to use it)"
            )
        else:
            column.kind = "categorical"
            column.allowed = [(str(v), int(k)) for v, k in counts.items()]
            codes = pd.Index(counts.index).get_indexer(raw.astype(str).where(raw.notna()))
            column.values = np.where(codes < 0, np.nan, codes).astype("float64")


def _names(columns: list[Column]) -> None:
    """Each feature a valid, distinct name."""
    taken: set[str] = set()
    for c in columns:
        base = snake(c.column)
        name, k = base, 2
        while name in taken or not FEATURE_NAME.fullmatch(name):
            name, k = f"{base}_{k}", k + 1
        c.name = name
        taken.add(name)


def draft_from(
    frame: pd.DataFrame,
    source: str,
    query: str | None = None,
    label: str | None = None,
    auc: Auc | None = None,
    auc_bound: float = LEAK_AUC,
) -> Draft:
    """Read an export's columns into a `Draft`: roles, kinds, values, leaks (by `auc`, a
    single-feature AUC such as `leadml.evaluation.audit.single_feature_auc`)."""
    if len(frame) == 0:
        raise DataError(f"{source}: the data has no rows")
    draft = Draft(source=source, query=query, rows=len(frame))
    draft.label = _find_label(frame, label)
    y = _label_values(frame, draft)
    other_dates = _find_timestamp(frame.drop(columns=[draft.label]), draft)
    roles = {draft.label, *([draft.timestamp] if draft.timestamp else [])}
    order, sure = (None, False) if draft.timestamp else _find_order(frame, roles)
    ids = _find_id(frame, roles)
    draft.lead_id = ids[0] if ids else order
    draft.order_by = order
    if order is not None and not sure:
        draft.order_note = (
            f"'{order}' is named like a lead number but its numbers do not follow the file's "
            "rows: confirm they grow with time (a newer lead, a higher number)"
        )
    draft.notes += [
        f"'{c}': unique per lead, a second id; left out"
        for c in ids
        if c not in (draft.lead_id, order)
    ]
    roles |= set(ids) | ({order} if order else set())
    known = ~np.isnan(y)
    for name in frame.columns:
        if name in roles:
            continue
        column = Column(column=str(name))
        if name in other_dates:
            column.left_out = "dates, not a feature (derive a number such as days since, upstream)"
        elif _unique_numbers(str(name), frame[name]):
            column.left_out = "a different whole number per lead: an id or a contact detail"
        else:
            _profile(frame[name], column)
        if column.kind and auc is not None and column.values is not None and known.any():
            column.auc = float(auc(column.values[known], y[known], column.kind == "categorical"))
        if column.kind:
            _known_at(column, auc_bound)
        draft.columns.append(column)
    _names(draft.features)
    if not draft.features:
        raise DataError(f"{source}: no column besides the id, timestamp and label can be a feature")
    return draft
