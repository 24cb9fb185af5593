"""shadow answers: a candidate model's answers on live traffic, apart from the prediction log

Revision ID: 0011
Revises: 0010

One row per (prediction, shadow model): the unique index makes "logged exactly once" a property of the store, not
only of the serving code. Which model is in shadow is kept in `model_events` (`shadow_on` / `shadow_off`), so no
other table changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shadow_predictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("model_label", sa.String(length=300), nullable=False),
        sa.Column("detections", sa.JSON(), nullable=False),
        sa.Column("n_detections", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shadow_predictions_once", "shadow_predictions", ["prediction_id", "model_label"], unique=True)
    op.create_index("ix_shadow_predictions_model", "shadow_predictions", ["model_label"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_shadow_predictions_model", table_name="shadow_predictions")
    op.drop_index("ix_shadow_predictions_once", table_name="shadow_predictions")
    op.drop_table("shadow_predictions")
