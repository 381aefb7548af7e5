"""A real OpenID Connect provider for tests, and a way through its pages without a browser.

``running_idp`` starts ``e2e/idp/server.mjs`` (the npm package oidc-provider, with its
development login and consent pages, which take any password) on a free port, its output
in a file, and stops it by pid. ``sso_login`` walks an httpx client through the whole
authorization code flow the way a browser would: about 0.3 s a login.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from bs4 import BeautifulSoup, Tag
from patience import patience
from processes import stop, wait_until

ROOT = Path(__file__).resolve().parents[1]
IDP_DIR = ROOT / "e2e" / "idp"
CLIENT_ID = "stent-desk"
CLIENT_SECRET = "stent-desk-test-secret-0123456789"
# The provider's people (see server.mjs): login name -> (email, groups).
USERS = {
    "fiona": ("fiona@example.com", ("finance",)),
    "eddie": ("eddie@example.com", ("engineering",)),
    "adam": ("adam@example.com", ("stent-admins",)),
    "audrey": ("audrey@example.com", ("stent-auditors",)),
    "iris": ("iris@example.com", ("finance",)),
}


@dataclass(frozen=True)
class Idp:
    """A running test provider: its issuer URL, the one client it knows, its log."""

    issuer: str
    client_id: str
    client_secret: str
    log: Path
    pid: int


def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_idp(
    tmp: Path, redirect_uris: Sequence[str], post_logout_redirect_uris: Sequence[str] = ()
) -> Iterator[Idp]:
    """The provider on a free port until exit; ``RuntimeError`` if it does not come up."""
    node = shutil.which("node")
    if node is None or not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("the test IdP needs node and `npm ci` in e2e/idp: run e2e/setup.sh")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    args = [
        node,
        "server.mjs",
        "--port",
        str(port),
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
    ]
    args += [arg for uri in redirect_uris for arg in ("--redirect-uri", uri)]
    args += [
        arg for uri in post_logout_redirect_uris for arg in ("--post-logout-redirect-uri", uri)
    ]
    log = tmp / f"idp-{port}.log"
    with log.open("wb") as out:  # the child keeps its own descriptor
        process = subprocess.Popen(
            args, cwd=IDP_DIR, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until(_discovered(issuer), process, log, "the test IdP", timeout=20)
        yield Idp(issuer, CLIENT_ID, CLIENT_SECRET, log, process.pid)
    finally:
        stop(process)


def sso_client(app: object, idp: Idp, client_address: str = "203.0.113.7") -> httpx.AsyncClient:
    """A client that sends ``http://testserver`` to the app in-process and the provider's
    URLs to the real provider: the app's callback URL is just its base URL."""
    transport = httpx.ASGITransport(app=app, client=(client_address, 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        mounts={idp.issuer: httpx.AsyncHTTPTransport()},
        timeout=patience(5),
        headers={"user-agent": "pytest-browser/1.0"},
    )


async def sso_login(
    client: httpx.AsyncClient, login: str, start: str = "/login/sso", *, abort: bool = False
) -> httpx.Response:
    """Log in as ``login`` through the provider's pages (or cancel there, with ``abort``);
    the app's response to its callback (a 303 to the page after login, or a refusal)."""
    response = await client.get(start)
    for _ in range(20):
        if response.request.url.path == "/auth/callback":
            return response
        if response.is_redirect:
            response = await client.get(response.url.join(response.headers["location"]))
        elif response.status_code == 200 and "<form" in response.text:
            response = await _answer(client, response, login, abort)
        else:
            raise AssertionError(
                f"unexpected {response.status_code} from {response.url}: {response.text[:500]}"
            )
    raise AssertionError("the login never came back to /auth/callback")


async def _answer(
    client: httpx.AsyncClient, page: httpx.Response, login: str, abort: bool
) -> httpx.Response:
    """Fill in the provider's login form, or confirm its consent form (or cancel)."""
    soup = BeautifulSoup(page.text, "html.parser")
    if abort:
        cancel = soup.find("a", href=lambda href: bool(href) and "/abort" in href)
        assert isinstance(cancel, Tag), page.text[:500]
        return await client.get(page.url.join(str(cancel["href"])))
    form = soup.find("form")
    assert isinstance(form, Tag), page.text[:500]
    fields = {
        str(field["name"]): str(field.get("value", ""))
        for field in form.find_all("input")
        if field.get("name")
    }
    if "login" in fields:
        fields |= {"login": login, "password": "any password will do"}
    return await client.post(page.url.join(str(form["action"])), data=fields)


def _discovered(issuer: str) -> Callable[[], bool]:
    """A probe: the provider's discovery document names ``issuer``."""

    def probe() -> bool:
        url = f"{issuer}/.well-known/openid-configuration"
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(json.load(response).get("issuer") == issuer)

    return probe
