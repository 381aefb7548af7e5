"""Fixtures for every tier of tests: the test OpenID Connect provider, and this run's
PostgreSQL databases (``pg_databases``, used by the tiers' ``db_url`` fixtures).

``tests/`` is on ``sys.path`` (pytest puts a conftest's directory there), so helpers
shared by the tiers, like ``oidc_idp`` and ``pg_databases``, are imported by their module
name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oidc_idp import Idp, running_idp
from pg_databases import Databases, template_databases, unavailable


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    """The test provider for the in-process app (``http://testserver``), for the session."""
    try:
        with running_idp(
            tmp_path_factory.mktemp("idp"),
            ["http://testserver/auth/callback"],
            ["http://testserver/login"],
        ) as running:
            yield running
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[Databases]:
    """Makes this run's PostgreSQL databases: copies of a template migrated once, shared by
    the engine's and the dashboard's tests; every one of them dropped at the end."""
    with template_databases() as databases:
        yield databases


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say that the PostgreSQL cases were skipped at the end of the run too, where ``-q``
    output cannot hide it."""
    message = unavailable()
    if message:
        terminalreporter.write_line(message, red=True, bold=True)
