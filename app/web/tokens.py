"""API tokens of machine senders: created and revoked by administrators, stored hashed.

A token is ``sdk_`` followed by 32 random bytes (URL-safe base64). It is shown once, when
created; the table keeps only its SHA-256. A presented token is found by its hash (an
index lookup on a digest reveals nothing about the secret, so no timing leak), and only
while it is not revoked. Its name is the sender recorded with every signal it sends.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from .tables import api_tokens

PREFIX = "sdk_"
MAX_NAME = 100


class TokenNameTaken(ValueError):
    """Another token already has this name."""


@dataclass(frozen=True)
class Token:
    """A row of ``api_tokens`` (never the secret): who it is and what it may send."""

    id: str
    name: str
    workflows: tuple[str, ...]  # empty: every workflow
    signals: tuple[str, ...]  # empty: every signal name
    created_by: str
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None

    @property
    def revoked(self) -> bool:
        """True once an administrator revoked it."""
        return self.revoked_at is not None


def hash_token(plaintext: str) -> str:
    """The stored form of a token: its SHA-256, in hex."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_secret() -> str:
    """A fresh token: recognizable prefix, 256 random bits."""
    return PREFIX + secrets.token_urlsafe(32)


class TokenStore:
    """Creates, lists, revokes and verifies API tokens in the ``api_tokens`` table.

    It uses the engine it is given (the user store's): the caller closes it.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(
        self,
        name: str,
        workflows: tuple[str, ...],
        signals: tuple[str, ...],
        created_by: str,
        at: float,
    ) -> tuple[Token, str]:
        """A new token and its plaintext (shown once); ``TokenNameTaken`` if the name is."""
        token = Token(str(uuid.uuid4()), name, workflows, signals, created_by, at)
        secret = new_secret()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    api_tokens.insert().values(
                        id=token.id,
                        name=name,
                        token_hash=hash_token(secret),
                        workflows=json.dumps(list(workflows)),
                        signals=json.dumps(list(signals)),
                        created_by=created_by,
                        created_at=at,
                    )
                )
        except IntegrityError as exc:
            raise TokenNameTaken(name) from exc
        return token, secret

    async def revoke(self, token_id: str, at: float) -> bool:
        """Revoke a token; False when there is no such token or it was already revoked."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
        return bool(result.rowcount)

    async def list(self) -> builtins.list[Token]:
        """Every token, revoked ones included, newest first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(select(api_tokens).order_by(api_tokens.c.created_at.desc()))
            ).all()
        return [_token(row) for row in rows]

    async def verify(self, plaintext: str, at: float) -> Token | None:
        """The unrevoked token whose secret this is (its last use set to ``at``), or None."""
        if not plaintext.startswith(PREFIX) or len(plaintext) > 200:
            return None
        digest = hash_token(plaintext)
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(api_tokens).where(
                        api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None)
                    )
                )
            ).first()
            if row is None:
                return None
            await conn.execute(
                update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=at)
            )
        return _token(row)


def _token(row: Any) -> Token:
    return Token(
        row.id,
        row.name,
        tuple(json.loads(row.workflows)),
        tuple(json.loads(row.signals)),
        row.created_by,
        row.created_at,
        row.revoked_at,
        row.last_used_at,
    )


def token_store(request: Request) -> TokenStore:
    """The application's ``TokenStore``."""
    store: TokenStore = request.app.state.tokens
    return store
