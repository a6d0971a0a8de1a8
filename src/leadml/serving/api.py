"""Scoring leads on request: the request contract generated from the feature spec, and a path
from validated JSON leads to the response that never builds a pandas frame. Large batches of
plainly valid leads are read a field at a time (`read_request`) and their response is joined
from pieces shared by many leads (`score_json`); both give exactly what the request model and
`score` give.

The BentoML service (`service/service.py`) is a thin shell around `LeadScoringAPI`; the same
`LeadModel` object scores batch files (`leadml predict`) and requests, so both give the same
probabilities for the same leads.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel, ValidationError

from leadml.rules.engine import RulesScore, distinct_names, names_per_row
from leadml.scoring.bands import assign_bands
from leadml.scoring.lead_model import LeadModel, agreement
from leadml.serving.contract import DEFAULT_REASONS, id_field
from leadml.serving.settings import Served, ServiceSettings, UnknownFields

COLUMNAR_MIN_BYTES = 8_192  # smaller bodies (under ~15 leads) are read faster by the request model


def load_api(settings: ServiceSettings) -> LeadScoringAPI:
    """The scoring API for the registered model the settings name (alias or version)."""
    from leadml.registry.aliases import load_lead_model

    settings.check_keys()
    lead_model, resolved = load_lead_model(settings.model_name, settings.model_ref)
    served = Served(resolved.name, resolved.version, resolved.alias, resolved.run_id)
    return LeadScoringAPI(lead_model, served, settings.unknown_fields)


# --- the request contract ------------------------------------------------------------------


# --- scoring ---------------------------------------------------------------------------------


_NUMBER = frozenset({int, float, type(None)})  # bool is a type of its own
_BOOLEAN = frozenset({bool, type(None)})
_ID = frozenset({str, int, type(None)})


def _max_items(model: type[BaseModel]) -> int:
    """The most leads a request model takes."""
    limits = [getattr(m, "max_length", None) for m in model.model_fields["leads"].metadata]
    return min((n for n in limits if n is not None), default=sys.maxsize)


RulesAnswer = tuple[float, tuple[str, ...], bool, float]  # points, fired, verdict, probability


def _rules_json(answer: RulesAnswer) -> dict[str, Any]:
    """A lead's `rules` in the POST /score and /rules responses."""
    points, fired, sales_ready, probability = answer
    return {
        "points": points,
        "fired": list(fired),
        "sales_ready": sales_ready,
        "probability": probability,
    }


@dataclass(slots=True)
class _Answers:
    """A batch's answers by part, in request order; `rules` lists each distinct answer once."""

    lead_id: list[Any]
    probability: list[float]
    band: list[str]
    sales_ready: list[bool]
    reasons: list[list[dict[str, Any]]] | None
    rules: list[RulesAnswer]
    rules_of: list[int]
    agreement: list[str]
    warnings: list[tuple[str, ...]]


class EncodedLeads(list):
    """Leads read by `LeadScoringAPI.read_request`, with `X`, their encoding (read, not changed:
    `encode` returns `X` as it is)."""

    X: np.ndarray


class LeadScoringAPI:
    """Everything the scoring API does, framework-free: encode, score, explain, describe."""

    def __init__(
        self, lead_model: LeadModel, served: Served, unknown_fields: UnknownFields = "reject"
    ):
        self.model = lead_model
        self.served = served
        self.unknown_fields = unknown_fields
        spec = self.spec = lead_model.spec
        self.id_key = id_field(spec)
        self.known = {self.id_key, *(f.source for f in spec.features)}
        self._sources = [f.source for f in spec.features]
        self._names = np.array(spec.names, dtype=object)
        self._columns = [
            (f.source, {v: float(i) for i, v in enumerate(f.allowed)} if f.allowed else None)
            for f in spec.features
        ]
        # how `read_request` reads leads: every field in one lookup per lead, then by kind
        self._fields = [self.id_key, *self._sources]
        self._row = itemgetter(*self._fields)
        self._codes = [  # (column, code per allowed value and null)
            (1 + j, {None: math.nan, **codes})
            for j, (_, codes) in enumerate(self._columns)
            if codes
        ]
        self._typed = [  # (the JSON types a field takes, its columns)
            (types, [1 + j for j, f in enumerate(spec.features) if f.kind == kind])
            for types, kind in ((_NUMBER, "numeric"), (_BOOLEAN, "boolean"))
        ]
        bounds = np.array([f.range or (None, None) for f in spec.features], dtype=float)
        self._low = np.nan_to_num(bounds[:, :1], nan=-math.inf)  # per field, against every lead
        self._high = np.nan_to_num(bounds[:, 1:], nan=math.inf)
        seen = lead_model.info.get("seen_categories") or {}
        self._unseen = {  # allowed by the spec, but never in the training leads
            j: {
                float(i)
                for i, v in enumerate(f.allowed or [])
                if f.name in seen and v not in seen[f.name]
            }
            for j, f in enumerate(spec.features)
            if f.kind == "categorical"
        }
        self._unseen = {j: codes for j, codes in self._unseen.items() if codes}
        lead_model.scorer.tables_  # noqa: B018 -- build the lookup tables before the first lead
        self.header = {
            "model": served.name,
            "version": served.version,
            "alias": served.alias,
            "spec_hash": lead_model.info.get("spec_hash", spec.content_hash),
            "threshold": lead_model.threshold,
        }

    def read_request(self, model: type[BaseModel], body: bytes) -> BaseModel | None:
        """`model.model_validate_json(body)` for a large body whose values are all plainly
        valid, in about 70% of the time that and `encode` take: parsed by orjson, its leads then
        checked against the spec and encoded a field at a time across all leads, into
        `EncodedLeads`.

        Only values of exactly the JSON type the contract names pass: a number for a numeric
        field, true/false for a boolean, an allowed text for a category, an id as text or a 64-bit
        whole number, null. For anything else, even what the model accepts by coercing it (the
        text "12" for 12), the answer is None: the caller then validates with the model, which
        coerces or names the problem.
        """
        if len(body) < COLUMNAR_MIN_BYTES:
            return None
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(raw) is not dict or type(leads := raw.get("leads")) is not list:
            return None
        try:  # all but the leads, by the model itself: strictly, so nothing is coerced
            top = model.model_validate({**raw, "leads": [{}]}, strict=True)
        except ValidationError:
            return None
        if len(leads) > _max_items(model):
            return None
        encoded = self._read_leads(leads)
        if encoded is None:
            return None
        return model.model_construct(**{**dict(top), "leads": encoded})

    def _read_leads(self, leads: list[Any]) -> EncodedLeads | None:
        if not leads or set(map(type, leads)) != {dict}:
            return None
        try:  # every lead names every field (null when missing): one lookup per lead
            values = list(chain.from_iterable(map(self._row, leads)))
            width = len(self._fields)
            columns: list[Any] = [values[k::width] for k in range(width)]
            extra = sum(map(len, leads)) > len(leads) * len(self.known)
        except KeyError:  # some leads leave fields out
            columns = [list(map(dict.get, leads, repeat(k))) for k in self._fields]
            extra = not self.known.issuperset(set().union(*leads))
        if extra:  # unknown fields: the model rejects them, or reads them to ignore them
            return None
        ids = columns[0]
        kinds = set(map(type, ids))
        if not kinds <= _ID:
            return None
        if int in kinds:
            whole = [v for v in ids if type(v) is int]
            if min(whole) < -(2**63) or max(whole) >= 2**63:
                return None
        for types, at in self._typed:
            if not types.issuperset(map(type, chain.from_iterable(columns[k] for k in at))):
                return None
        try:
            for k, codes in self._codes:
                columns[k] = list(map(codes.__getitem__, columns[k]))
        except (KeyError, TypeError):  # not an allowed value; a list or an object
            return None
        by_field = np.array(columns[1:], dtype=float)  # null: NaN; orjson reads no NaN or inf
        if (by_field < self._low).any() or (by_field > self._high).any():
            return None
        out = EncodedLeads(leads)
        out.X = np.ascontiguousarray(by_field.T)
        return out

    def encode(self, leads: list[dict[str, Any]]) -> np.ndarray:
        """Validated leads -> the booster's float matrix (NaN when missing)."""
        if isinstance(leads, EncodedLeads):
            return leads.X
        X = np.empty((len(leads), len(self._columns)))
        nan = math.nan
        for j, (column, codes) in enumerate(self._columns):
            if codes is None:  # numpy reads None as NaN in a float column
                X[:, j] = [lead.get(column) for lead in leads]
            else:
                code = codes.get
                X[:, j] = [code(lead.get(column), nan) for lead in leads]
        return X

    def warnings(self, leads: list[dict[str, Any]], X: np.ndarray) -> list[tuple[str, ...]]:
        """Per lead, its warnings (leads with the same missing fields share one tuple)."""
        spec = self.spec
        found: list[tuple[str, ...]] = [()] * len(leads)
        missing = np.isnan(X)
        rows = np.flatnonzero(missing.any(axis=1))
        if len(rows):
            texts: dict[tuple[str, ...], tuple[str]] = {}
            per_row = names_per_row(missing[rows], self._sources)
            for i, names in zip(rows.tolist(), per_row, strict=True):
                text = texts.get(names)
                if text is None:
                    text = texts[names] = (f"not given, scored as missing: {', '.join(names)}",)
                found[i] = text
        for j, codes in self._unseen.items():
            f = spec.features[j]
            for i in np.flatnonzero(np.isin(X[:, j], list(codes))).tolist():
                value = f.allowed[int(X[i, j])]
                found[i] += (
                    f"{f.source} = {value} never occurred in the training leads: "
                    "scored as an unknown category",
                )
        if self.unknown_fields == "ignore":
            for i, lead in enumerate(leads):
                extra = sorted(lead.keys() - self.known)
                if extra:
                    found[i] += (f"unknown fields ignored: {', '.join(extra)}",)
        return found

    def _rules(self, X: np.ndarray) -> tuple[RulesScore, list[RulesAnswer], list[int]]:
        """The agreed rules' answer for each distinct set of fired rules (points, verdict and
        probability follow from the rules fired), and each lead's index into them."""
        model = self.model
        rules = model.rules.score_encoded(X, self.spec)
        distinct, rules_of = distinct_names(rules.fired, rules.rule_names, rules.rows)
        first = rules.rows[0]  # a lead of each distinct set of fired rules
        points = rules.points[first]
        answers = list(
            zip(
                points.tolist(),
                distinct,
                rules.verdict[first].tolist(),
                model.rules_calibrator(points).tolist(),
                strict=True,
            )
        )
        return rules, answers, rules_of.tolist()

    def _answers(
        self, leads: list[dict[str, Any]], X: np.ndarray, p: np.ndarray, explain: bool, top: int
    ) -> _Answers:
        model = self.model
        ready = p >= model.threshold
        rules, rule_answers, rules_of = self._rules(X)
        return _Answers(
            lead_id=list(map(dict.get, leads, repeat(self.id_key))),
            probability=p.tolist(),
            band=assign_bands(p, model.bands).tolist(),
            sales_ready=ready.tolist(),
            reasons=self.reasons(X, top) if explain else None,
            rules=rule_answers,
            rules_of=rules_of,
            agreement=agreement(ready, rules.verdict).tolist(),
            warnings=self.warnings(leads, X),
        )

    def score(
        self, leads: list[dict[str, Any]], explain: bool = True, reasons: int = DEFAULT_REASONS
    ) -> dict[str, Any]:
        """The POST /score response for validated leads, in request order."""
        X = self.encode(leads)
        p = self.model.scorer.predict_proba(X)[:, 1]
        if len(leads) == 1:  # the CRM's per-change call: plain Python beats numpy's overheads
            return {**self.header, "leads": [self._one(leads[0], X, float(p[0]), explain, reasons)]}
        a = self._answers(leads, X, p, explain, reasons)
        out = [
            {
                "lead_id": lead_id,
                "probability": prob,
                "band": band,
                "sales_ready": yes,
                "reasons": why,
                "rules": _rules_json(a.rules[k]),
                "agreement": agree,
                "warnings": list(warned),
            }
            for lead_id, prob, band, yes, why, k, agree, warned in zip(
                a.lead_id,
                a.probability,
                a.band,
                a.sales_ready,
                a.reasons or [None] * len(leads),
                a.rules_of,
                a.agreement,
                a.warnings,
                strict=True,
            )
        ]
        return {**self.header, "leads": out}

    def score_json(
        self, leads: list[dict[str, Any]], explain: bool = True, reasons: int = DEFAULT_REASONS
    ) -> bytes:
        """`orjson.dumps(self.score(...))`, without building a dict per lead: what many leads
        share (band and verdict, fired rules, agreement, warnings) is written once, and each
        lead's JSON is joined from those pieces and its id and probability."""
        if len(leads) == 1:
            return orjson.dumps(self.score(leads, explain, reasons))
        X = self.encode(leads)
        a = self._answers(leads, X, self.model.scorer.predict_proba(X)[:, 1], explain, reasons)
        n, dumps = len(leads), orjson.dumps
        band = {  # what follows the probability, up to the reasons
            (b, yes): b',"band":%b,"sales_ready":%b,"reasons":' % (dumps(b), dumps(yes))
            for b in set(a.band)
            for yes in (True, False)
        }
        rules = [b',"rules":%b,"agreement":' % dumps(_rules_json(r)) for r in a.rules]
        agree = {x: b'%b,"warnings":' % dumps(x) for x in set(a.agreement)}
        warnings = {w: dumps(w) + b"}" for w in set(a.warnings)}
        columns = [
            [b',{"lead_id":'] * n,
            list(map(dumps, a.lead_id)),
            [b',"probability":'] * n,
            dumps(a.probability)[1:-1].split(b","),  # numbers as orjson writes them
            list(map(band.__getitem__, zip(a.band, a.sales_ready, strict=True))),
            list(map(dumps, a.reasons)) if a.reasons is not None else [b"null"] * n,
            list(map(rules.__getitem__, a.rules_of)),
            list(map(agree.__getitem__, a.agreement)),
            list(map(warnings.__getitem__, a.warnings)),
        ]
        pieces: list[bytes] = [b""] * (n * len(columns))
        for k, column in enumerate(columns):  # lead by lead, piece by piece
            pieces[k :: len(columns)] = column
        pieces[0] = dumps(self.header)[:-1] + b',"leads":[{"lead_id":'  # no comma before it
        pieces.append(b"]}")
        return b"".join(pieces)

    def _one(
        self, lead: dict[str, Any], X: np.ndarray, p: float, explain: bool, reasons: int
    ) -> dict[str, Any]:
        """`score` for a single lead, value by value (the same answers: a test compares them)."""
        model, spec = self.model, self.spec
        points, fired, rules_yes = model.rules.score_lead(
            {f.name: lead.get(f.source) for f in spec.features}, spec
        )
        yes = p >= model.threshold
        band = next((b for b in ("A", "B", "C") if b in model.bands and p >= model.bands[b]), "D")
        warnings: list[str] = []
        row = X[0].tolist()
        missing = tuple(s for s, x in zip(self._sources, row, strict=True) if x != x)
        if missing:
            warnings.append(f"not given, scored as missing: {', '.join(missing)}")
        for j, codes in self._unseen.items():
            if row[j] in codes:
                f = spec.features[j]
                warnings.append(
                    f"{f.source} = {f.allowed[int(row[j])]} never occurred in the training "
                    "leads: scored as an unknown category"
                )
        if self.unknown_fields == "ignore":
            extra = sorted(lead.keys() - self.known)
            if extra:
                warnings.append(f"unknown fields ignored: {', '.join(extra)}")
        agree = ("both" if rules_yes else "model_only") if yes else (
            "rules_only" if rules_yes else "neither"
        )  # fmt: skip
        return {
            "lead_id": lead.get(self.id_key),
            "probability": p,
            "band": band,
            "sales_ready": yes,
            "reasons": self.reasons(X, reasons)[0] if explain else None,
            "rules": {
                "points": float(points),
                "fired": fired,
                "sales_ready": rules_yes,
                "probability": float(model.rules_calibrator(np.array([points]))[0]),
            },
            "agreement": agree,
            "warnings": warnings,
        }

    def reasons(self, X: np.ndarray, top: int) -> list[list[dict[str, Any]]]:
        """Per lead, the `top` largest contributions: feature, value, direction, size, text."""
        scorer = self.model.scorer
        encoded, order, contrib = scorer.top_contributions(X, top)
        values, texts = scorer.describe(encoded, order, contrib)
        names = self._names[order].tolist()
        sizes = np.round(contrib, 4).tolist()
        ranks = range(order.shape[1])
        return [
            [
                {
                    "feature": names[i][k],
                    "value": values[k][i],
                    "direction": "raises" if sizes[i][k] > 0 else "lowers",
                    "size": sizes[i][k],
                    "text": texts[k][i],
                }
                for k in ranks
            ]
            for i in range(len(encoded))
        ]

    def rules_only(self, leads: list[dict[str, Any]]) -> dict[str, Any]:
        """The POST /rules response: the agreed rules alone."""
        X = self.encode(leads)
        _, answers, rules_of = self._rules(X)
        key = self.id_key
        agreed = self.model.rules
        return {
            "rules_version": agreed.rules_version,
            "rules_hash": agreed.content_hash,
            "sales_ready_points": agreed.sales_ready_points,
            "leads": [
                {"lead_id": lead.get(key), **_rules_json(answers[k])}
                for lead, k in zip(leads, rules_of, strict=True)
            ],
        }

    def describe(self) -> dict[str, Any]:
        """The GET /model response: what is served, how it was trained and evaluated."""
        model, info, spec = self.model, self.model.info, self.spec
        metrics = info.get("metrics", {})

        def part(who: str) -> dict[str, float | None]:
            prefix = f"test_{who}_"
            return {
                k.removeprefix(prefix): (v if math.isfinite(v) else None)
                for k, v in metrics.items()
                if k.startswith(prefix)
            }

        return {
            "model": self.served.name,
            "version": self.served.version,
            "alias": self.served.alias,
            "run_id": self.served.run_id,
            "trained_at": info.get("trained_at"),
            "training_data": info.get("data", {}),
            "windows": info.get("windows", {}),
            "calibration": info.get("calibration"),
            "metrics": {"model": part("model"), "rules": part("rules")},
            "threshold": model.threshold,
            "bands": model.bands,
            "rules": {
                "rules_version": model.rules.rules_version,
                "rules_hash": model.rules.content_hash,
                "sales_ready_points": model.rules.sales_ready_points,
            },
            "spec": {
                "spec_version": spec.spec_version,
                "spec_hash": info.get("spec_hash", spec.content_hash),
                "signoffs": spec.signoffs(),
            },
        }
