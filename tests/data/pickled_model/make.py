"""How `lead_model.pkl` here was made: a small demo model pickled by leadml at commit d5dfab3
(the flat modules, before the layered packages), with the leads and what it scored for them.

tests/model/test_pickled_model.py loads it with today's code and checks it scores the same.
Run from the project folder with that commit checked out: `python tests/data/pickled_model/make.py`.
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import yaml

from leadml import synth
from leadml.config import load_config
from leadml.runtime import configure
from leadml.train import train

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def main() -> None:
    configure()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "leads.parquet"
        synth.write(12_000, seed=5, out=data)
        config = Path(tmp) / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "name": "pickled",
                    "spec": str(ROOT / "features" / "lead_features.yaml"),
                    "rules": str(ROOT / "features" / "scoring_rules.yaml"),
                    "data": {"path": str(data)},
                    "capacity": {"leads_per_week": 20},
                    "model": {
                        "num_boost_round": 120,
                        "early_stopping_rounds": 20,
                        "params": {"learning_rate": 0.15, "num_leaves": 3},
                    },
                    "checks": {"min_sales_ready": 50},
                }
            )
        )
        result = train(load_config(config))
        model = result.lead_model
        model.scorer.tables_  # noqa: B018 -- pickled with the model, as the registry's are
        (HERE / "lead_model.pkl").write_bytes(pickle.dumps(model, protocol=4))
        leads = next(synth.generate(60, seed=9))
        leads.to_csv(HERE / "leads.csv", index=False)
        model.score(leads, reasons=3).to_parquet(HERE / "scored.parquet", index=False)


if __name__ == "__main__":
    main()
