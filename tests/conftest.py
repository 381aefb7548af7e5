"""Fixtures for every tier of tests: the test OpenID Connect provider.

``tests/`` is on ``sys.path`` (pytest puts a conftest's directory there), so helpers
shared by the tiers, like ``oidc_idp`` and ``pg_server``, are imported by their module name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pg_server
import pytest
from oidc_idp import Idp, running_idp


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say that ``pg_server``'s PostgreSQL cases were skipped at the end of the run too,
    where -q cannot hide it."""
    message = pg_server.unavailable()
    if message:
        terminalreporter.write_line(message, red=True, bold=True)


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    """The test provider for the in-process app (``http://testserver``), for the session."""
    try:
        with running_idp(tmp_path_factory.mktemp("idp"), ["http://testserver/auth/callback"],
                         ["http://testserver/login"]) as running:
            yield running
    except RuntimeError as exc:
        pytest.fail(str(exc))
