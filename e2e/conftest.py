"""Browser tests: a real `stent-desk serve` on a fresh SQLite file, driven by Chromium.

The server runs as a subprocess (its output goes to a file in the session's temp dir); the
tests put executions into the same SQLite file through a client executor, as another
process would, and the server picks them up within its poll interval. Debian's Chromium
and axe-core come from `e2e/setup.sh`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import (
    SERIOUS,
    STENT_DESK,
    BrowserProblems,
    Engine,
    Server,
    describe_violation,
    serving,
)
from patience import patience
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

E2E = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
AXE = E2E / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    # Any outside host name fails at once, so nothing on a page can stall on the network.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

# A missing element fails in seconds (on an idle machine), not Playwright's 30 s.
ACTION_TIMEOUT_MS = patience(5) * 1000

expect.set_options(timeout=ACTION_TIMEOUT_MS)


# ---------------------------------------------------------------------------- the server
@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`stent-desk serve` on a fresh SQLite file and a free port, for the whole session."""
    if not STENT_DESK.exists():
        pytest.fail(f"{STENT_DESK} is missing: run `make install`")
    with serving(tmp_path_factory.mktemp("stent-desk")) as running:
        yield running


@pytest.fixture(scope="session")
def base_url(server: Server) -> str:
    """pytest-playwright's base URL: `page.goto("/login")` goes to the server under test."""
    return server.url


@pytest.fixture(autouse=True)
def server_log_stays_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test fails when the server logs an error or a traceback while it runs."""
    if "server" not in request.fixturenames:
        yield
        return
    server: Server = request.getfixturevalue("server")
    offset = server.log.stat().st_size
    yield
    errors = server.errors_since(offset)
    if errors:
        pytest.fail(
            "the server logged errors during this test (full log: "
            f"{server.log}):\n  " + "\n  ".join(errors),
            pytrace=False,
        )


@pytest.fixture(scope="session")
def engine(server: Server) -> Iterator[Engine]:
    """Starts executions in the server's database and follows them (see ``Engine``)."""
    client = Engine(server.database_url)
    yield client
    client.close()


# ---------------------------------------------------------------------------- the browser
# pytest-playwright's Playwright, browser and context arguments live for the whole session;
# ours for one test file. Between two calls, sync Playwright leaves its event loop marked
# as running on the main thread (the loop sits in a greenlet: wait_for_future in
# playwright/_impl/_greenlets.py), so while it lives no other loop can start there: the
# async tests (and asyncio.run in fixtures) after the browser tests failed with "Cannot
# run the event loop while another loop is running". Stopped with its file, it is gone
# before the next file's tests, whatever the order. A start costs about a second.
@pytest.fixture(scope="module")
def playwright(_pw_api_request_contexts: Any) -> Iterator[Playwright]:
    """pytest-playwright's, for one test file (see above)."""
    with sync_playwright() as running:
        if _pw_api_request_contexts:  # pytest-playwright's --tracing of API requests
            _pw_api_request_contexts.instrument(running)
        yield running


@pytest.fixture(scope="module")
def browser(
    playwright: Playwright, browser_name: str, browser_type_launch_args: dict[str, Any]
) -> Iterator[Browser]:
    """pytest-playwright's, for one test file like ``playwright`` (always launched here:
    no ``connect_options``)."""
    launched = getattr(playwright, browser_name).launch(**browser_type_launch_args)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def browser_context_args(
    pytestconfig: pytest.Config,
    playwright: Playwright,
    device: str | None,
    base_url: str,
    _pw_artifacts_folder: Any,
) -> dict[str, Any]:
    """pytest-playwright's, for one test file like ``playwright`` (it reads ``--device``
    from it)."""
    args: dict[str, Any] = dict(playwright.devices[device]) if device else {}
    args["base_url"] = base_url
    if pytestconfig.getoption("--video") in ("on", "retain-on-failure"):
        args["record_video_dir"] = _pw_artifacts_folder.name
    return args


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium (Playwright cannot download its own here), headless, offline."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run e2e/setup.sh")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture
def browser_problems() -> BrowserProblems:
    """Collects problems; a test using a browser fails if any are seen (see the hook)."""
    return BrowserProblems()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a passing test body, fail it when the browser saw errors on the way."""
    result = yield
    problems = getattr(item, "funcargs", {}).get("browser_problems")
    if isinstance(problems, BrowserProblems):
        problems.check()
    return result


def _watched(context: BrowserContext, problems: BrowserProblems) -> BrowserContext:
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    return problems.watch(context)


@pytest.fixture
def context(
    new_context: Callable[..., BrowserContext], browser_problems: BrowserProblems
) -> BrowserContext:
    """pytest-playwright's context, watched for console and page errors."""
    return _watched(new_context(), browser_problems)


@pytest.fixture
def new_person(
    new_context: Callable[..., BrowserContext], browser_problems: BrowserProblems
) -> Callable[..., Page]:
    """A page in a fresh browser context (its own cookies: another person), watched too."""

    def open_page(**context_args: Any) -> Page:
        return _watched(new_context(**context_args), browser_problems).new_page()

    return open_page


@pytest.fixture
def login() -> Callable[..., None]:
    """Log in through the development login form; lands on the inbox."""

    def log_in(page: Page, name: str, email: str, groups: str = "") -> None:
        page.goto("/login")
        page.get_by_label("Name").fill(name)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Groups").fill(groups)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login" not in url)

    return log_in


# ---------------------------------------------------------------------------- axe-core
@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run e2e/setup.sh")
    # A trailing expression, so evaluating the file returns a plain value, not axe itself.
    return AXE.read_text() + "\n;true"


@pytest.fixture
def axe_check(axe_source: str) -> Callable[[Page], None]:
    """Run axe-core on the page as it is now; fail on serious or critical violations.

    The page's Content-Security-Policy (`script-src 'self'`) refuses an inline <script>,
    so axe is evaluated through the DevTools protocol, which the CSP does not govern.
    """

    def check(page: Page) -> None:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(axe_source)
        violations: list[dict[str, Any]] = page.evaluate(
            "async () => (await window.axe.run(document, {resultTypes: ['violations']})).violations"
        )
        serious = [v for v in violations if v.get("impact") in SERIOUS]
        if serious:
            raise AssertionError(
                f"axe found {len(serious)} serious or critical problems on "
                f"{page.url}:\n" + "\n".join(map(describe_violation, serious))
            )

    return check
