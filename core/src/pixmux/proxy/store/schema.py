"""
The accounting schema: one set of tables for SQLite and PostgreSQL (SQLAlchemy core).

Money is kept as whole nano-dollars (``BigInteger``, 1e-9 USD): sums and budget checks are
exact on both engines, where floating-point dollars would let ten $0.04 images add up to
$0.39999999999999997. Times are Unix seconds (``Float``). JSON fields (models, metadata) are
text holding JSON, the same on both engines. Alembic's migrations in ``migrations/versions``
create these tables; this module is what the code queries.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["metadata", "teams", "keys", "spend_logs", "reservations", "NANO", "to_nano", "from_nano"]

#: Nano-dollars per dollar.
NANO = 1_000_000_000

metadata = sa.MetaData()

teams = sa.Table(
    "pixmux_teams",
    metadata,
    sa.Column("team_id", sa.String(128), primary_key=True),
    sa.Column("team_alias", sa.String(256), nullable=True),
    sa.Column("models", sa.Text, nullable=False, default="[]"),
    sa.Column("max_budget", sa.BigInteger, nullable=True),
    sa.Column("budget_duration", sa.String(32), nullable=True),
    sa.Column("budget_reset_at", sa.Float, nullable=True),
    sa.Column("spend", sa.BigInteger, nullable=False, default=0),
    sa.Column("reserved", sa.BigInteger, nullable=False, default=0),
    sa.Column("rpm_limit", sa.Integer, nullable=True),
    sa.Column("ipm_limit", sa.Integer, nullable=True),
    sa.Column("metadata", sa.Text, nullable=False, default="{}"),
    sa.Column("blocked", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

keys = sa.Table(
    "pixmux_keys",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),  # sha256 hex of the key; the key itself is never stored
    sa.Column("key_name", sa.String(32), nullable=False),  # "sk-...abcd": enough to recognise, not to use
    sa.Column("key_alias", sa.String(256), nullable=True, unique=True),
    sa.Column("models", sa.Text, nullable=False, default="[]"),
    sa.Column("max_budget", sa.BigInteger, nullable=True),
    sa.Column("budget_duration", sa.String(32), nullable=True),
    sa.Column("budget_reset_at", sa.Float, nullable=True),
    sa.Column("spend", sa.BigInteger, nullable=False, default=0),
    sa.Column("reserved", sa.BigInteger, nullable=False, default=0),
    sa.Column("rpm_limit", sa.Integer, nullable=True),
    sa.Column("ipm_limit", sa.Integer, nullable=True),
    sa.Column("expires", sa.Float, nullable=True),
    sa.Column("metadata", sa.Text, nullable=False, default="{}"),
    sa.Column("user_id", sa.String(256), nullable=True, index=True),
    sa.Column("team_id", sa.String(128), nullable=True, index=True),
    sa.Column("blocked", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

spend_logs = sa.Table(
    "pixmux_spend_logs",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("api_key", sa.String(64), nullable=True, index=True),
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
    sa.Column("start_time", sa.Float, nullable=False, index=True),
    sa.Column("prompt", sa.Text, nullable=True),
)


def to_nano(usd: float) -> int:
    """Dollars to whole nano-dollars (rounded to the nearest)."""
    return round(usd * NANO)


def from_nano(nano: int | None) -> float | None:
    """Whole nano-dollars to dollars."""
    return None if nano is None else nano / NANO


reservations = sa.Table(
    "pixmux_reservations",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("team_id", sa.String(128), nullable=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
