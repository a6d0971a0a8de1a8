"""The feature spec: the reviewed definition of every lead feature, the label and the id columns."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from leadml.errors import SpecError, format_validation_error
from leadml.spec.files import diff_records, read_yaml

Kind = Literal["numeric", "categorical", "boolean"]
KnownAt = Literal["capture", "enrichment", "engagement", "after_contact"]
Direction = Literal["increasing", "decreasing"]
REQUIRED_SIGNOFFS = ("sales", "marketing")
TRUE_WORDS = {"1", "1.0", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "0.0", "false", "no", "n", "f"}
FEATURE_NAME = re.compile(r"[a-z][a-z0-9_]*")
# optional fields added after specs were hashed and pickled: left out of `content_hash` while
# unset (a spec that does not use them keeps its hash), and unset in a spec pickled before them
ADDED_LATER = ("timestamp_format", "missing_values")
FEATURE_ADDED_LATER = ("label", "missing_values", "leak_reviewed")
TODO = "TODO"  # what `leadml init` writes where a person must fill in a description or owner


def is_todo(text: str) -> bool:
    """Whether a description, owner or missing meaning is still `leadml init`'s placeholder."""
    return text.strip().startswith(TODO)


def _placeholder_list(values: list[str] | None) -> list[str] | None:
    """`missing_values` as given, refused when empty or when a value is listed twice."""
    if values is None:
        return None
    if not values or any(not v.strip() for v in values):
        raise ValueError("missing_values lists placeholder texts such as 'Select'; none empty")
    if len(set(values)) != len(values):
        raise ValueError("missing_values lists a value twice")
    return values


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignOff(_Strict):
    """One team's review of the spec: who signed, when, and for which spec version."""

    by: str = Field(min_length=1)
    when: date
    version: int


class LeakReview(_Strict):
    """Both teams looked at a feature's leakage audit (its AUC alone, above `checks.leak_auc`)
    and agreed it is known before contact: `by` names who, per team."""

    by: dict[str, str]
    when: date
    auc: float = Field(gt=0.5, le=1.0, description="The single-feature AUC they reviewed.")

    @field_validator("by")
    @classmethod
    def _both_teams(cls, by: dict[str, str]) -> dict[str, str]:
        missing = [team for team in REQUIRED_SIGNOFFS if not by.get(team)]
        if missing:
            raise ValueError(f"a leak review needs both teams; no name for {', '.join(missing)}")
        return by


def _unpickle_later_fields(model: BaseModel, names: tuple[str, ...], state: dict) -> None:
    """Restore `model` pickled before the fields `names` existed: those fields unset (None)."""
    values = dict.fromkeys(names) | state.get("__dict__", {})
    BaseModel.__setstate__(model, {**state, "__dict__": values})


class Feature(_Strict):
    """One lead feature as both teams agreed to define it."""

    name: str
    column: str | None = None
    kind: Kind
    description: str = Field(min_length=3)
    owner: str = Field(min_length=1)
    known_at: KnownAt
    allowed: list[str] | None = None
    range: tuple[float | None, float | None] | None = None
    missing: str = Field(min_length=1, description="What a missing value means, in business words.")
    direction: Direction | None = None
    review: dict[str, SignOff] = Field(default_factory=dict)
    label: str | None = Field(
        default=None, max_length=40, description="A short business label, used in reasons."
    )
    missing_values: list[str] | None = Field(
        default=None,
        description="Placeholder values the export writes for 'not given' (e.g. 'Select'): read "
        "as missing.",
    )
    leak_reviewed: LeakReview | None = None

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """A feature pickled (inside a registered model) before a field existed: it is unset."""
        _unpickle_later_fields(self, FEATURE_ADDED_LATER, state)

    @property
    def source(self) -> str:
        """The data column this feature reads."""
        return self.column or self.name

    def todo_fields(self) -> list[str]:
        """Which of description, owner and missing are still `leadml init`'s TODO."""
        return [k for k in ("description", "owner", "missing") if is_todo(getattr(self, k))]

    @field_validator("missing_values")
    @classmethod
    def _placeholders(cls, values: list[str] | None) -> list[str] | None:
        return _placeholder_list(values)

    @field_validator("name")
    @classmethod
    def _name_is_a_word(cls, name: str) -> str:
        if FEATURE_NAME.fullmatch(name):
            return name
        word = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "feature"
        word = word if word[0].isalpha() else f"f_{word}"
        raise ValueError(
            f"feature name {name!r} must be lower-case letters, digits and '_', starting with "
            f"a letter (pattern ^[a-z][a-z0-9_]*$). To read a column named otherwise (spaces, "
            f"capitals), name the feature and give the column's own name as `column:`, e.g. "
            f"name: {word} with column: {name!r}"
        )

    @model_validator(mode="after")
    def _kind_fits(self) -> Feature:
        if self.kind == "categorical":
            if not self.allowed:
                raise ValueError("a categorical feature needs its 'allowed' values")
            if len(set(self.allowed)) != len(self.allowed):
                raise ValueError("'allowed' lists a value twice")
            if self.direction is not None:
                raise ValueError("'direction' applies to numeric and boolean features only")
            both = sorted(set(self.allowed) & set(self.missing_values or []))
            if both:
                raise ValueError(
                    f"{both} are listed both as allowed values and as missing_values; a "
                    "placeholder meaning 'not given' is read as missing, so remove it from allowed"
                )
        elif self.allowed is not None:
            raise ValueError(f"'allowed' applies to categorical features, not {self.kind}")
        if self.kind == "boolean":
            refuse_flag_placeholders(self.missing_values or [], "missing_values")
        if self.range is not None:
            if self.kind != "numeric":
                raise ValueError("'range' applies to numeric features only")
            lo, hi = self.range
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"'range' lower bound {lo} is above upper bound {hi}")
        return self


class Label(_Strict):
    """Which column holds the outcome and which of its values count as sales-ready."""

    column: str
    positive: list[str | int | bool] = Field(min_length=1)
    negative: list[str | int | bool] = Field(min_length=1)
    open: list[str | int | bool | None] = Field(
        default_factory=list,
        description="Values meaning the lead is still open: excluded from training, and counted.",
    )

    @model_validator(mode="after")
    def _disjoint(self) -> Label:
        pos, neg = set(map(norm_value, self.positive)), set(map(norm_value, self.negative))
        opn = set(map(norm_value, self.open))
        if pos & neg or pos & opn or neg & opn:
            raise ValueError("a label value is listed in more than one of positive/negative/open")
        return self


class FeatureSpec(_Strict):
    """The whole reviewed spec, as loaded from `features/*.yaml`."""

    spec_version: int
    title: str = "lead features"
    lead_id: str | None = Field(
        description="Column with the lead id; null: leads are named by row number (1 = first)."
    )
    timestamp: str | None = None
    timestamp_format: str | None = Field(
        default=None,
        description="How the timestamp column writes dates, as a strftime format such as "
        "'%d/%m/%Y %H:%M'; without it each value is read by its own format, and a date such "
        "as 03/04/2025 (day or month first?) is an error.",
    )
    missing_values: list[str] | None = Field(
        default=None,
        description="Placeholder values meaning 'not given' in every feature's column (each "
        "feature may add its own).",
    )
    label: Label
    features: list[Feature] = Field(min_length=1)

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """A spec pickled (inside a registered model) before a field existed: the field unset."""
        _unpickle_later_fields(self, ADDED_LATER, state)

    @field_validator("timestamp_format")
    @classmethod
    def _format_reads_back(cls, fmt: str | None) -> str | None:
        """A strftime format that reads back what it writes (so a typo is caught here)."""
        if fmt is None:
            return None
        if "%" not in fmt:
            raise ValueError(f"{fmt!r} has no strftime code such as %d, %m or %Y")
        when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
        try:
            datetime.strptime(when.strftime(fmt), fmt)
        except ValueError:
            raise ValueError(
                f"{fmt!r} is not a date format; write one with strftime codes, such as "
                "'%d/%m/%Y %H:%M' for 03/04/2025 09:30 (day first)"
            ) from None
        return fmt

    @field_validator("missing_values")
    @classmethod
    def _placeholders(cls, values: list[str] | None) -> list[str] | None:
        return _placeholder_list(values)

    @model_validator(mode="after")
    def _unique(self) -> FeatureSpec:
        for attr in ("name", "source"):
            seen: set[str] = set()
            for f in self.features:
                value = getattr(f, attr)
                if value in seen:
                    raise ValueError(f"feature {attr} '{value}' is defined twice")
                seen.add(value)
        if self.timestamp_format and not self.timestamp:
            raise ValueError("'timestamp_format' needs the 'timestamp' column it describes")
        reserved = {self.id_column, self.label.column} | (
            {self.timestamp} if self.timestamp else set()
        )
        for f in self.features:
            if f.source in reserved:
                raise ValueError(f"feature '{f.name}' reads '{f.source}', the id/label/timestamp")
            both = sorted(set(f.allowed or []) & set(self.missing_values or []))
            if both:
                raise ValueError(
                    f"feature '{f.name}' allows {both}, which the spec's missing_values reads as "
                    "missing; remove it from one of them"
                )
            if f.kind == "boolean":
                refuse_flag_placeholders(
                    self.missing_values or [], f"the spec's missing_values (feature '{f.name}')"
                )
        return self

    def placeholders(self, f: Feature) -> frozenset[str]:
        """The values read as missing in `f`'s column: the spec's and the feature's own."""
        return frozenset((self.missing_values or []) + (f.missing_values or []))

    @property
    def id_column(self) -> str:
        """Where checked leads keep their id: the lead id column, or `row` for row numbers."""
        return self.lead_id or "row"

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def content_hash(self) -> str:
        """A hash of the spec's meaning (not its layout): stored with every run and model."""
        unset = {name for name in ADDED_LATER if getattr(self, name) is None}
        meaning = self.model_dump(mode="json", exclude=unset)
        for feature in meaning["features"]:
            for name in FEATURE_ADDED_LATER:
                if feature.get(name) is None:
                    feature.pop(name, None)
        canonical = json.dumps(meaning, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def signoffs(self) -> dict[str, dict[str, str]]:
        """Who signed each feature, flattened for logging: {feature: {team: 'who on date (vN)'}}."""
        return {
            f.name: {t: f"{s.by} on {s.when} (v{s.version})" for t, s in f.review.items()}
            for f in self.features
        }

    def training_problems(self) -> list[str]:
        """Why features may not train a model: a description, owner or missing meaning still
        TODO (as `leadml init` drafts them), missing sign-offs, or values known after contact."""
        return [text for _, _, text in self._problems()]

    def unusable(self) -> dict[str, list[str]]:
        """Features with a `training_problems` entry (not signed by both teams, still TODO,
        known only after sales contact), and their problems: what a learned points table may
        not use."""
        found: dict[str, list[str]] = {}
        for name, _, text in self._problems():
            found.setdefault(name, []).append(text)
        return found

    def review_problems(self) -> list[str]:
        """The `training_problems` a review settles: TODOs and sign-offs (an experiment may
        train despite them with --allow-unreviewed)."""
        return [text for _, after, text in self._problems() if not after]

    def after_contact_problems(self) -> list[str]:
        """The `training_problems` of features known only after sales contact (an experiment
        needs --allow-after-contact for them)."""
        return [text for _, after, text in self._problems() if after]

    def _problems(self) -> list[tuple[str, bool, str]]:
        """(feature, known after contact?, problem) per problem, in the spec's order."""
        problems = []
        for f in self.features:
            todo = f.todo_fields()
            if todo:
                them = "them" if len(todo) > 1 else "it"
                problems.append(
                    (f.name, False, f"{f.name}: {' and '.join(todo)} still TODO; write {them} in")
                )
            if f.known_at == "after_contact":
                problems.append(
                    (
                        f.name,
                        True,
                        f"{f.name}: known only after sales contact (known_at: after_contact); "
                        "it would leak the outcome",
                    )
                )
            for team in REQUIRED_SIGNOFFS:
                s = f.review.get(team)
                if s is None:
                    problems.append((f.name, False, f"{f.name}: no sign-off from {team}"))
                elif s.version != self.spec_version:
                    problems.append(
                        (
                            f.name,
                            False,
                            f"{f.name}: {team} signed spec version {s.version}, "
                            f"not the current version {self.spec_version}",
                        )
                    )
        return problems


def refuse_flag_placeholders(values: list[str], where: str) -> None:
    """A yes/no feature's placeholders cannot be a yes or a no ('0', 'No', 'true')."""
    flags = [v for v in values if norm_value(v) in ("0", "1")]
    if flags:
        raise ValueError(
            f"{where} lists {flags} for a boolean feature, which reads them as yes/no values; "
            "a placeholder must mean 'not given'"
        )


def norm_value(value: Any) -> str:
    """Normalise a label or category value for comparison: '1', 1, 1.0 and True all match."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    low = text.lower()
    if low in TRUE_WORDS:
        return "1"
    if low in FALSE_WORDS:
        return "0"
    return text


def load_spec(path: str | Path) -> FeatureSpec:
    """Read and validate a feature spec; errors name the file and the bad key."""
    return parse_spec(read_yaml(path), str(path))


def parse_spec(raw: dict[str, Any], source: str) -> FeatureSpec:
    """Validate a feature spec already read from `source`."""
    try:
        return FeatureSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, source)) from None


def diff_specs(old: FeatureSpec, new: FeatureSpec) -> list[str]:
    lines = []
    top_old = old.model_dump(mode="json", exclude={"features"})
    top_new = new.model_dump(mode="json", exclude={"features"})
    lines += diff_records({"spec": top_old}, {"spec": top_new}, "setting")
    lines += diff_records(
        {f.name: f.model_dump(mode="json") for f in old.features},
        {f.name: f.model_dump(mode="json") for f in new.features},
        "feature",
    )
    return lines
