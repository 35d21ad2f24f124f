"""portfolio snapshots: the whole portfolio's figures kept while still exact; assessments by time; the
review queue's order in its index

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'portfolio_snapshots',
        sa.Column('kind', sa.String(length=20), primary_key=True),
        sa.Column('key', sa.String(length=80), primary_key=True),
        sa.Column('computed_for', sa.DateTime(timezone=True), nullable=False),
        sa.Column('audit_seen', sa.Integer(), nullable=False),
        sa.Column('audit_recent', sa.Integer(), nullable=False),
        sa.Column('revenue_seen', sa.Integer(), nullable=False),
        sa.Column('revenue_recent', sa.Integer(), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
    )
    op.create_index('ix_assessments_created_at', 'assessments', ['created_at'])
    op.drop_index('ix_drafts_status_created', table_name='drafts')
    op.create_index('ix_drafts_status_created_id', 'drafts', ['status', 'created_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_drafts_status_created_id', table_name='drafts')
    op.create_index('ix_drafts_status_created', 'drafts', ['status', 'created_at'])
    op.drop_index('ix_assessments_created_at', table_name='assessments')
    op.drop_table('portfolio_snapshots')
