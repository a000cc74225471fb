"""Virtual keys, teams and spend logs.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _budget_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("models", sa.Text, nullable=False),
        sa.Column("max_budget", sa.BigInteger, nullable=True),
        sa.Column("budget_duration", sa.String(32), nullable=True),
        sa.Column("budget_reset_at", sa.Float, nullable=True),
        sa.Column("spend", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("rpm_limit", sa.Integer, nullable=True),
        sa.Column("ipm_limit", sa.Integer, nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "pixmux_teams",
        sa.Column("team_id", sa.String(128), primary_key=True),
        sa.Column("team_alias", sa.String(256), nullable=True),
        *_budget_columns(),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("blocked", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "pixmux_keys",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("key_name", sa.String(32), nullable=False),
        sa.Column("key_alias", sa.String(256), nullable=True, unique=True),
        *_budget_columns(),
        sa.Column("expires", sa.Float, nullable=True),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("team_id", sa.String(128), nullable=True),
        sa.Column("blocked", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_pixmux_keys_user_id", "pixmux_keys", ["user_id"])
    op.create_index("ix_pixmux_keys_team_id", "pixmux_keys", ["team_id"])
    op.create_table(
        "pixmux_spend_logs",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("api_key", sa.String(64), nullable=True),
        sa.Column("team_id", sa.String(128), nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("deployment", sa.String(256), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("provider_model", sa.String(256), nullable=True),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("size", sa.String(32), nullable=True),
        sa.Column("quality", sa.String(32), nullable=True),
        sa.Column("spend", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("start_time", sa.Float, nullable=False),
        sa.Column("prompt", sa.Text, nullable=True),
    )
    op.create_index("ix_pixmux_spend_logs_api_key", "pixmux_spend_logs", ["api_key"])
    op.create_index("ix_pixmux_spend_logs_start_time", "pixmux_spend_logs", ["start_time"])


def downgrade() -> None:
    op.drop_table("pixmux_spend_logs")
    op.drop_table("pixmux_keys")
    op.drop_table("pixmux_teams")
