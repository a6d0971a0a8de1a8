"""What a job's scores share (the job, the model, the spec and rules hashes) kept once in `jobs`,
each score row naming its job by `job_id`: a third less to write and store per score.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
SHARED = ["job", "source", "model_name", "model_version", "model_alias", "spec_hash", "rules_hash"]
OWN = [
    "lead_id", "scored_at", "features", "probability", "band", "sales_ready", "rules_points",
    "rules_probability", "rules_sales_ready", "reasons", "holdout",
]  # fmt: skip


def _shared_columns() -> list[sa.Column]:
    return [
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("model_alias", sa.String(64)),
        sa.Column("spec_hash", sa.String(32), nullable=False),
        sa.Column("rules_hash", sa.String(32), nullable=False),
    ]


def _own_columns() -> list[sa.Column]:
    return [
        sa.Column("lead_id", sa.String(256), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("features", sa.Text, nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("band", sa.String(8), nullable=False),
        sa.Column("sales_ready", sa.Boolean, nullable=False),
        sa.Column("rules_points", sa.Float, nullable=False),
        sa.Column("rules_probability", sa.Float, nullable=False),
        sa.Column("rules_sales_ready", sa.Boolean, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("holdout", sa.Boolean, nullable=False),
    ]


def _same_job(a: str, b: str) -> str:
    """SQL: rows `a` and `b` have the same job columns (two missing aliases are the same, as
    SELECT DISTINCT has them)."""
    same = [f"{a}.{c} = {b}.{c}" for c in SHARED if c != "model_alias"]
    alias = (
        f"({a}.model_alias = {b}.model_alias OR ({a}.model_alias IS NULL AND "
        f"{b}.model_alias IS NULL))"
    )
    return " AND ".join([*same, alias])


def _swap(new: str) -> None:
    """`new` replaces `scores`, with the score indexes, its ids going on from the last."""
    op.drop_index("ix_scores_lead_id", "scores")
    op.drop_index("ix_scores_scored_at", "scores")
    op.drop_table("scores")
    op.rename_table(new, "scores")
    op.create_index("ix_scores_lead_id", "scores", ["lead_id"])
    op.create_index("ix_scores_scored_at", "scores", ["scored_at"])
    if op.get_bind().dialect.name == "postgresql":  # the sequence the new table came with
        op.execute(
            "SELECT setval(pg_get_serial_sequence('scores', 'id'), "
            "COALESCE((SELECT max(id) FROM scores), 0) + 1, false)"
        )


def upgrade() -> None:
    shared, own = ", ".join(SHARED), ", ".join(OWN)
    op.create_table(
        "jobs", sa.Column("id", ROW_ID, primary_key=True, autoincrement=True), *_shared_columns()
    )
    op.create_index("ix_jobs_job", "jobs", ["job"])
    op.execute(f"INSERT INTO jobs ({shared}) SELECT DISTINCT {shared} FROM scores")
    op.create_table(
        "scores_new",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("job_id", ROW_ID, nullable=False),  # no foreign key: see leadml's schema
        *_own_columns(),
    )
    op.execute(
        f"INSERT INTO scores_new (id, job_id, {own}) "
        f"SELECT s.id, j.id, {', '.join(f's.{c}' for c in OWN)} "
        f"FROM scores s JOIN jobs j ON {_same_job('s', 'j')}"
    )
    _swap("scores_new")


def downgrade() -> None:
    shared, own = ", ".join(SHARED), ", ".join(OWN)
    op.create_table(
        "scores_wide",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        *_own_columns(),
        *_shared_columns(),
    )
    op.execute(
        f"INSERT INTO scores_wide (id, {own}, {shared}) "
        f"SELECT s.id, {', '.join(f's.{c}' for c in OWN)}, {', '.join(f'j.{c}' for c in SHARED)} "
        "FROM scores s JOIN jobs j ON j.id = s.job_id"
    )
    _swap("scores_wide")
    op.drop_index("ix_jobs_job", "jobs")
    op.drop_table("jobs")
