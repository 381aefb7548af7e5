"""server-side sessions, revocable by logout, administrators and timeouts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 06:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The sessions table (app.web.tables): one row per login, keyed by the id's hash."""
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("auth_method", sa.String(16), nullable=False),
        sa.Column("login_at", sa.Float(), nullable=False),
        sa.Column("last_seen_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
        sa.Column("revoked_by", sa.String(320), nullable=True),
        sa.PrimaryKeyConstraint("id_hash", name="pk_sessions"),
    )
    op.create_index("ix_sessions_subject", "sessions", ["subject"])
    op.create_index("ix_sessions_login_at", "sessions", ["login_at"])


def downgrade() -> None:
    """Back to 0009 (every session ends: the cookies' ids no longer find a row)."""
    op.drop_index("ix_sessions_login_at", table_name="sessions")
    op.drop_index("ix_sessions_subject", table_name="sessions")
    op.drop_table("sessions")
