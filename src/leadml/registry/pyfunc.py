"""The lead model as an MLflow pyfunc: how it is logged (signature, requirements) and loaded."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import tempfile
import warnings
from importlib import metadata
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import AnyType, ColSpec, Schema

from leadml.scoring.lead_model import LeadModel

TRAINED_LEADS = "trained_leads"  # the artifact beside the pickle: `TrainedLeads`, 8 bytes a lead


class LeadModelPyfunc(PythonModel):
    """The MLflow face of a LeadModel: `predict` returns the scored leads frame."""

    def load_context(self, context) -> None:
        with open(context.artifacts["lead_model"], "rb") as fh:
            self.lead_model: LeadModel = pickle.load(fh)
        # the leads it learned from: read only by what asks (`load_lead_model(trained_leads=True)`)
        self.trained_leads_path: str | None = context.artifacts.get(TRAINED_LEADS)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        reasons = int((params or {}).get("reasons", 3))
        return self.lead_model.score(model_input, reasons=reasons)


# What loading and scoring a logged lead model imports (`leadml.scoring` and what it stands on,
# and MLflow to load it): the model's pip requirements. Not Dask, matplotlib, BentoML or the
# CLI's packages, which training, the API and the command line add; a test loads a logged model
# in a fresh process and checks none of them is imported.
SCORING_REQUIREMENTS = (
    "mlflow", "lightgbm", "numpy", "pandas", "pyarrow", "pydantic", "pyyaml", "scikit-learn",
    "scipy", "sqlalchemy", "typing_extensions",
)  # fmt: skip


def _requirements() -> list[str]:
    """`SCORING_REQUIREMENTS`, pinned as installed here."""
    return [f"{name}=={metadata.version(name)}" for name in SCORING_REQUIREMENTS]


def input_schema(lead_model: LeadModel) -> Schema:
    """One optional column per spec feature (and the lead id), of any type.

    CRM exports type the same field differently (int, float, text); the lead model checks and
    casts every value by the spec with clear errors, so MLflow's own type check stays out.
    """
    spec = lead_model.spec
    columns = ([spec.lead_id] if spec.lead_id else []) + [f.source for f in spec.features]
    return Schema([ColSpec(AnyType(), name=c, required=False) for c in columns])


def log_lead_model(lead_model: LeadModel, input_example: pd.DataFrame) -> str:
    """Log the lead model as a pyfunc with signature and input example; returns its model URI."""
    output = lead_model.score(input_example)
    with warnings.catch_warnings():  # the inferred input schema is replaced below
        warnings.simplefilter("ignore", UserWarning)
        inferred = infer_signature(input_example, output, params={"reasons": 3})
    signature = ModelSignature(input_schema(lead_model), inferred.outputs, inferred.params)
    trained = lead_model.info.trained_leads
    served = copy.copy(lead_model)  # what scoring loads: not the leads it learned from
    served.info = dataclasses.replace(lead_model.info, trained_leads=None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lead_model.pkl"
        path.write_bytes(pickle.dumps(served))
        artifacts = {"lead_model": str(path)}
        if trained is not None:
            artifacts[TRAINED_LEADS] = str(Path(tmp) / f"{TRAINED_LEADS}.npz")
            trained.save(Path(artifacts[TRAINED_LEADS]))
        info = mlflow.pyfunc.log_model(
            name="lead_model",
            python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
            artifacts=artifacts,
            signature=signature,
            input_example=input_example,
            pip_requirements=_requirements(),
            code_paths=[str(Path(__file__).parents[1])],
        )
    return info.model_uri
