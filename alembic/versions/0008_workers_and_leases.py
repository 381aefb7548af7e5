"""worker processes and the leases of executions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 13:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The workers table; executions.leased_at replaces the unused lease_expires_at (a
    lease now lasts while its owner's heartbeat is fresh); an index for claims."""
    op.create_table(
        "workers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("machine", sa.String(128), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workers"),
    )
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("lease_expires_at")
        batch.add_column(sa.Column("leased_at", sa.Float(), nullable=True))
    op.create_index("ix_executions_lease_owner_state", "executions", ["lease_owner", "state"])


def downgrade() -> None:
    """Back to 0007."""
    op.drop_index("ix_executions_lease_owner_state", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("leased_at")
        batch.add_column(sa.Column("lease_expires_at", sa.Float(), nullable=True))
    op.drop_table("workers")
