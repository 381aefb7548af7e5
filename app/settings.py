"""Stent Desk's settings: one frozen object, built from the environment in one place.

Nothing else in the project reads ``os.environ``; code receives a ``Settings`` explicitly and
tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


def _env(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("development", "production"):
        raise ValueError(f"expected development or production, got {raw!r}")
    return value


DEV_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"


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
    SettingSpec("database_url", "STENT_DATABASE_URL", "sqlite+aiosqlite:///stent.db",
                "SQLAlchemy URL of the database holding executions, steps and signals."),
    SettingSpec("workflow_modules", "STENT_WORKFLOW_MODULES", None,
                "Comma-separated modules to import so their `@Stent.durable` workflows are "
                "registered. Default: the example workflows.", _modules),
    SettingSpec("max_signal_bytes", "STENT_MAX_SIGNAL_BYTES", "262144",
                "Largest accepted signal payload, in bytes of its JSON encoding.",
                _positive_int),
    SettingSpec("sqlite_synchronous", "STENT_SQLITE_SYNCHRONOUS", "FULL",
                "SQLite `PRAGMA synchronous`: FULL survives power loss; NORMAL is faster "
                "and survives a crash of the process.", _synchronous),
    SettingSpec("host", "STENT_HOST", "127.0.0.1", "Interface the web server listens on."),
    SettingSpec("port", "STENT_PORT", "8000", "TCP port the web server listens on.", _port),
    SettingSpec("env", "STENT_DESK_ENV", "development",
                "`development` (the default of `make run`: development login on) or "
                "`production`.", _env),
    SettingSpec("secret_key", "STENT_SECRET_KEY", DEV_SECRET_KEY,
                "Key that signs session cookies and CSRF tokens. Set a long random value "
                "in production.", _text),
    SettingSpec("dev_login", "STENT_DEV_LOGIN", "true",
                "Offer the development login (pick any name, email and groups). Only "
                "honoured in development.", _bool),
    SettingSpec("secure_cookies", "STENT_SECURE_COOKIES", "false",
                "Mark cookies Secure (HTTPS only). Turn on behind HTTPS.", _bool),
    SettingSpec("inbox_refresh_seconds", "STENT_INBOX_REFRESH_SECONDS", "1",
                "How often an open inbox re-checks for waits that opened or closed.",
                _positive_int),
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
    host: str = _default("host")
    port: int = _default("port")
    env: str = _default("env")
    secret_key: str = _default("secret_key")
    dev_login: bool = _default("dev_login")
    secure_cookies: bool = _default("secure_cookies")
    inbox_refresh_seconds: int = _default("inbox_refresh_seconds")

    @property
    def development_login(self) -> bool:
        """The development login is offered only in development mode."""
        return self.dev_login and self.env == "development"

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
            rows.append(f"| `{spec.env}` | `{default}` | {spec.help} |")
        return rows
