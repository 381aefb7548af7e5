"""Alembic environment for the executor's schema (app.engine.tables.metadata).

Two ways in:

* programmatic, from app.engine.migrations: a *sync* ``sqlalchemy.engine.Connection`` is
  handed over in ``config.attributes["connection"]`` and migrations run on it directly, inside
  whatever transaction the caller holds. The executor does this on start (from a worker
  thread, or through ``AsyncConnection.run_sync``), so no event loop is started here.
* the ``alembic`` command line (or a Config without a connection): the URL comes from
  ``config.attributes["url"]``, then the ``STENT_DATABASE_URL`` environment variable, then
  ``sqlalchemy.url`` in alembic.ini, and an async engine (e.g. sqlite+aiosqlite) is used.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from app.engine.tables import metadata
from app.web.tables import metadata as web_metadata

config = context.config
target_metadata = [metadata, web_metadata]

# Only the command line configures logging: fileConfig would replace the logging set-up of
# a process that migrates programmatically (app.engine.migrations turns this off).
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    """The URL to migrate: explicit attribute, then environment, then alembic.ini."""
    url = config.attributes.get("url") or os.environ.get("STENT_DATABASE_URL")
    if not url:
        url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set STENT_DATABASE_URL or sqlalchemy.url")
    return str(url)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on one sync connection (also used under ``run_sync``)."""
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """``alembic ... --sql``: emit the SQL instead of executing it."""
    url = _database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Command-line path: an async engine of its own, migrations under ``run_sync``."""
    section = config.get_section(config.config_ini_section, {})
    section["sqlalchemy.url"] = _database_url()
    connectable = async_engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    try:
        async with connectable.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await connectable.dispose()


def run_migrations_online() -> None:
    """Use the caller's sync connection when there is one, else an async engine."""
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    elif isinstance(connection, Connection):
        do_run_migrations(connection)
    else:
        raise TypeError(
            "config.attributes['connection'] must be a sync sqlalchemy.engine.Connection "
            f"(use AsyncConnection.run_sync), not {type(connection).__name__}"
        )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
