"""refused attempts to answer a wait; waits carry their workflow and initiator

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 12:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The refusals table; steps.workflow and steps.initiator_email (copied from the
    execution, backfilled) so the inbox counts open waits without a join."""
    op.add_column("steps", sa.Column("workflow", sa.String(255), nullable=True))
    op.add_column("steps", sa.Column("initiator_email", sa.String(320), nullable=True))
    op.execute(
        "UPDATE steps SET workflow = (SELECT workflow FROM executions "
        "WHERE executions.id = steps.execution_id), initiator_email = (SELECT "
        "initiator_email FROM executions WHERE executions.id = steps.execution_id) "
        "WHERE kind = 'wait'"
    )
    op.create_index(
        "ix_steps_kind_status_workflow_name_created_at",
        "steps",
        ["kind", "status", "workflow", "name", "created_at"],
    )
    op.drop_index("ix_steps_kind_status_created_at", table_name="steps")
    op.create_index(
        "ix_steps_inbox",
        "steps",
        ["kind", "status", "created_at", "allow_self", "initiator_email", "approvers"],
    )
    op.create_table(
        "refusals",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("execution_id", sa.String(36), nullable=False),
        sa.Column("wait_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sender", sa.Text(), nullable=True),
        sa.Column("path", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_refusals"),
    )
    op.create_index("ix_refusals_execution_id_at", "refusals", ["execution_id", "at"])


def downgrade() -> None:
    """Back to 0004."""
    op.drop_index("ix_refusals_execution_id_at", table_name="refusals")
    op.drop_table("refusals")
    op.drop_index("ix_steps_kind_status_workflow_name_created_at", table_name="steps")
    op.drop_index("ix_steps_inbox", table_name="steps")
    op.create_index("ix_steps_kind_status_created_at", "steps", ["kind", "status", "created_at"])
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("initiator_email")
        batch.drop_column("workflow")
