"""users who logged in (first and last login)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 12:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The users table (app.web.tables)."""
    op.create_table(
        "users",
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("groups", sa.Text(), nullable=False),
        sa.Column("auth_method", sa.String(16), nullable=False),
        sa.Column("first_login_at", sa.Float(), nullable=False),
        sa.Column("last_login_at", sa.Float(), nullable=False),
        sa.Column("login_count", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_users"),
    )
    op.create_index("ix_users_email", "users", ["email"])


def downgrade() -> None:
    """Back to 0005."""
    op.drop_index("ix_users_email", table_name="users")
    op.drop_table("users")
