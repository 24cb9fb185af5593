"""annotation and changelogs

Review items learn what they are about and how they ended: the class a reason concerns, a score (label quality,
lower is worse), the resolution ("saved as v5" or why it was dismissed) and who resolved it; an index serves the
Annotate page's per-version queue. Version changelogs already live in `dataset_versions.changelog` (JSON).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("class_name", sa.String(length=100), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("resolution", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=120), nullable=False, server_default=""))
        batch_op.create_index("ix_review_version_status", ["dataset_version_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.drop_index("ix_review_version_status")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("resolution")
        batch_op.drop_column("score")
        batch_op.drop_column("class_name")
