"""The scoring API without its framework: a request's leads read (`LeadReader`), scored by the
scoring core (`LeadModel.score_encoded`, the same as `leadml predict`), and written as JSON.
Nothing here decides a score, a band, a reason or a verdict: this module only parses and
serialises. Large batches are answered from pieces shared by many leads (`score_json`).

The BentoML service (`service/service.py`) is a thin shell around `LeadScoringAPI`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel, ValidationError

from leadml.registry.aliases import load_lead_model
from leadml.scorelog import ModelRef, ScoreBatch, ScoreLog, new_job
from leadml.scorelog.holdout import Holdout
from leadml.scorelog.spool import Count, ScoreRecorder
from leadml.scorelog.store import ScoreLogError
from leadml.scoring.lead_model import LeadModel, Reasons, Scores
from leadml.serving.contract import DEFAULT_REASONS, Problem, duplicate_leads, request_problems
from leadml.serving.reader import EncodedLeads, LeadReader
from leadml.serving.settings import Served, ServiceSettings, UnknownFields

__all__ = ["EncodedLeads", "LeadScoringAPI", "load_api"]

log = logging.getLogger("leadml.service")
RulesAnswer = tuple[float, tuple[str, ...], bool, float]  # points, fired, verdict, probability


def load_api(settings: ServiceSettings) -> LeadScoringAPI:
    """The scoring API for the registered model the settings name (alias or version), with
    its score log opened (the recorder starts with `LeadScoringAPI.start_recording`)."""
    settings.check_keys()
    score_log = _score_log(settings.score_log) if settings.score_log else None
    lead_model, resolved = load_lead_model(settings.model_name, settings.model_ref)
    served = Served(resolved.name, resolved.version, resolved.alias, resolved.run_id)
    api = LeadScoringAPI(lead_model, served, settings.unknown_fields, settings.holdout)
    api.score_log, api.settings = score_log, settings
    return api


def _score_log(url: str) -> ScoreLog:
    """The score log, its tables made; a database that does not answer yet does not stop the
    service (scores wait in the spool; the writer makes the tables when it answers)."""
    try:
        return ScoreLog.open(url)
    except ScoreLogError as exc:
        if not exc.transient:
            raise
        log.error("%s; the service starts, and its scores wait in the spool", exc)
        return ScoreLog(url)


def _validated(model: type[BaseModel], body: bytes) -> BaseModel | ValidationError:
    """`model.model_validate_json(body)`, or the error it raised."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        return exc


def _rules_json(answer: RulesAnswer) -> dict[str, Any]:
    """A lead's `rules` in the POST /score and /rules responses."""
    points, fired, sales_ready, probability = answer
    return {
        "points": points,
        "fired": list(fired),
        "sales_ready": sales_ready,
        "probability": probability,
    }


def _reasons_json(reasons: Reasons, names: np.ndarray) -> list[list[dict[str, Any]]]:
    """Per lead, its reasons: feature, value, direction, size, text."""
    features = names[reasons.feature].tolist()
    sizes = reasons.size.tolist()
    values, texts = reasons.values, reasons.texts
    ranks = range(reasons.feature.shape[1])
    return [
        [
            {
                "feature": features[i][k],
                "value": values[k][i],
                "direction": "raises" if sizes[i][k] > 0 else "lowers",
                "size": sizes[i][k],
                "text": texts[k][i],
            }
            for k in ranks
        ]
        for i in range(len(features))
    ]


class LeadScoringAPI:
    """Everything the scoring API does, framework-free: read, score, write, describe."""

    def __init__(
        self,
        lead_model: LeadModel,
        served: Served,
        unknown_fields: UnknownFields = "reject",
        holdout: Holdout | None = None,
    ):
        self.model = lead_model
        self.served = served
        self.unknown_fields = unknown_fields
        self.holdout = holdout or Holdout()
        self.score_log: ScoreLog | None = None  # where `start_recording` records scores
        self.settings = ServiceSettings()  # the spool's place and size, how often to write
        self.recorder: ScoreRecorder | None = None
        self.job = new_job("api")
        self.spec = lead_model.spec
        self._hashes = (self.spec.content_hash, lead_model.rules.content_hash)
        self._ref = ModelRef(served.name, served.version, served.alias)
        self.reader = LeadReader(self.spec)
        self.id_key = self.reader.id_key
        self.known = self.reader.known
        self._names = np.array(self.spec.names, dtype=object)
        lead_model.scorer.tables_  # noqa: B018 -- build the lookup tables before the first lead
        self.header = {
            "model": served.name,
            "version": served.version,
            "alias": served.alias,
            "spec_hash": lead_model.info.spec_hash or self.spec.content_hash,
            "threshold": lead_model.threshold,
        }

    def read_request(self, model: type[BaseModel], body: bytes) -> BaseModel | None:
        """See `LeadReader.read_request`."""
        return self.reader.read_request(model, body)

    def parse(self, model: type[BaseModel], body: bytes) -> BaseModel | Problem:
        """The request body read by `model` (a large batch of plainly valid leads a field at a
        time), or the 4xx that names the lead and the field: a value the contract refuses, JSON
        that is not valid or nested too deeply, a lead id given twice."""
        read: BaseModel | ValidationError | None = self.read_request(model, body)
        if read is None:
            read = _validated(model, body)
        if isinstance(read, ValidationError):  # outside `except`: an error here chains no input
            return Problem(*request_problems(read, body, self.id_key, self.reader.record))
        leads = read.leads  # type: ignore[attr-defined]
        if len(leads) > 1:
            return duplicate_leads(leads, self.id_key) or read
        return read

    def encode(self, leads: list[dict[str, Any]]) -> np.ndarray:
        """Validated leads -> the booster's float matrix (NaN when missing)."""
        return self.reader.encode(leads)

    def warnings(self, leads: list[dict[str, Any]], X: np.ndarray) -> list[tuple[str, ...]]:
        """Per lead, the scoring core's warnings, and the unknown fields it ignored."""
        found = self.model.warnings(X)
        if self.unknown_fields == "ignore":
            for i, extra in enumerate(self.reader.unknown_fields(leads)):
                if extra:
                    found[i] += (f"unknown fields ignored: {', '.join(extra)}",)
        return found

    def _scored(
        self, leads: list[dict[str, Any]], explain: bool, reasons: int
    ) -> tuple[Scores, list[tuple[str, ...]], list[bool]]:
        """The scores, warnings and holdout flags of validated leads; the scores are queued
        for the score log (the request never waits on it)."""
        X = self.encode(leads)
        s = self.model.score_encoded(X, reasons if explain else 0)
        flags = [False] * len(leads)
        if self.holdout.share:  # by the lead id: a lead without one is never held out
            given = [i for i, lead in enumerate(leads) if lead.get(self.id_key) is not None]
            held = self.holdout.flags(leads[i][self.id_key] for i in given).tolist()
            for i, h in zip(given, held, strict=True):
                flags[i] = h
        if self.recorder is not None:
            ids = ["" if (v := lead.get(self.id_key)) is None else str(v) for lead in leads]
            self.recorder.record(
                ScoreBatch.of(
                    self.model,
                    self._ref,
                    ids,
                    X,
                    s,
                    source="api",
                    job=self.job,
                    holdout=flags,
                    hashes=self._hashes,
                )
            )
        return s, self.warnings(leads, X), flags

    # -- the score log ---------------------------------------------------------------------------
    def start_recording(self, count: Count | None = None) -> None:
        """Start recording scores to the score log (one recorder per process), if it is on."""
        if self.score_log is not None and self.recorder is None:
            s = self.settings
            self.recorder = ScoreRecorder(
                self.score_log.url,
                self.spec,
                s.spool,
                max_spool_bytes=s.spool_bytes,
                interval=s.flush_seconds,
                count=count,
            ).start()

    def stop_recording(self) -> None:
        """Write (or spool) every queued score: on shutdown."""
        if self.recorder is not None:
            self.recorder.stop()
            self.recorder = None

    def score(
        self, leads: list[dict[str, Any]], explain: bool = True, reasons: int = DEFAULT_REASONS
    ) -> dict[str, Any]:
        """The POST /score response for validated leads, in request order."""
        s, warnings, flags = self._scored(leads, explain, reasons)
        answers, rules_of = s.distinct_rules()
        why = _reasons_json(s.reasons, self._names) if s.reasons else [None] * len(leads)
        out = [
            {
                "lead_id": lead.get(self.id_key),
                "probability": prob,
                "band": band,
                "sales_ready": yes,
                "reasons": reasons_of,
                "rules": _rules_json(answers[k]),
                "agreement": agree,
                "holdout": held,
                "warnings": list(warned),
            }
            for lead, prob, band, yes, reasons_of, k, agree, held, warned in zip(
                leads,
                s.probability.tolist(),
                s.band_letters(),
                s.sales_ready.tolist(),
                why,
                rules_of,
                s.agreement_words(),
                flags,
                warnings,
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
        s, warned, flags = self._scored(leads, explain, reasons)
        answers, rules_of = s.distinct_rules()
        bands, agreements = s.band_letters(), s.agreement_words()
        n, dumps = len(leads), orjson.dumps
        band = {  # what follows the probability, up to the reasons
            (b, yes): b',"band":%b,"sales_ready":%b,"reasons":' % (dumps(b), dumps(yes))
            for b in set(bands)
            for yes in (True, False)
        }
        rules = [b',"rules":%b,"agreement":' % dumps(_rules_json(r)) for r in answers]
        agree = {x: b'%b,"holdout":' % dumps(x) for x in set(agreements)}
        held = {True: b'true,"warnings":', False: b'false,"warnings":'}
        warnings = {w: dumps(w) + b"}" for w in set(warned)}
        why = _reasons_json(s.reasons, self._names) if s.reasons else None
        columns = [
            [b',{"lead_id":'] * n,
            [dumps(lead.get(self.id_key)) for lead in leads],
            [b',"probability":'] * n,
            dumps(s.probability.tolist())[1:-1].split(b","),  # numbers as orjson writes them
            list(map(band.__getitem__, zip(bands, s.sales_ready.tolist(), strict=True))),
            list(map(dumps, why)) if why is not None else [b"null"] * n,
            list(map(rules.__getitem__, rules_of)),
            list(map(agree.__getitem__, agreements)),
            list(map(held.__getitem__, flags)),
            list(map(warnings.__getitem__, warned)),
        ]
        pieces: list[bytes] = [b""] * (n * len(columns))
        for k, column in enumerate(columns):  # lead by lead, piece by piece
            pieces[k :: len(columns)] = column
        pieces[0] = dumps(self.header)[:-1] + b',"leads":[{"lead_id":'  # no comma before it
        pieces.append(b"]}")
        return b"".join(pieces)

    def reasons(self, X: np.ndarray, top: int) -> list[list[dict[str, Any]]]:
        """Per lead, the `top` largest contributions: feature, value, direction, size, text."""
        return _reasons_json(self.model.explain(X, top), self._names)

    def rules_only(self, leads: list[dict[str, Any]]) -> dict[str, Any]:
        """The POST /rules response: the agreed rules alone."""
        s = self.model.score_encoded(self.encode(leads), reasons=0)
        answers, rules_of = s.distinct_rules()
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

        def part(who: str) -> dict[str, float | None]:
            return {k: (v if math.isfinite(v) else None) for k, v in info.metrics_of(who).items()}

        return {
            "model": self.served.name,
            "version": self.served.version,
            "alias": self.served.alias,
            "run_id": self.served.run_id,
            "trained_at": info.trained_at,
            "training_data": info.data,
            "windows": info.windows,
            "calibration": info.calibration,
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
                "spec_hash": info.spec_hash or spec.content_hash,
                "signoffs": spec.signoffs(),
            },
        }
