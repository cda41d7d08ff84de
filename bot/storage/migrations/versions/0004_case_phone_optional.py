"""A case may have no phone: the resident declined to leave one (staff answer in the chat).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("phone", existing_type=sa.String(length=32), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("phone", existing_type=sa.String(length=32), nullable=False)
