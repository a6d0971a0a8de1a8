"""Jobs given up (a `leadml predict` whose output never appeared): their names kept, so a task
still running when its job failed cannot write its scores afterwards.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "discarded_jobs",
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("discarded_jobs")
