"""
Virtual keys, budgets and spend for the gateway (``pixmux[db]``; docs/keys-and-spend.md).

Nothing here is imported by ``import pixmux`` or by a gateway without a database:

- :mod:`~pixmux.proxy.store.settings`: the ``general_settings`` keys (pure parsing).
- :mod:`~pixmux.proxy.store.schema` and ``migrations/``: one schema for SQLite and PostgreSQL
  (SQLAlchemy core, Alembic).
- :mod:`~pixmux.proxy.store.database`: every statement, on SQLAlchemy's async engine.
- :mod:`~pixmux.proxy.store.fast`: the two statements on the hot path (reservation, batch
  settlement) straight on the driver.
- :mod:`~pixmux.proxy.store.journal`: each process's local journal of what it owes the database.
- :mod:`~pixmux.proxy.store.accounting`: what the gateway calls (auth, admit, settle).
- :mod:`~pixmux.proxy.store.admin`: LiteLLM's ``/key``, ``/team`` and ``/spend`` routes.
- :mod:`~pixmux.proxy.store.cli`: ``pixmux keys``, ``pixmux spend``, ``pixmux db``.
"""
