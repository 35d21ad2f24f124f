"""run heartbeats; shared-cycle claims by run

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('agent_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
    # Claims now name the worker run that took them and say when it finished them; a claim time alone
    # could not tell a dead worker's unfinished batch from its finished ones. Plain ALTER TABLE, not a
    # batch table copy: on SQLite, dropping `accounts` to copy it would cascade into its child rows.
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cycle_run_id', sa.Integer(), nullable=True))
    op.execute("ALTER TABLE accounts RENAME COLUMN cycle_claimed_at TO cycle_done_at")


def downgrade() -> None:
    op.execute("ALTER TABLE accounts RENAME COLUMN cycle_done_at TO cycle_claimed_at")
    op.execute("ALTER TABLE accounts DROP COLUMN cycle_run_id")
    with op.batch_alter_table('agent_runs', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
