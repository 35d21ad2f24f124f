"""external ids: accounts, contacts and imported signals keyed by the id in the team's own tools

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Per account: the table and the name of its unique (account_id, external_id) index.
PER_ACCOUNT = {"contacts": "uq_contacts_account_external", "touchpoints": "uq_touchpoints_account_external",
               "support_tickets": "uq_support_tickets_account_external",
               "survey_responses": "uq_survey_responses_account_external"}


# Plain ADD COLUMN and unique indexes, never a batch rebuild: on SQLite a rebuild drops the old table,
# and dropping accounts or contacts would fire their ON DELETE actions on every row that refers to them.
def upgrade() -> None:
    op.add_column('accounts', sa.Column('external_id', sa.String(length=200), nullable=True))
    op.create_index('uq_accounts_external_id', 'accounts', ['external_id'], unique=True)
    for table, index in PER_ACCOUNT.items():
        op.add_column(table, sa.Column('external_id', sa.String(length=200), nullable=True))
        op.create_index(index, table, ['account_id', 'external_id'], unique=True)


def downgrade() -> None:
    for table, index in PER_ACCOUNT.items():
        op.drop_index(index, table_name=table)
        op.drop_column(table, 'external_id')
    op.drop_index('uq_accounts_external_id', table_name='accounts')
    op.drop_column('accounts', 'external_id')
