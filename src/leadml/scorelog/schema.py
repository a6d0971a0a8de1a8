"""The score log's tables, as SQLAlchemy Core (Alembic's migrations make them; this is what the
code reads and writes)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()
ROW_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite numbers rows only as INTEGER

# what score rows share, kept once: the job that scored them (a `leadml predict` run, an API
# worker process) and the model, spec and rules it scored with (one row per process that wrote
# them: a Dask job's workers, or a writer started again, may add a row each for one job)
jobs = Table(
    "jobs",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("job", String(64), nullable=False),  # the predict job or API process that scored
    Column("source", String(16), nullable=False),  # api, predict
    Column("model_name", String(256), nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("model_alias", String(64)),
    Column("spec_hash", String(32), nullable=False),
    Column("rules_hash", String(32), nullable=False),
    Index("ix_jobs_job", "job"),
)

# one row per score handed out; re-scoring a lead adds a row, nothing is updated
scores = Table(
    "scores",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    # its row in `jobs` (no foreign key: checking one per row doubled PostgreSQL's work per
    # score; `ScoreLog` checks a job's row once per transaction that writes under it)
    Column("job_id", ROW_ID, nullable=False),
    Column("lead_id", String(256), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    Column("features", Text, nullable=False),  # JSON: the spec's columns as scored
    Column("probability", Float, nullable=False),
    Column("band", String(8), nullable=False),
    Column("sales_ready", Boolean, nullable=False),
    Column("rules_points", Float, nullable=False),
    Column("rules_probability", Float, nullable=False),
    Column("rules_sales_ready", Boolean, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON: {feature: log-odds}, strongest first
    Column("holdout", Boolean, nullable=False),
    Index("ix_scores_lead_id", "lead_id"),
    Index("ix_scores_scored_at", "scored_at"),
)

# one row per outcome the CRM reports; the same outcome again is not a new row, a changed one is
outcomes = Table(
    "outcomes",
    metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("lead_id", String(256), nullable=False),
    Column("outcome", SmallInteger, nullable=False),  # 1 sales-ready, 0 not
    Column("value", String(256), nullable=False),  # as the CRM wrote it ('Won')
    Column("decided_at", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source", String(16), nullable=False),  # api, file
    Index("ix_outcomes_lead_id", "lead_id"),
)

# jobs given up (`ScoreLog.discard_job`): their scores removed, and none written again
discarded_jobs = Table(
    "discarded_jobs",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("discarded_at", DateTime(timezone=True), nullable=False),
)

JOB_COLUMNS = [c.name for c in jobs.columns if c.name != "id"]
ROW_COLUMNS = [c.name for c in scores.columns if c.name != "id"]  # as written, job by its id
# a score as read: its row with its job's columns (`ScoreLog.read_scores`)
SCORE_COLUMNS = [
    "lead_id", "scored_at", *JOB_COLUMNS,
    *(c for c in ROW_COLUMNS if c not in ("job_id", "lead_id", "scored_at")),
]  # fmt: skip
