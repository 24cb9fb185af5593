"""jobs record a failure code and their worker's host

Revision ID: 0002
Revises: 0001

A failed job records why it failed as a `FailureCode` value (bad_input, out_of_memory, worker_lost, ...), so pages
react to the kind of failure instead of matching the message text. Old rows keep NULL: their code is unknown.
`host` names the machine the worker runs on, so the runner checks a worker's pid only on that machine.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure_code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("host")
        batch_op.drop_column("failure_code")
