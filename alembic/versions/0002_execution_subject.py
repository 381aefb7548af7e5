"""execution subject, for the dashboard's lists

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add executions.subject."""
    op.add_column("executions", sa.Column("subject", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop executions.subject."""
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("subject")
