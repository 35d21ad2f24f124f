"""health model: scores on a continuous scale, and each assessment's coverage and confidence

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, index on it or None): whole-point scores become floats.
SCORES = (('accounts', 'health_score', 'ix_accounts_health_score'), ('assessments', 'score', None),
          ('assessments', 'rules_score', None))


def _retype(table: str, column: str, index: str | None, new_type: sa.types.TypeEngine, nullable: bool) -> None:
    """A column's type changed by add, copy, drop and rename: the same statements on SQLite and PostgreSQL,
    and never the table rebuild a batch migration would do on SQLite (dropping accounts fires the ON DELETE
    actions of every row that refers to them; see 0013)."""
    if index:
        op.drop_index(index, table_name=table)
    # SQLite adds a NOT NULL column only with a default; every row's value is copied in at once.
    default = None if nullable else '0'
    op.add_column(table, sa.Column(f'{column}_new', new_type, nullable=nullable, server_default=default))
    op.execute(f'UPDATE {table} SET {column}_new = {column}')
    op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
    op.execute(f'ALTER TABLE {table} RENAME COLUMN {column}_new TO {column}')
    if index:
        op.create_index(index, table, [column])


def upgrade() -> None:
    for table, column, index in SCORES:
        _retype(table, column, index, sa.Float(), nullable=table == 'accounts')
    op.add_column('assessments', sa.Column('confidence', sa.String(length=6), nullable=True))
    op.add_column('assessments', sa.Column('coverage', sa.JSON(), nullable=True))
    op.add_column('accounts', sa.Column('health_confidence', sa.String(length=6), nullable=True))
    op.create_index('ix_accounts_health_confidence', 'accounts', ['health_confidence'])


def downgrade() -> None:
    op.drop_index('ix_accounts_health_confidence', table_name='accounts')
    op.drop_column('accounts', 'health_confidence')
    op.drop_column('assessments', 'coverage')
    op.drop_column('assessments', 'confidence')
    for table, column, index in SCORES:
        _retype(table, column, index, sa.Integer(), nullable=table == 'accounts')
