"""MLflow: the tracking store, training runs, the lead model as a pyfunc, the registry's
aliases, and promotion through the gates."""

from leadml.registry.aliases import Resolved, check_artifacts, current, load_lead_model, resolve
from leadml.registry.champion import COMPARED_TAG, OVERLAP_TAG, champion_on_test
from leadml.registry.failures import move_alias, store_errors
from leadml.registry.gates import RunRecord, check_gates, run_record
from leadml.registry.leaks import LEAK_TAG
from leadml.registry.promotion import HISTORY_TAG, promote, rollback
from leadml.registry.pyfunc import LeadModelPyfunc, input_schema, log_lead_model
from leadml.registry.runs import RunStopped, close_orphaned_runs, owned_run
from leadml.registry.store import (
    CHALLENGER,
    CHAMPION,
    DEFAULT_DB,
    client,
    tracking_uri,
    use_experiment,
)
from leadml.registry.tracking import describe_version, log_training, register

__all__ = [
    "CHALLENGER", "CHAMPION", "COMPARED_TAG", "DEFAULT_DB", "HISTORY_TAG", "LEAK_TAG",
    "OVERLAP_TAG", "LeadModelPyfunc", "Resolved", "RunRecord", "RunStopped", "champion_on_test",
    "check_artifacts", "check_gates", "client", "close_orphaned_runs", "current",
    "describe_version", "input_schema", "load_lead_model", "log_lead_model", "log_training",
    "move_alias", "owned_run", "promote", "register", "resolve", "rollback", "run_record",
    "store_errors", "tracking_uri", "use_experiment",
]  # fmt: skip
