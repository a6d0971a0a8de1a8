"""MLflow models-from-code entry: MLflow runs this file to build the lead model's pyfunc."""

import mlflow.models

from leadml.registry.pyfunc import LeadModelPyfunc

mlflow.models.set_model(LeadModelPyfunc())
