"""Read model of the ingest: per dataset folder, what the catalogue holds and what failed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from catalogue.schema import UTCDateTime


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ingest_folders',
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('beamline', sa.String(length=32), nullable=True),
    sa.Column('dataset_id', sa.Uuid(), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=True),
    sa.Column('failed_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('retry_at', UTCDateTime(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('path')
    )
    with op.batch_alter_table('ingest_folders', schema=None) as batch_op:
        batch_op.create_index('ix_ingest_folders_status', ['status', 'updated_at', 'path'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ingest_folders', schema=None) as batch_op:
        batch_op.drop_index('ix_ingest_folders_status')

    op.drop_table('ingest_folders')
