"""drift reports keep their Evidently snapshot, what started them and the newest prediction they covered

Revision ID: 0004
Revises: 0003

`snapshot_path` is the Evidently snapshot JSON beside `html_path`; `trigger` says who asked (manual, auto, cli);
`last_prediction_id` is the newest logged prediction in the report's window, so automatic reports start every N new
predictions. Old rows keep NULL / "manual".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drift_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snapshot_path", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("trigger", sa.String(length=20), nullable=False, server_default="manual"))
        batch_op.add_column(sa.Column("last_prediction_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drift_reports", schema=None) as batch_op:
        batch_op.drop_column("last_prediction_id")
        batch_op.drop_column("trigger")
        batch_op.drop_column("snapshot_path")
