"""covering indexes for "as of a date" lookups

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The portfolio summary looks up, for every account, its latest assessment and revenue event by a
    # date. Carrying the columns those lookups read in the index spares a visit to the wide table row
    # per account (100,000 accounts on SQLite: 1.26 s -> 0.86 s). Each replaces its prefix index.
    op.create_index('ix_assessments_account_created_status', 'assessments',
                    ['account_id', 'created_at', 'id', 'status'], unique=False)
    op.drop_index('ix_assessments_account_created', table_name='assessments')
    op.create_index('ix_revenue_events_account_occurred_amount', 'revenue_events',
                    ['account_id', 'occurred_on', 'id', 'currency', 'arr_after'], unique=False)
    op.drop_index('ix_revenue_events_account_occurred', table_name='revenue_events')


def downgrade() -> None:
    op.create_index('ix_revenue_events_account_occurred', 'revenue_events', ['account_id', 'occurred_on'],
                    unique=False)
    op.drop_index('ix_revenue_events_account_occurred_amount', table_name='revenue_events')
    op.create_index('ix_assessments_account_created', 'assessments', ['account_id', 'created_at'], unique=False)
    op.drop_index('ix_assessments_account_created_status', table_name='assessments')
