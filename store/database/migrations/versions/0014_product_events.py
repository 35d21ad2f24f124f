"""product events: a Segment-compatible feed rolled up into usage, and accounts marked for re-assessment

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def account_key() -> sa.Column:
    return sa.Column('account_id', sa.Integer(), sa.ForeignKey('accounts.id', ondelete='CASCADE'), primary_key=True)


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch rebuild (see 0013).
    op.add_column('usage_snapshots', sa.Column('running', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'product_events',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('message_id', sa.String(length=200), nullable=False),
        sa.Column('type', sa.String(length=10), nullable=False),
        sa.Column('user_key', sa.String(length=210), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('feature', sa.String(length=200), nullable=True),
        sa.Column('group_id', sa.String(length=200), nullable=True),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.SmallInteger(), nullable=False, server_default='0'),
        sa.Column('token_id', sa.Integer(), sa.ForeignKey('api_tokens.id', ondelete='SET NULL'), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.UniqueConstraint('message_id', name='uq_product_events_message_id'),
    )
    op.create_index('ix_product_events_user_occurred', 'product_events', ['user_key', 'occurred_at'])
    op.create_index('ix_product_events_received', 'product_events', ['received_at'])
    # The roll-up's queue, and the activity waiting for its user's account: partial, so each stays small.
    op.create_index('ix_product_events_new', 'product_events', ['id'], sqlite_where=sa.text('state = 0'),
                    postgresql_where=sa.text('state = 0'))
    op.create_index('ix_product_events_waiting', 'product_events', ['user_key'], sqlite_where=sa.text('state = 2'),
                    postgresql_where=sa.text('state = 2'))
    op.create_table(
        'product_users',
        sa.Column('user_key', sa.String(length=210), primary_key=True),
        sa.Column('group_id', sa.String(length=200), nullable=True),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('accounts.id', ondelete='SET NULL'), nullable=True),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('contact_id', sa.Integer(), sa.ForeignKey('contacts.id', ondelete='SET NULL'), nullable=True),
        sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_product_users_account_id', 'product_users', ['account_id'])
    op.create_table(
        'event_usage',
        account_key(),
        sa.Column('period_start', sa.Date(), primary_key=True),
        sa.Column('events', sa.Integer(), nullable=False),
        sa.Column('users', sa.Integer(), nullable=False),
        sa.Column('features', sa.Integer(), nullable=False),
    )
    op.create_table(
        'event_usage_users',
        account_key(),
        sa.Column('period_start', sa.Date(), primary_key=True),
        sa.Column('user_key', sa.String(length=210), primary_key=True),
    )
    op.create_table(
        'event_usage_features',
        account_key(),
        sa.Column('period_start', sa.Date(), primary_key=True),
        sa.Column('feature', sa.String(length=200), primary_key=True),
    )
    op.create_table(
        'account_marks',
        account_key(),
        sa.Column('marked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('pending_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.String(length=40), nullable=False),
        sa.Column('claimed_by', sa.Integer(), nullable=True),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lag_seconds', sa.Numeric(10, 3, asdecimal=False), nullable=True),
    )
    op.create_index('ix_account_marks_pending', 'account_marks', ['pending_since'])
    op.create_table(
        'ingest_rejections',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('token_id', sa.Integer(), sa.ForeignKey('api_tokens.id', ondelete='SET NULL'), nullable=True),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
    )
    op.create_index('ix_ingest_rejections_received', 'ingest_rejections', ['received_at'])


def downgrade() -> None:
    for table in ('ingest_rejections', 'account_marks', 'event_usage_features', 'event_usage_users', 'event_usage',
                  'product_users', 'product_events'):
        op.drop_table(table)
    op.drop_column('usage_snapshots', 'running')
