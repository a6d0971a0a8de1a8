"""Reading the leads of a request into the matrix the scoring core takes: validated leads one
value at a time (`encode`), or a large body of plainly valid leads a field at a time across all
leads (`read_request`), which gives exactly what the request model and `encode` give."""

from __future__ import annotations

import math
import sys
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel, ValidationError

from leadml.serving.contract import (
    MAX_ID,
    MAX_ID_LENGTH,
    MIN_ID,
    id_field,
    placeholder_numbers,
    record_fields,
)
from leadml.spec.features import FeatureSpec

COLUMNAR_MIN_BYTES = 8_192  # smaller bodies (under ~15 leads) are read faster by the request model

_NUMBER = frozenset({int, float, type(None)})  # bool is a type of its own
_BOOLEAN = frozenset({bool, type(None)})
_ID = frozenset({str, int, type(None)})
_SCALAR = frozenset({str, int, float, bool, type(None)})  # the record's timestamp and label


def _max_items(model: type[BaseModel]) -> int:
    """The most leads a request model takes."""
    limits = [getattr(m, "max_length", None) for m in model.model_fields["leads"].metadata]
    return min((n for n in limits if n is not None), default=sys.maxsize)


class EncodedLeads(list):
    """Leads read by `LeadReader.read_request`, with `X`, their encoding (read, not changed:
    `encode` returns `X` as it is)."""

    X: np.ndarray


class LeadReader:
    """Reads a request's leads by the spec: the id key, the known fields, the encoding."""

    def __init__(self, spec: FeatureSpec):
        self.spec = spec
        self.id_key = id_field(spec)
        self.record = frozenset(record_fields(spec))  # accepted, not scored
        self.known = {self.id_key, *self.record, *(f.source for f in spec.features)}
        self._sources = [f.source for f in spec.features]
        blank = [spec.placeholders(f) for f in spec.features]  # `missing_values`: read as NaN
        self._columns: list[tuple[str, dict[Any, float] | None]] = [
            (
                f.source,
                {v: float(i) for i, v in enumerate(f.allowed)} | dict.fromkeys(ph, math.nan)
                if f.allowed
                else None,
            )
            for f, ph in zip(spec.features, blank, strict=True)
        ]
        # other kinds: the placeholders a lead may send (text, or a number for a numeric field)
        numbers = [  # a numeric or yes/no field's placeholders that read as numbers
            placeholder_numbers(ph) if f.kind != "categorical" else []
            for f, ph in zip(spec.features, blank, strict=True)
        ]
        self._blank: list[frozenset[Any]] = [
            frozenset() if f.allowed else ph | frozenset(nums)
            for f, ph, nums in zip(spec.features, blank, numbers, strict=True)
        ]
        self._blank_numbers = [  # (row of the by-field matrix, its numbers read as missing)
            (j, np.array(nums, dtype=float)) for j, nums in enumerate(numbers) if nums
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

    def read_request(self, model: type[BaseModel], body: bytes) -> BaseModel | None:
        """`model.model_validate_json(body)` for a large body whose values are all plainly
        valid, in about 70% of the time that and `encode` take: parsed by orjson, its leads then
        checked against the spec and encoded a field at a time across all leads, into
        `EncodedLeads`.

        Only values of exactly the JSON type the contract names pass: a number for a numeric
        field, true/false for a boolean, an allowed text for a category, an id as text or a 64-bit
        whole number (text of at most 256 characters), null; the spec's timestamp and label
        columns as any JSON scalar. For anything else, even what the model accepts by coercing
        it (the text "12" for 12), the answer is None: the caller then validates with the
        model, which coerces or names the problem.
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
        width = len(self._fields)
        try:  # every lead names every field (null when missing): one lookup per lead
            values = list(chain.from_iterable(map(self._row, leads)))
            columns: list[Any] = [values[k::width] for k in range(width)]
            more = sum(map(len, leads)) > len(leads) * width
        except KeyError:  # some leads leave fields out
            columns = [list(map(dict.get, leads, repeat(k))) for k in self._fields]
            more = True
        if more and not self._others_fit(leads):
            return None
        if not self._ids_fit(columns[0]):
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
        for j, numbers in self._blank_numbers:  # a placeholder written as a number: missing
            by_field[j, np.isin(by_field[j], numbers)] = math.nan
        if (by_field < self._low).any() or (by_field > self._high).any():
            return None
        out = EncodedLeads(leads)
        out.X = np.ascontiguousarray(by_field.T)
        return out

    def _others_fit(self, leads: list[dict[str, Any]]) -> bool:
        """Whether the fields beyond the features and the id are the record's timestamp and label,
        as JSON scalars (unknown fields: the model rejects them, or reads them to ignore them)."""
        given = set().union(*leads)
        if not self.known.issuperset(given):
            return False
        return all(
            _SCALAR.issuperset({type(lead.get(k)) for lead in leads}) for k in self.record & given
        )

    @staticmethod
    def _ids_fit(ids: list[Any]) -> bool:
        """Whether every id is plainly valid: text of a bounded length, a 64-bit whole number
        (not true/false or 2.0), or null."""
        kinds = set(map(type, ids))
        if not kinds <= _ID:
            return False
        if int in kinds:
            whole = [v for v in ids if type(v) is int]
            if min(whole) < MIN_ID or max(whole) > MAX_ID:
                return False
        if str in kinds:
            return max(len(v) for v in ids if type(v) is str) <= MAX_ID_LENGTH
        return True

    def encode(self, leads: list[dict[str, Any]]) -> np.ndarray:
        """Validated leads -> the booster's float matrix (NaN when missing)."""
        if isinstance(leads, EncodedLeads):
            return leads.X
        X = np.empty((len(leads), len(self._columns)))
        nan = math.nan
        for j, (column, codes) in enumerate(self._columns):
            if codes is None and self._blank[j]:  # placeholders (e.g. 'N/A' or -1): NaN
                blank = self._blank[j]
                values = [lead.get(column) for lead in leads]
                X[:, j] = [nan if v in blank else v for v in values]
            elif codes is None:  # numpy reads None as NaN in a float column
                X[:, j] = [lead.get(column) for lead in leads]
            else:
                code = codes.get
                X[:, j] = [code(lead.get(column), nan) for lead in leads]
        return X

    def unknown_fields(self, leads: list[dict[str, Any]]) -> list[list[str]]:
        """Per lead, the fields it gave that the spec does not know, sorted."""
        known = self.known
        return [sorted(lead.keys() - known) for lead in leads]
