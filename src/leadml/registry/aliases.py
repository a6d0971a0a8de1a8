"""The model registry: a model by alias (`champion`, `challenger`) or version, and loading it."""

from __future__ import annotations

import posixpath
import sys
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import mlflow.artifacts
import mlflow.pyfunc

from leadml.errors import RegistryError
from leadml.registry.failures import failure
from leadml.registry.store import client, tracking_uri
from leadml.scoring.info import TrainedLeads
from leadml.scoring.lead_model import LeadModel


@dataclass
class Resolved:
    name: str
    version: str
    alias: str | None
    run_id: str


def resolve(name: str, ref: str) -> Resolved:
    """A registry reference: an alias (`champion`, `challenger`) or a version number."""
    try:
        c = client()
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


def load_lead_model(
    name: str, ref: str, *, trained_leads: bool = False
) -> tuple[LeadModel, Resolved]:
    """Load the lead model pinned by alias or version (never 'latest'); with `trained_leads`,
    also the leads it trained and was calibrated on (`ModelInfo.trained_leads`, which
    evaluation reads; scoring leaves them on disk)."""
    resolved = resolve(name, ref)
    check_artifacts(resolved)
    # MLflow puts the model's copy of the leadml code first on sys.path; leadml is already
    # imported here, and worker processes started later (Dask) must import the same installed
    # code, not that copy
    saved_path = list(sys.path)
    try:
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{resolved.version}")
    except Exception as exc:
        check_artifacts(resolved)  # deleted since the check above: name what is missing
        raise RegistryError(
            f"model '{name}' version {resolved.version} could not load: {exc}"
        ) from None
    finally:
        sys.path[:] = saved_path
    python_model = pyfunc.unwrap_python_model()
    lead_model = python_model.lead_model
    path = python_model.trained_leads_path
    if not trained_leads:  # models logged before the artifact carry them in the pickle
        lead_model.info.trained_leads = None
    elif path is not None:
        lead_model.info.trained_leads = TrainedLeads.load(path)
    return lead_model, resolved


# what loading a lead model reads, inside the version's artifact folder (see registry.pyfunc)
MODEL_FILES = ("MLmodel", "artifacts/lead_model.pkl")


def check_artifacts(resolved: Resolved) -> None:
    """Check, by listing them (nothing is downloaded or loaded), that the version's model files
    are where the registry says; a RegistryError names the model, version and missing paths."""
    label = f"model '{resolved.name}' version {resolved.version}"
    try:
        where = client().get_model_version_download_uri(resolved.name, resolved.version)
        missing = [f for f in MODEL_FILES if not _listed(where, f)]
    except Exception as exc:  # a store or artifact server that cannot answer
        raise failure(f"listing the artifacts of {label}", exc) from None
    if missing:
        paths = ", ".join(f"{_readable(where)}/{f}" for f in missing)
        raise RegistryError(
            f"{label} has lost its artifacts (deleted or moved?): missing {paths}. "
            "Restore them, or use another version."
        )


def _listed(where: str, path: str) -> bool:
    """Whether the artifact folder `where` holds the file `path` (one listing, no download)."""
    folder, base = posixpath.split(path)
    uri = f"{where.rstrip('/')}/{folder}" if folder else where
    listed = mlflow.artifacts.list_artifacts(artifact_uri=uri)
    return any(posixpath.basename(f.path) == base for f in listed)


def _readable(uri: str) -> str:
    """A local artifact URI as the folder it names; any other URI as it is."""
    parsed = urlparse(uri)
    return unquote(parsed.path).rstrip("/") if parsed.scheme == "file" else uri.rstrip("/")
