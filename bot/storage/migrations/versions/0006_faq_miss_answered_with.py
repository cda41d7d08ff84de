"""An unanswered question can be a wrong answer: the FAQ the resident said "没用" to.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faq_misses") as batch:
        batch.add_column(sa.Column("answered_with", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("faq_misses") as batch:
        batch.drop_column("answered_with")
