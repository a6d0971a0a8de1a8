"""How the scoring API runs: its settings from the `LEADML_*` variables, and the model it serves."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from leadml.errors import ConfigError
from leadml.serving.gate import load_api_keys

DEFAULT_MAX_BATCH = 1_000


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
