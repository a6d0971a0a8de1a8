"""The baseline: the same registered model served the way a user would otherwise write it,
a minimal FastAPI + uvicorn app calling the MLflow pyfunc (the scikit-learn pipeline) on a
pandas frame per request. bench/serve.py starts it with uvicorn."""

from __future__ import annotations

import os

from leadml.runtime import configure

configure()

import mlflow.pyfunc  # noqa: E402
import pandas as pd  # noqa: E402
from fastapi import Body, FastAPI  # noqa: E402
from fastapi.responses import Response  # noqa: E402

name = os.environ.get("LEADML_MODEL_NAME", "lead-qualifier")
model = mlflow.pyfunc.load_model(f"models:/{name}@{os.environ.get('LEADML_MODEL', 'champion')}")
app = FastAPI()


@app.post("/score")
def score(body: dict = Body(...)) -> Response:
    frame = pd.DataFrame(body["leads"])
    reasons = body.get("reasons", 3) if body.get("explain", True) else 0
    scored = model.predict(frame, params={"reasons": reasons})
    return Response(scored.to_json(orient="records"), media_type="application/json")
