"""Settings: defaults, parsing of STENT_* variables, and errors that name the variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from app.settings import SPECS, Settings, example_modules


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///stent.db"
    assert settings.max_signal_bytes == 262144
    assert settings.sqlite_synchronous == "FULL"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings == Settings()


def test_default_workflow_modules_are_the_examples_as_dotted_names() -> None:
    modules = Settings.from_env({}).workflow_modules
    assert modules == example_modules()
    assert "workflows.approval" in modules
    assert all(name.startswith("workflows.") for name in modules)


def test_every_variable_is_parsed() -> None:
    settings = Settings.from_env(
        {
            "STENT_DATABASE_URL": "sqlite+aiosqlite:////var/lib/stent/desk.db",
            "STENT_WORKFLOW_MODULES": " billing.flows , hr.onboarding,",
            "STENT_MAX_SIGNAL_BYTES": "1024",
            "STENT_SQLITE_SYNCHRONOUS": "normal",
            "STENT_HOST": "0.0.0.0",
            "STENT_PORT": "9000",
        }
    )
    assert settings == Settings(
        database_url="sqlite+aiosqlite:////var/lib/stent/desk.db",
        workflow_modules=("billing.flows", "hr.onboarding"),
        max_signal_bytes=1024,
        sqlite_synchronous="NORMAL",
        host="0.0.0.0",
        port=9000,
    )


def test_unrelated_variables_are_ignored() -> None:
    assert Settings.from_env({"PORT": "1", "STENT_UNKNOWN": "x"}) == Settings()


def test_empty_module_list_loads_no_workflows() -> None:
    assert Settings.from_env({"STENT_WORKFLOW_MODULES": ""}).workflow_modules == ()


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("STENT_PORT", "eighty"),
        ("STENT_PORT", "0"),
        ("STENT_PORT", "70000"),
        ("STENT_MAX_SIGNAL_BYTES", "-5"),
        ("STENT_MAX_SIGNAL_BYTES", "1.5"),
        ("STENT_SQLITE_SYNCHRONOUS", "SOMETIMES"),
        ("STENT_DATABASE_URL", "  "),
        ("STENT_HOST", ""),
        ("STENT_WORKFLOW_MODULES", "workflows.approval,not a module"),
    ],
)
def test_bad_value_is_a_value_error_naming_the_variable(env: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"^{env}: "):
        Settings.from_env({env: value})


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().port = 1  # type: ignore[misc]


def test_every_field_has_exactly_one_spec() -> None:
    assert [spec.name for spec in SPECS] == [f.name for f in dataclasses.fields(Settings)]
    assert all(spec.env.startswith("STENT_") and spec.help for spec in SPECS)


def test_describe_is_a_markdown_table_with_a_row_per_setting() -> None:
    rows = Settings.describe()
    assert rows[0].startswith("| Variable") and rows[1].startswith("| ---")
    assert len(rows) == 2 + len(SPECS)
    for spec, row in zip(SPECS, rows[2:], strict=True):
        assert row.startswith(f"| `{spec.env}` |") and row.endswith(f"| {spec.help} |")
        assert row.count("|") == 4
    assert "`8000`" in rows[2 + [s.name for s in SPECS].index("port")]
    assert "workflows.approval" in rows[2 + [s.name for s in SPECS].index("workflow_modules")]


def test_single_sign_on_and_session_variables_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "STENT_OIDC_ISSUER": " https://id.example.com/realms/staff ",
            "STENT_OIDC_CLIENT_ID": "stent-desk",
            "STENT_OIDC_CLIENT_SECRET": "s3cret",
            "STENT_ALLOWED_EMAIL_DOMAINS": "Example.com, @corp.example.org,",
            "STENT_SESSION_IDLE_TIMEOUT": "1h30m",
            "STENT_SESSION_ABSOLUTE_TIMEOUT": "86400",
            "STENT_LOGIN_RATE_LIMIT": "5/second",
        }
    )
    assert settings.sso_enabled and settings.oidc_discovery_url == (
        "https://id.example.com/realms/staff/.well-known/openid-configuration"
    )
    assert settings.allowed_email_domains == ("example.com", "corp.example.org")
    assert (settings.session_idle_timeout, settings.session_absolute_timeout) == (5400, 86400)
    assert settings.login_rate_limit == "5/second"
    assert "s3cret" not in repr(settings) and settings.secret_key not in repr(settings)
    defaults = Settings()
    assert not defaults.sso_enabled and defaults.allowed_email_domains == ()
    assert (defaults.session_idle_timeout, defaults.session_absolute_timeout) == (
        8 * 3600,
        7 * 86400,
    )
    assert defaults.oidc_scopes == "openid email profile groups"
    assert (defaults.admin_group, defaults.auditor_group) == ("stent-admins", "stent-auditors")


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("STENT_SESSION_IDLE_TIMEOUT", "8 hours"),
        ("STENT_SESSION_IDLE_TIMEOUT", "0"),
        ("STENT_SESSION_ABSOLUTE_TIMEOUT", "7w"),
        ("STENT_ALLOWED_EMAIL_DOMAINS", "example"),
        ("STENT_ALLOWED_EMAIL_DOMAINS", "ex ample.com"),
        ("STENT_LOGIN_RATE_LIMIT", "lots"),
        ("STENT_OIDC_SCOPES", " "),
    ],
)
def test_bad_sso_or_session_value_names_the_variable(env: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"^{env}: "):
        Settings.from_env({env: value})


def test_problems_list_every_reason_not_to_serve_in_production() -> None:
    production = Settings(env="production")
    assert len(production.problems()) == 3
    with pytest.raises(ValueError, match=r"refuses to start in production mode: .*; .*; "):
        production.check()
    fit = dataclasses.replace(production, dev_login=False, secure_cookies=True, secret_key="k" * 32)
    fit.check()
    assert Settings(oidc_issuer="https://id.example.com").problems() == [
        "STENT_OIDC_ISSUER is set but STENT_OIDC_CLIENT_ID or STENT_OIDC_CLIENT_SECRET is empty"
    ]


def test_the_readme_lists_every_setting_as_describe_writes_it() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text().splitlines()
    start = readme.index(Settings.describe()[0])
    assert readme[start : start + 2 + len(SPECS)] == Settings.describe(), (
        "README's settings table is stale: paste Settings.describe() into it"
    )
