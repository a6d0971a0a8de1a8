"""The score log's first tables: scores handed out, and outcomes reported.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(256), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("model_alias", sa.String(64)),
        sa.Column("spec_hash", sa.String(32), nullable=False),
        sa.Column("rules_hash", sa.String(32), nullable=False),
        sa.Column("features", sa.Text, nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("band", sa.String(8), nullable=False),
        sa.Column("sales_ready", sa.Boolean, nullable=False),
        sa.Column("rules_points", sa.Float, nullable=False),
        sa.Column("rules_probability", sa.Float, nullable=False),
        sa.Column("rules_sales_ready", sa.Boolean, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("holdout", sa.Boolean, nullable=False),
    )
    op.create_index("ix_scores_lead_id", "scores", ["lead_id"])
    op.create_index("ix_scores_scored_at", "scores", ["scored_at"])
    op.create_table(
        "outcomes",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(256), nullable=False),
        sa.Column("outcome", sa.SmallInteger, nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
    )
    op.create_index("ix_outcomes_lead_id", "outcomes", ["lead_id"])


def downgrade() -> None:
    op.drop_table("outcomes")
    op.drop_table("scores")
