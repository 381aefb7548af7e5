"""who may answer a wait: approvers, allow_self, the initiator's email

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 12:35:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Approvers on waits (a JSON copy and one row per principal), initiator emails."""
    op.add_column("executions", sa.Column("initiator_email", sa.String(320), nullable=True))
    op.add_column("steps", sa.Column("approvers", sa.Text(), nullable=True))
    op.add_column(
        "steps", sa.Column("allow_self", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "wait_approvers",
        sa.Column("execution_id", sa.String(36), nullable=False),
        sa.Column("step_no", sa.Integer(), nullable=False),
        sa.Column("principal", sa.String(320), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id", "step_no"],
            ["steps.execution_id", "steps.step_no"],
            name="fk_wait_approvers_execution_id_steps",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", "step_no", "principal", name="pk_wait_approvers"),
    )


def downgrade() -> None:
    """Back to 0003."""
    op.drop_table("wait_approvers")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("allow_self")
        batch.drop_column("approvers")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("initiator_email")
