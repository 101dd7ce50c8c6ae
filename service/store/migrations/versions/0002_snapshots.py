"""Review snapshots: one row per pain episode (its peak), files under data_dir/snapshots/<alert_id>/.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("alert_id", sa.String(32), sa.ForeignKey("alerts.id"), primary_key=True),
        sa.Column("bed_id", sa.String(64), sa.ForeignKey("beds.id"), nullable=False),
        sa.Column("group_id", sa.String(100), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("opened_at", sa.Float(), nullable=False),
        sa.Column("closed_at", sa.Float(), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("pain_probability", sa.Float(), nullable=True),
        sa.Column("estimated_score", sa.Integer(), nullable=True),
        sa.Column("detector", sa.String(64), nullable=False),
        sa.Column("detector_score", sa.Float(), nullable=True),
        sa.Column("x", sa.Integer(), nullable=False),
        sa.Column("y", sa.Integer(), nullable=False),
        sa.Column("side", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("crop_path", sa.String(300), nullable=False),
        sa.Column("gradcam_path", sa.String(300), nullable=False),
        sa.Column("cam_path", sa.String(300), nullable=False),
        sa.Column("trace_path", sa.String(300), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_snapshots_bed_ts", "snapshots", ["bed_id", "ts"])
    op.create_index("ix_snapshots_updated_at", "snapshots", ["updated_at"])


def downgrade() -> None:
    op.drop_table("snapshots")
