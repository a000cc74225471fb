"""Alembic's environment for pixmux's accounting tables: runs on the connection the gateway hands it."""

from __future__ import annotations

from alembic import context
from pixmux.proxy.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table="pixmux_alembic_version")
with context.begin_transaction():
    context.run_migrations()
