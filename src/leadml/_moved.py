"""Old module paths, kept importable: leadml was a flat set of modules before its layered
packages, and models pickled then (in a registry, on disk) and older scripts name those paths.

Each old path imports as the module that holds its code now (the same module object, so
`leadml.model.X` and `leadml.scoring.scorer.X` are one thing). `install()` runs when `leadml` is
imported.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

MOVED = {
    "leadml.audit": "leadml.evaluation.audit",
    "leadml.calibration": "leadml.scoring.calibration",
    "leadml.card": "leadml.training.card",
    "leadml.columns": "leadml.data.columns",
    "leadml.config": "leadml.spec.config",
    "leadml.evaluate": "leadml.evaluation",
    "leadml.explain": "leadml.scoring.tables",
    "leadml.folders": "leadml.data.folders",
    "leadml.gate": "leadml.serving.gate",
    "leadml.model": "leadml.scoring.scorer",
    "leadml.plots": "leadml.evaluation.plots",
    "leadml.process": "leadml.serving.process",
    "leadml.report": "leadml.evaluation.report",
    "leadml.review": "leadml.rules.review",
    "leadml.synth": "leadml.data.synth",
    "leadml.tracking": "leadml.registry",
    "leadml.train": "leadml.compat",
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path in `MOVED` and loads it as the module it moved to."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(MOVED[spec.name])
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # the import system gave the module the old path's spec: it keeps its own
        module.__spec__ = self._specs.pop(module.__spec__.name if module.__spec__ else "", None)


def install() -> None:
    """Make the old paths importable (once per process)."""
    if not any(isinstance(f, MovedModules) for f in sys.meta_path):
        sys.meta_path.append(MovedModules())
