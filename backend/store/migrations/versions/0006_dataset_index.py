"""dataset version index

Per version an index of its images and boxes, written once when the version is made, so pages browse, filter and
chart a 100,000-image version with SQL instead of reading its folder: `dataset_indexes` (state, class names, a
small summary), `index_images` (split, size, file stamp, box count, classes) and `index_boxes` (class, place, size).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_indexes",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("boxes", sa.Integer(), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["version_id"], ["dataset_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id"),
    )
    op.create_table(
        "index_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("file", sa.String(length=500), nullable=False),
        sa.Column("rel_path", sa.Text(), nullable=False),
        sa.Column("split", sa.String(length=20), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("boxes", sa.Integer(), nullable=False),
        sa.Column("classes", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["dataset_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_index_images_version_position", "index_images", ["version_id", "position"], unique=True)
    op.create_index("ix_index_images_version_file", "index_images", ["version_id", "file"], unique=False)
    op.create_index("ix_index_images_version_split", "index_images", ["version_id", "split", "position"], unique=False)
    op.create_index("ix_index_images_version_boxes", "index_images", ["version_id", "boxes"], unique=False)
    op.create_index("ix_index_images_version_size", "index_images", ["version_id", "width", "height"], unique=False)
    op.create_table(
        "index_boxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("image_position", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("cx", sa.Float(), nullable=False),
        sa.Column("cy", sa.Float(), nullable=False),
        sa.Column("w", sa.Float(), nullable=False),
        sa.Column("h", sa.Float(), nullable=False),
        sa.Column("area", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["dataset_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_index_boxes_version_class", "index_boxes", ["version_id", "class_id", "image_position"], unique=False
    )
    op.create_index("ix_index_boxes_version_image", "index_boxes", ["version_id", "image_position"], unique=False)
    op.create_index("ix_index_boxes_version_area", "index_boxes", ["version_id", "area"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_index_boxes_version_area", table_name="index_boxes")
    op.drop_index("ix_index_boxes_version_image", table_name="index_boxes")
    op.drop_index("ix_index_boxes_version_class", table_name="index_boxes")
    op.drop_table("index_boxes")
    op.drop_index("ix_index_images_version_size", table_name="index_images")
    op.drop_index("ix_index_images_version_boxes", table_name="index_images")
    op.drop_index("ix_index_images_version_split", table_name="index_images")
    op.drop_index("ix_index_images_version_file", table_name="index_images")
    op.drop_index("ix_index_images_version_position", table_name="index_images")
    op.drop_table("index_images")
    op.drop_table("dataset_indexes")
