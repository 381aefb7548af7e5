"""The dashboard's own tables, in SQLAlchemy Core (the executor's are in the engine).

A MetaData of its own, so the engine never learns about the web layer; alembic's env
migrates both. Times are float seconds since the epoch (UTC), as in the engine's tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Everyone who logged in through single sign-on, as their provider last described them.
users = Table(
    "users",
    metadata,
    # the provider's `sub` claim: stable for a person, unlike their email
    Column("subject", String(255), primary_key=True),
    Column("email", String(320), nullable=False),  # lower-cased
    Column("name", Text, nullable=False),
    Column("groups", Text, nullable=False),  # JSON list of strings, as of the last login
    Column("auth_method", String(16), nullable=False),
    Column("first_login_at", Float, nullable=False),
    Column("last_login_at", Float, nullable=False),
    Column("login_count", Integer, nullable=False, server_default="1"),
    Index(None, "email"),
)

# API tokens of machine senders (webhooks, other services): only the hash is kept.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),  # the sender it records
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex
    Column("workflows", Text, nullable=False),  # JSON list of workflow names; [] = all
    Column("signals", Text, nullable=False),  # JSON list of signal names; [] = all
    Column("created_by", String(320), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Column("last_used_at", Float, nullable=True),
)

# Rate-limit counts, shared by every process of the dashboard (app.web.ratelimit): hits
# per limiter, key (the client address) and fixed window. A window's row is read as the
# previous window until ``expires_at`` (its end plus one period); then it is deleted.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("limiter", String(32), primary_key=True),  # "login", "api"
    Column("key", String(255), primary_key=True),  # longer keys are stored as a digest
    Column("window_start", BigInteger, primary_key=True),  # whole seconds since the epoch
    Column("hits", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index(None, "expires_at"),
)

# Server-side sessions (app.web.sessions): the session cookie carries a random id; this
# table keeps only its SHA-256, so a copy of the table (a backup, a read replica) opens no
# browser's session. A row ends when revoked (logout, an administrator) or timed out.
sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 hex of the cookie's id
    Column("subject", String(255), nullable=False),
    Column("email", String(320), nullable=False),  # lower-cased
    Column("name", Text, nullable=False),
    Column("auth_method", String(16), nullable=False),
    Column("login_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),  # refreshed at most once a minute
    Column("revoked_at", Float, nullable=True),
    Column("revoked_reason", String(32), nullable=True),  # logout, administrator, timeouts
    Column("revoked_by", String(320), nullable=True),  # the administrator's email
    Index(None, "subject"),
    Index(None, "login_at"),  # purging rows past the absolute timeout
)
