"""Stent Desk's settings: one frozen object, built from the environment in one place.

Nothing else in the project reads ``os.environ``; code receives a ``Settings`` explicitly and
tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import limits

SYNCHRONOUS_MODES = ("FULL", "NORMAL", "EXTRA", "OFF")


def example_modules() -> tuple[str, ...]:
    """The example workflow modules (``workflows.EXAMPLE_MODULES``) as full dotted names."""
    # Imported when asked for, so reading settings never imports the workflows eagerly.
    names: tuple[str, ...] = tuple(importlib.import_module("workflows").EXAMPLE_MODULES)
    return tuple(name if "." in name else f"workflows.{name}" for name in names)


def _text(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _modules(raw: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    for name in names:
        if not all(piece.isidentifier() for piece in name.split(".")):
            raise ValueError(f"{name!r} is not a dotted module name")
    return names


def _positive_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"expected a positive integer, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def _port(raw: str) -> int:
    value = _positive_int(raw)
    if value > 65535:
        raise ValueError(f"expected a port from 1 to 65535, got {raw!r}")
    return value


def _synchronous(raw: str) -> str:
    value = raw.strip().upper()
    if value not in SYNCHRONOUS_MODES:
        raise ValueError(f"expected one of {', '.join(SYNCHRONOUS_MODES)}, got {raw!r}")
    return value


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _optional_text(raw: str) -> str:
    return raw.strip()


_DOMAIN = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")


def _domains(raw: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower().lstrip("@") for part in raw.split(",") if part.strip())
    for name in names:
        if not _DOMAIN.fullmatch(name):
            raise ValueError(f"{name!r} is not a domain name")
    return names


DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+)([dhms])")


def _duration(raw: str) -> int:
    """Seconds, from ``"8h"``, ``"7d"``, ``"1h30m"``, ``"90s"`` or a plain number of seconds."""
    text = raw.strip().lower()
    if text.isdigit():
        seconds = int(text)
    elif text and _DURATION.sub("", text) == "":
        seconds = sum(int(n) * DURATION_UNITS[unit] for n, unit in _DURATION.findall(text))
    else:
        raise ValueError(f"expected a duration such as 8h, 7d, 1h30m or 90s, got {raw!r}")
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {raw!r}")
    return seconds


def _rate(raw: str) -> str:
    text = raw.strip()
    try:
        limits.parse(text)
    except ValueError:
        raise ValueError(f"expected a rate such as 20/minute, got {raw!r}") from None
    return text


def _env(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("development", "production"):
        raise ValueError(f"expected development or production, got {raw!r}")
    return value


DEV_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"
MIN_SECRET_KEY_LENGTH = 32
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class SettingSpec:
    """One setting: the field it fills, its environment variable, default and help text.

    ``default`` is written as it would be in the environment (``None`` when computed, see
    ``Settings.describe``); ``parse`` turns the variable's text into the field's value or
    raises ``ValueError`` saying what was expected.
    """

    name: str
    env: str
    default: str | None
    help: str
    parse: Callable[[str], Any] = _text


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "database_url",
        "STENT_DATABASE_URL",
        "sqlite+aiosqlite:///stent.db",
        "SQLAlchemy URL of the database holding executions, steps and signals.",
    ),
    SettingSpec(
        "workflow_modules",
        "STENT_WORKFLOW_MODULES",
        None,
        "Comma-separated modules to import so their `@Stent.durable` workflows are "
        "registered. Default: the example workflows.",
        _modules,
    ),
    SettingSpec(
        "max_signal_bytes",
        "STENT_MAX_SIGNAL_BYTES",
        "262144",
        "Largest accepted signal payload, in bytes of its JSON encoding.",
        _positive_int,
    ),
    SettingSpec(
        "sqlite_synchronous",
        "STENT_SQLITE_SYNCHRONOUS",
        "FULL",
        "SQLite `PRAGMA synchronous`: FULL survives power loss; NORMAL is faster "
        "and survives a crash of the process.",
        _synchronous,
    ),
    SettingSpec(
        "lease_seconds",
        "STENT_LEASE_SECONDS",
        "15",
        "Several processes on one database: how long a process's executions stay "
        "its own after its last heartbeat (one every third of this). A dead "
        "process's executions are taken over after it.",
        _duration,
    ),
    SettingSpec(
        "database_pool_size",
        "STENT_DATABASE_POOL_SIZE",
        "8",
        "PostgreSQL connections per process for the executor's writes (half as "
        "many more for its reads; with LISTEN and the dashboard's own, 23 in all "
        "by default). Keep the replicas' total under the server's "
        "`max_connections`.",
        _positive_int,
    ),
    SettingSpec("host", "STENT_HOST", "127.0.0.1", "Interface the web server listens on."),
    SettingSpec(
        "trusted_proxies",
        "STENT_TRUSTED_PROXIES",
        "",
        "Comma-separated addresses (or `*`) of the reverse proxies or load balancers "
        "in front of the app, whose `X-Forwarded-For`/`X-Forwarded-Proto` are "
        "believed. Empty: none; the connecting address is the client's (and behind "
        "a balancer every client would share one rate limit).",
        _optional_text,
    ),
    SettingSpec("port", "STENT_PORT", "8000", "TCP port the web server listens on.", _port),
    SettingSpec(
        "env",
        "STENT_DESK_ENV",
        "development",
        "`development` (the default of `make run`: development login on) or `production`.",
        _env,
    ),
    SettingSpec(
        "secret_key",
        "STENT_SECRET_KEY",
        DEV_SECRET_KEY,
        "Key that signs session cookies and CSRF tokens. In production: a random "
        "value of at least 32 characters.",
        _text,
    ),
    SettingSpec(
        "dev_login",
        "STENT_DEV_LOGIN",
        "true",
        "Offer the development login (pick any name, email and groups). Only "
        "honoured in development; production refuses to start unless it is false.",
        _bool,
    ),
    SettingSpec(
        "secure_cookies",
        "STENT_SECURE_COOKIES",
        "false",
        "Mark cookies Secure (HTTPS only). Turn on behind HTTPS; production "
        "refuses to start without it.",
        _bool,
    ),
    SettingSpec(
        "inbox_refresh_seconds",
        "STENT_INBOX_REFRESH_SECONDS",
        "1",
        "How often an open inbox re-checks for waits that opened or closed.",
        _positive_int,
    ),
    SettingSpec(
        "oidc_issuer",
        "STENT_OIDC_ISSUER",
        "",
        "OpenID Connect issuer URL (or its `/.well-known/openid-configuration` "
        "discovery URL) for single sign-on. Empty: single sign-on is off.",
        _optional_text,
    ),
    SettingSpec(
        "oidc_client_id",
        "STENT_OIDC_CLIENT_ID",
        "",
        "Client id of Stent Desk at the OpenID Connect provider.",
        _optional_text,
    ),
    SettingSpec(
        "oidc_client_secret",
        "STENT_OIDC_CLIENT_SECRET",
        "",
        "Client secret of Stent Desk at the OpenID Connect provider. Register "
        "`<public URL>/auth/callback` as its redirect URI and `<public URL>/login` as "
        "its post-logout redirect URI.",
        _optional_text,
    ),
    SettingSpec(
        "oidc_scopes",
        "STENT_OIDC_SCOPES",
        "openid email profile groups",
        "Scopes to ask the provider for, space-separated (`openid` is required).",
        _text,
    ),
    SettingSpec(
        "oidc_groups_claim",
        "STENT_OIDC_GROUPS_CLAIM",
        "groups",
        "The ID token (or userinfo) claim that lists a person's groups.",
        _text,
    ),
    SettingSpec(
        "allowed_email_domains",
        "STENT_ALLOWED_EMAIL_DOMAINS",
        "",
        "Comma-separated email domains whose people may log in with single sign-on "
        "(for example `example.com, example.org`). Empty: any domain.",
        _domains,
    ),
    SettingSpec(
        "admin_group",
        "STENT_ADMIN_GROUP",
        "stent-admins",
        "The group whose members are administrators.",
        _text,
    ),
    SettingSpec(
        "auditor_group",
        "STENT_AUDITOR_GROUP",
        "stent-auditors",
        "The group whose members are auditors (read everything, answer nothing).",
        _text,
    ),
    SettingSpec(
        "session_idle_timeout",
        "STENT_SESSION_IDLE_TIMEOUT",
        "8h",
        "Log out a session unused for this long (`30m`, `8h`, `1d`, or seconds).",
        _duration,
    ),
    SettingSpec(
        "session_absolute_timeout",
        "STENT_SESSION_ABSOLUTE_TIMEOUT",
        "7d",
        "Log out a session this long after its login, however active.",
        _duration,
    ),
    SettingSpec(
        "login_rate_limit",
        "STENT_LOGIN_RATE_LIMIT",
        "20/minute",
        "Most login attempts (`POST /login`, `/login/sso`, `/auth/callback`) one client "
        "address may make in a sliding window, e.g. `20/minute`, counted in the "
        "database for all the app's processes together; more get a 429.",
        _rate,
    ),
    SettingSpec(
        "api_rate_limit",
        "STENT_API_RATE_LIMIT",
        "600/minute",
        "Most API requests (`/api/...`, authenticated with an API token) one client "
        "address may make in a sliding window, counted like logins; more get a 429 "
        "problem.",
        _rate,
    ),
)


def _default(name: str) -> Any:
    """The field's default: its spec's default text, parsed like the environment's."""
    spec = next(spec for spec in SPECS if spec.name == name)
    assert spec.default is not None, f"{name} has a computed default"
    return spec.parse(spec.default)


@dataclass(frozen=True)
class Settings:
    """Every setting of Stent Desk; see ``SPECS`` for the environment variables."""

    database_url: str = _default("database_url")
    workflow_modules: tuple[str, ...] = field(default_factory=example_modules)
    max_signal_bytes: int = _default("max_signal_bytes")
    sqlite_synchronous: str = _default("sqlite_synchronous")
    lease_seconds: int = _default("lease_seconds")
    database_pool_size: int = _default("database_pool_size")
    host: str = _default("host")
    trusted_proxies: str = _default("trusted_proxies")
    port: int = _default("port")
    env: str = _default("env")
    secret_key: str = field(default=_default("secret_key"), repr=False)
    dev_login: bool = _default("dev_login")
    secure_cookies: bool = _default("secure_cookies")
    inbox_refresh_seconds: int = _default("inbox_refresh_seconds")
    oidc_issuer: str = _default("oidc_issuer")
    oidc_client_id: str = _default("oidc_client_id")
    oidc_client_secret: str = field(default=_default("oidc_client_secret"), repr=False)
    oidc_scopes: str = _default("oidc_scopes")
    oidc_groups_claim: str = _default("oidc_groups_claim")
    allowed_email_domains: tuple[str, ...] = _default("allowed_email_domains")
    admin_group: str = _default("admin_group")
    auditor_group: str = _default("auditor_group")
    session_idle_timeout: int = _default("session_idle_timeout")
    session_absolute_timeout: int = _default("session_absolute_timeout")
    login_rate_limit: str = _default("login_rate_limit")
    api_rate_limit: str = _default("api_rate_limit")

    @property
    def development_login(self) -> bool:
        """The development login is offered only in development mode."""
        return self.dev_login and self.env == "development"

    @property
    def sso_enabled(self) -> bool:
        """Single sign-on is on when an issuer is configured."""
        return bool(self.oidc_issuer)

    @property
    def oidc_discovery_url(self) -> str:
        """Where the provider's OpenID Connect discovery document is."""
        issuer = self.oidc_issuer.rstrip("/")
        return issuer if issuer.endswith(DISCOVERY_PATH) else issuer + DISCOVERY_PATH

    def problems(self) -> list[str]:
        """Every reason not to serve with these settings (empty when there is none)."""
        found = []
        if self.sso_enabled and not (self.oidc_client_id and self.oidc_client_secret):
            found.append(
                "STENT_OIDC_ISSUER is set but STENT_OIDC_CLIENT_ID or "
                "STENT_OIDC_CLIENT_SECRET is empty"
            )
        if self.sso_enabled and "openid" not in self.oidc_scopes.split():
            found.append("STENT_OIDC_SCOPES must include openid")
        if self.env == "production":
            if self.dev_login:
                found.append("the development login is on (set STENT_DEV_LOGIN=false)")
            if self.secret_key == DEV_SECRET_KEY:
                found.append("STENT_SECRET_KEY is the development default")
            elif len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
                found.append(f"STENT_SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters")
            if not self.secure_cookies:
                found.append(
                    "cookies are not marked Secure (set STENT_SECURE_COOKIES=true "
                    "and serve over HTTPS)"
                )
        return found

    def check(self) -> None:
        """``ValueError`` listing every problem of ``problems()``, if there is any."""
        found = self.problems()
        if found:
            raise ValueError(
                f"Stent Desk refuses to start in {self.env} mode: " + "; ".join(found) + "."
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Settings from ``STENT_*`` variables; ``ValueError`` naming a variable that is bad."""
        values: dict[str, Any] = {}
        for spec in SPECS:
            if spec.env not in environ:
                continue
            try:
                values[spec.name] = spec.parse(environ[spec.env])
            except ValueError as exc:
                raise ValueError(f"{spec.env}: {exc}") from exc
        return cls(**values)

    @staticmethod
    def describe() -> list[str]:
        """The settings as markdown table rows (header first), for the README."""
        rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
        for spec in SPECS:
            default = spec.default if spec.default is not None else ",".join(example_modules())
            shown = f"`{default}`" if default else "(empty)"
            rows.append(f"| `{spec.env}` | {shown} | {spec.help} |")
        return rows
