"""pretrained checkpoints uploaded as base models; runs record the base model they started from

Revision ID: 0010
Revises: 0009

`pretrained_models` holds each uploaded checkpoint's file path, sha256 (checked again before every run that starts
from it), where it came from and who uploaded it. `runs.pretrained_model_id` names the base model a run started
from (null for a run from an architecture or a registered model).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pretrained_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("weights_path", sa.Text(), nullable=False),
        sa.Column("weights_sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("original_filename", sa.String(length=255), nullable=False),
        sa.Column("class_names", sa.JSON(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("weights_sha256"),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pretrained_model_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_runs_pretrained_model_id", "pretrained_models", ["pretrained_model_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_runs_pretrained_model_id", type_="foreignkey")
        batch_op.drop_column("pretrained_model_id")
    op.drop_table("pretrained_models")
