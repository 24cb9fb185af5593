"""jobs record their worker's start-time token and their last progress

Revision ID: 0008
Revises: 0007

`pid_started` is the worker process's start time as the kernel counts it (`/proc/<pid>/stat` field 22), written
beside its pid: the runner signals a pid only while that token still matches, so a pid reused after a restart is
never killed. `progress_at` is when the worker last reported progress (the heartbeat thread does not touch it): the
watchdog fails a job that is alive but has made no progress for longer than its kind allows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pid_started", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("progress_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("progress_at")
        batch_op.drop_column("pid_started")
