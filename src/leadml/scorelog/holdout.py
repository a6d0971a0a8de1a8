"""The random holdout: a fixed share of leads the CRM routes by the agreed rules alone, so the
model's lift over the rules can be measured without selection bias. A lead is in or out by a
salted hash of its id, so it stays where it is whoever scores it, and whenever."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from leadml.errors import ConfigError

SHARE_ENV, SALT_ENV = "LEADML_HOLDOUT", "LEADML_HOLDOUT_SALT"
DEFAULT_SALT = "leadml-holdout"
SCALE = float(2**64)


@dataclass(frozen=True)
class Holdout:
    """`share` of leads (0: off) chosen by the hash of `salt` + lead id."""

    share: float = 0.0
    salt: str = DEFAULT_SALT

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Holdout:
        """`LEADML_HOLDOUT` (a share such as 0.05; unset or 0: off) and `LEADML_HOLDOUT_SALT`."""
        raw = env.get(SHARE_ENV, "").strip()
        try:
            share = float(raw) if raw else 0.0
        except ValueError:
            share = -1.0
        if not 0.0 <= share < 1.0:
            raise ConfigError(
                f"{SHARE_ENV}={raw!r}: give the share of leads held out, from 0 (off) to below 1, "
                "such as 0.05"
            )
        return cls(share, env.get(SALT_ENV, "").strip() or DEFAULT_SALT)

    @functools.cached_property
    def _key(self) -> bytes:
        """The hash key from the salt: worked out once, not per request."""
        return hashlib.blake2b(self.salt.encode(), digest_size=32).digest()

    def flags(self, lead_ids: Iterable[str]) -> np.ndarray:
        """Per lead id: whether it is in the holdout (an empty id, a lead without one, never)."""
        ids = [str(i) for i in lead_ids]
        if self.share <= 0:
            return np.zeros(len(ids), dtype=bool)
        key = self._key
        draws = np.fromiter(
            (
                int.from_bytes(hashlib.blake2b(i.encode(), key=key, digest_size=8).digest())
                for i in ids
            ),
            dtype=np.float64,
            count=len(ids),
        )
        return (draws / SCALE < self.share) & np.array([i != "" for i in ids], dtype=bool)
