"""audit trail

`audit_events`: one row per call of a function that changes something: who (name and role), which action, on
what, and whether it was allowed.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_created", "audit_events", ["created_at"])
    op.create_index("ix_audit_actor", "audit_events", ["actor"])


def downgrade() -> None:
    op.drop_index("ix_audit_actor", table_name="audit_events")
    op.drop_index("ix_audit_created", table_name="audit_events")
    op.drop_table("audit_events")
