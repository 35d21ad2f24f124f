"""success plans: the customer's outcomes with their metrics, and milestones

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'active'")


def _stamps() -> list[sa.Column]:
    return [sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False)]


def _account() -> sa.Column:
    return sa.Column('account_id', sa.Integer(), sa.ForeignKey('accounts.id', ondelete='CASCADE'), nullable=False)


def _plan() -> sa.Column:
    return sa.Column('plan_id', sa.Integer(), sa.ForeignKey('success_plans.id', ondelete='CASCADE'), nullable=False)


def upgrade() -> None:
    op.create_table(
        'success_plans',
        sa.Column('id', sa.Integer(), primary_key=True),
        _account(),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=True),
        sa.Column('external_id', sa.String(length=200), nullable=True),
        *_stamps(),
        sa.Column('version', sa.Integer(), nullable=False),
    )
    op.create_index('uq_success_plans_active', 'success_plans', ['account_id'], unique=True,
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    op.create_index('uq_success_plans_account_external', 'success_plans', ['account_id', 'external_id'], unique=True)
    op.create_table(
        'plan_outcomes',
        sa.Column('id', sa.Integer(), primary_key=True),
        _plan(),
        _account(),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('metric_name', sa.String(length=120), nullable=False),
        sa.Column('metric_unit', sa.String(length=30), nullable=False),
        sa.Column('baseline', sa.Numeric(18, 4), nullable=False),
        sa.Column('target', sa.Numeric(18, 4), nullable=False),
        sa.Column('current_value', sa.Numeric(18, 4), nullable=True),
        sa.Column('measured_on', sa.Date(), nullable=True),
        sa.Column('target_date', sa.Date(), nullable=False),
        sa.Column('owner_user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('owner_contact_id', sa.Integer(), sa.ForeignKey('contacts.id', ondelete='SET NULL'), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('achieved_on', sa.Date(), nullable=True),
        sa.Column('external_id', sa.String(length=200), nullable=True),
        *_stamps(),
    )
    op.create_index('ix_plan_outcomes_plan_id', 'plan_outcomes', ['plan_id'])
    op.create_index('ix_plan_outcomes_account_status', 'plan_outcomes', ['account_id', 'status'])
    op.create_index('uq_plan_outcomes_plan_external', 'plan_outcomes', ['plan_id', 'external_id'], unique=True)
    op.create_table(
        'plan_milestones',
        sa.Column('id', sa.Integer(), primary_key=True),
        _plan(),
        _account(),
        sa.Column('outcome_id', sa.Integer(), sa.ForeignKey('plan_outcomes.id', ondelete='SET NULL'), nullable=True),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('completed_on', sa.Date(), nullable=True),
        sa.Column('external_id', sa.String(length=200), nullable=True),
        *_stamps(),
    )
    op.create_index('ix_plan_milestones_plan_id', 'plan_milestones', ['plan_id'])
    op.create_index('ix_plan_milestones_account_open', 'plan_milestones', ['account_id', 'completed_on', 'due_on'])
    op.create_index('uq_plan_milestones_plan_external', 'plan_milestones', ['plan_id', 'external_id'], unique=True)


def downgrade() -> None:
    op.drop_table('plan_milestones')
    op.drop_table('plan_outcomes')
    op.drop_table('success_plans')
