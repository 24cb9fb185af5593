"""evaluation sets of the promotion gate

Revision ID: 0009
Revises: 0008

`eval_sets` holds the versions of each task's evaluation set: the frozen split of a dataset version the gate always
evaluates candidate and production on, its size, class list and instances per class, and who chose or adopted it,
when and why. Rows are only added; the newest number per task is the current set.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("dataset_version_id", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(length=10), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("class_names", sa.JSON(), nullable=False),
        sa.Column("class_instances", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_version_id"], ["dataset_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("eval_sets", schema=None) as batch_op:
        batch_op.create_index("ix_eval_sets_task_number", ["task", "number"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("eval_sets", schema=None) as batch_op:
        batch_op.drop_index("ix_eval_sets_task_number")
    op.drop_table("eval_sets")
