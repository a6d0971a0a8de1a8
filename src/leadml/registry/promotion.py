"""Promotion and rollback: `champion` moves only through the gates, and back along its history."""

from __future__ import annotations

import json

from leadml.errors import RegistryError
from leadml.registry.aliases import Resolved, current, resolve
from leadml.registry.failures import move_alias, retried, store_errors
from leadml.registry.gates import Gate, check_gates, run_record
from leadml.registry.store import CHALLENGER, CHAMPION, client
from leadml.spec.config import GatesConfig

HISTORY_TAG = "champion_history"


def promote(name: str, ref: str = CHALLENGER) -> tuple[Resolved, list[Gate]]:
    """Move `champion` to the model `ref` if every gate passes; returns the gate results."""
    candidate = resolve(name, ref)
    run = run_record(candidate.run_id)
    tags = run.tags
    gates = json.loads(tags["gates"]) if "gates" in tags else GatesConfig().model_dump()
    champion = current(name, CHAMPION)
    if champion is not None and champion.version == candidate.version:
        raise RegistryError(f"version {candidate.version} is already the champion")
    results = check_gates(run, gates, champion)
    if all(ok for _, ok, _ in results):
        move_alias(name, CHAMPION, candidate.version)
        _set_history(name, [*_history(name), candidate.version])
    return candidate, results


def _history(name: str) -> list[str]:
    with store_errors(f"reading the champion history of model '{name}'"):
        tags = client().get_registered_model(name).tags
    return [v for v in tags.get(HISTORY_TAG, "").split(",") if v]


def _set_history(name: str, history: list[str]) -> None:
    retried(
        f"recording the champion history of model '{name}'",
        lambda: client().set_registered_model_tag(name, HISTORY_TAG, ",".join(history)),
    )


def rollback(name: str) -> tuple[str, str]:
    """Move `champion` back to the version that held it before; returns (from, to).

    The rolled-back version also loses the `challenger` alias, so a routine `leadml promote`
    does not put it straight back.
    """
    history = _history(name)
    if len(history) < 2:
        raise RegistryError(f"'{name}' has no earlier champion to roll back to")
    was, previous = history[-1], history[-2]
    move_alias(name, CHAMPION, previous)
    _set_history(name, history[:-1])
    challenger = current(name, CHALLENGER)
    if challenger is not None and challenger.version == was:
        with store_errors(f"removing alias '{CHALLENGER}' of model '{name}' from version {was}"):
            client().delete_registered_model_alias(name, CHALLENGER)
    return was, previous
