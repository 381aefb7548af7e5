"""Hooks for the whole suite (``tests/`` and ``e2e/``, run in either order).

``tests/`` goes on ``sys.path`` here, so that the helpers both folders share
(``patience``, ``processes``, ``oidc_idp``) import by their module name from either.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

from patience import patience


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """pyproject's ``timeout`` (pytest-timeout, a hang detector) is an idle machine's
    figure: stretch it like every other patience, unless ``--timeout`` or
    ``PYTEST_TIMEOUT`` says otherwise or a test has a ``timeout`` mark of its own."""
    if config.getoption("timeout", None) is not None or os.environ.get("PYTEST_TIMEOUT"):
        return
    configured = config.getini("timeout")
    if not configured:
        return
    mark = pytest.mark.timeout(patience(float(configured)))
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(mark)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """When a test file's fixtures are gone, no event loop may still be marked running on
    the main thread: every later test that starts one (pytest-asyncio, ``asyncio.run``)
    would fail with "Cannot run the event loop while another loop is running". A cheap
    guard against the way sync Playwright did that (see ``playwright`` in e2e/conftest)."""
    result = yield
    if nextitem is not None and nextitem.path == item.path:
        return result
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return result
    raise RuntimeError(
        f"{item.path.name} left an event loop marked running on the main thread "
        f"({loop!r}) after its fixtures were torn down; the tests after it cannot start theirs"
    )
