"""Ward of several nodes: the node registry (server-side heartbeat), each bed's owning node, and at most one
active `node_down` alert per bed (a partial unique index: surviving nodes race to raise it, one wins).

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

ACTIVE_NODE_DOWN = "kind = 'node_down' AND status <> 'closed'"


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("advertise_url", sa.String(300), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.Column("instance", sa.String(32), nullable=True),
    )
    with op.batch_alter_table("beds") as batch:
        batch.add_column(sa.Column("node_id", sa.String(64), nullable=True))
    op.create_index(
        "ux_alerts_active_node_down",
        "alerts",
        ["bed_id"],
        unique=True,
        postgresql_where=sa.text(ACTIVE_NODE_DOWN),
        sqlite_where=sa.text(ACTIVE_NODE_DOWN),
    )


def downgrade() -> None:
    op.drop_index("ux_alerts_active_node_down", table_name="alerts")
    with op.batch_alter_table("beds") as batch:
        batch.drop_column("node_id")
    op.drop_table("nodes")
