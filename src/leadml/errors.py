"""Errors a user can cause: the CLI prints them as one clear message, never a traceback."""

from __future__ import annotations


class LeadmlError(Exception):
    """A problem with the user's input, files or setup, explained in plain words."""


class SpecError(LeadmlError):
    """The feature spec or the agreed rules file is invalid."""


class DataError(LeadmlError):
    """The lead data does not match the feature spec."""


class ConfigError(LeadmlError):
    """A training configuration is invalid."""


class RegistryError(LeadmlError):
    """A model could not be found, loaded or promoted in the MLflow registry."""


def format_validation_error(exc: Exception, source: str) -> str:
    """Turn a pydantic ValidationError into lines that name the file and the bad key."""
    errors = getattr(exc, "errors", None)
    if errors is None:
        return f"{source}: {exc}"
    lines = [f"{source} is invalid:"]
    for err in errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  - {where}: {err['msg']}")
    return "\n".join(lines)
