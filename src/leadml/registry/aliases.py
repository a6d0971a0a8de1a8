"""The model registry: a model by alias (`champion`, `challenger`) or version, and loading it."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import mlflow.pyfunc

from leadml.errors import RegistryError
from leadml.registry.store import client, tracking_uri
from leadml.scoring.lead_model import LeadModel


@dataclass
class Resolved:
    name: str
    version: str
    alias: str | None
    run_id: str


def resolve(name: str, ref: str) -> Resolved:
    """A registry reference: an alias (`champion`, `challenger`) or a version number."""
    c = client()
    try:
        mv = (
            c.get_model_version(name, ref)
            if ref.isdigit()
            else c.get_model_version_by_alias(name, ref)
        )
    except Exception as exc:
        what = "version" if ref.isdigit() else "alias"
        raise RegistryError(
            f"no model '{name}' {what} '{ref}' in the registry at {tracking_uri()} "
            f"({type(exc).__name__}). Train one with `leadml train`, or name the model with --name."
        ) from None
    return Resolved(name, str(mv.version), None if ref.isdigit() else ref, mv.run_id)


def current(name: str, alias: str) -> Resolved | None:
    """The version an alias points at, or None when the alias (or the model) does not exist."""
    try:
        return resolve(name, alias)
    except RegistryError:
        return None


def load_lead_model(name: str, ref: str) -> tuple[LeadModel, Resolved]:
    """Load the lead model pinned by alias or version (never 'latest')."""
    resolved = resolve(name, ref)
    # MLflow puts the model's copy of the leadml code first on sys.path; leadml is already
    # imported here, and worker processes started later (Dask) must import the same installed
    # code, not that copy
    saved_path = list(sys.path)
    try:
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{resolved.version}")
    except Exception as exc:
        raise RegistryError(
            f"model '{name}' version {resolved.version} could not load: {exc}"
        ) from None
    finally:
        sys.path[:] = saved_path
    return pyfunc.unwrap_python_model().lead_model, resolved
