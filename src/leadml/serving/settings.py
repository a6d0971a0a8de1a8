"""How the scoring API runs: its settings from the `LEADML_*` variables, and the model it serves."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from leadml.errors import ConfigError
from leadml.registry.store import tracking_uri
from leadml.scorelog.holdout import Holdout
from leadml.scorelog.store import log_url
from leadml.serving.gate import load_api_keys

DEFAULT_MAX_BATCH = 1_000
SPOOL = "score-log-spool"
DEFAULT_SPOOL_MB = 512


def _default_spool(score_log: str | None) -> Path:
    """Beside a SQLite score log; else in the current folder."""
    if score_log and score_log.startswith("sqlite:///"):
        return Path(score_log.removeprefix("sqlite:///")).parent / SPOOL
    return Path.cwd() / SPOOL


@dataclass(frozen=True)
class Served:
    """Which registered model is being served."""

    name: str
    version: str
    alias: str | None
    run_id: str


@dataclass(frozen=True)
class ServiceSettings:
    """How the scoring API runs; `from_env` reads the `LEADML_*` variables (see README)."""

    model_name: str = "lead-qualifier"
    model_ref: str = "champion"
    max_batch: int = DEFAULT_MAX_BATCH
    unknown_fields: UnknownFields = "reject"
    max_body: int = 8 * 1024 * 1024
    api_keys: list[str] = field(default_factory=list, repr=False)
    insecure_dev: bool = False
    workers: int = 1
    access_log: bool = False  # per-request log lines; /metrics counts and times requests
    score_log: str | None = None  # the score log's URL (None: off)
    spool: Path = Path(SPOOL)  # where scores wait while the score log does not answer
    spool_bytes: int = DEFAULT_SPOOL_MB << 20
    flush_seconds: float = 0.25  # how often queued scores are written
    holdout: Holdout = field(default_factory=Holdout)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServiceSettings:
        env = os.environ if environ is None else environ

        def number(name: str, default: int, low: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            if not raw.isdigit() or int(raw) < low:
                raise ConfigError(f"{name}={raw}: expected a whole number >= {low}")
            return int(raw)

        def flag(name: str, default: bool) -> bool:
            raw = env.get(name, "").strip().lower()
            if not raw:
                return default
            if raw not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                raise ConfigError(f"{name}={raw}: expected 1/0, true/false, yes/no or on/off")
            return raw in {"1", "true", "yes", "on"}

        unknown = env.get("LEADML_UNKNOWN_FIELDS", "reject").strip() or "reject"
        if unknown not in ("reject", "ignore"):
            raise ConfigError(f"LEADML_UNKNOWN_FIELDS={unknown}: expected reject or ignore")
        ref = env.get("LEADML_MODEL", "champion").strip() or "champion"
        if ref.lower() == "latest":
            raise ConfigError(
                "LEADML_MODEL=latest: serve an alias (champion, challenger) or a version number, "
                "so what is served is what was promoted"
            )
        max_batch = number("LEADML_MAX_BATCH", DEFAULT_MAX_BATCH, 1)
        score_log = log_url(env.get("MLFLOW_TRACKING_URI") or tracking_uri(), env)
        spool = env.get("LEADML_SCORE_LOG_SPOOL", "").strip()
        return cls(
            model_name=env.get("LEADML_MODEL_NAME", "").strip() or "lead-qualifier",
            model_ref=ref,
            max_batch=max_batch,
            unknown_fields=unknown,  # type: ignore[arg-type]
            max_body=number("LEADML_MAX_BODY_BYTES", max(1 << 20, max_batch * 8192), 1024),
            api_keys=load_api_keys(env),
            insecure_dev=flag("LEADML_INSECURE_DEV", False),
            workers=number("LEADML_WORKERS", 1, 1),
            access_log=flag("LEADML_ACCESS_LOG", False),
            score_log=score_log,
            spool=Path(spool) if spool else _default_spool(score_log),
            spool_bytes=number("LEADML_SCORE_LOG_SPOOL_MB", DEFAULT_SPOOL_MB, 1) << 20,
            flush_seconds=number("LEADML_SCORE_LOG_FLUSH_MS", 250, 10) / 1000,
            holdout=Holdout.from_env(env),
        )

    def check_keys(self) -> None:
        """No API key is only allowed in insecure development mode."""
        if not self.api_keys and not self.insecure_dev:
            raise ConfigError(
                "no API key configured: set LEADML_API_KEYS (comma-separated) or "
                "LEADML_API_KEYS_FILE (one key a line); for a local trial only, run insecurely "
                "with LEADML_INSECURE_DEV=1 (`leadml serve --insecure-dev`)"
            )


UnknownFields = Literal["reject", "ignore"]
