"""Alembic owns the executor's schema; these helpers run it from code.

The executor migrates on start by handing a *sync* connection to :func:`upgrade_to_head`
(from a worker thread, or through ``AsyncConnection.run_sync``); ``alembic/env.py`` then runs
the migrations on that connection instead of opening an engine and an event loop of its own.
"""

from __future__ import annotations

from pathlib import Path

import alembic.command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

# The repository root (the ``app`` package's parent), where alembic.ini and alembic/ live.
REPO_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"
SCRIPT_LOCATION = REPO_ROOT / "alembic"


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An alembic Config with absolute paths, so it works from any working directory.

    ``connection`` (sync) makes env.py migrate on it; otherwise ``url`` (if given) is used
    instead of STENT_DATABASE_URL / alembic.ini. Passed as attributes, not ini options, so a
    URL with ``%`` in it needs no configparser escaping. Logging is left alone.
    """
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    if url is not None:
        cfg.attributes["url"] = url
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade_to_head(connection: Connection) -> None:
    """Bring the database behind ``connection`` to the newest revision; a no-op when it is.

    If ``connection`` is already in a transaction (``engine.begin()``), the caller owns it
    and must commit; otherwise alembic begins and commits its own transaction(s).
    """
    alembic.command.upgrade(alembic_config(connection=connection), "head")


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated), e.g. to report or to refuse."""
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision in alembic/versions; what :func:`upgrade_to_head` migrates to."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no alembic revisions in {SCRIPT_LOCATION / 'versions'}")
    return head
