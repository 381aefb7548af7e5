"""Who is logged in, and the sender record attached to every signal they send."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request


@dataclass(frozen=True)
class User:
    """A logged-in person, as stored in the signed session."""

    subject: str
    email: str
    name: str
    groups: tuple[str, ...]
    auth_method: str

    def to_session(self) -> dict[str, Any]:
        """The JSON-able form kept in the session cookie."""
        data = asdict(self)
        data["groups"] = list(self.groups)
        return data

    @classmethod
    def from_session(cls, data: Any) -> User | None:
        """The user a session holds; None for a missing or malformed entry."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                str(data["subject"]),
                str(data["email"]),
                str(data["name"]),
                tuple(str(g) for g in data["groups"]),
                str(data["auth_method"]),
            )
        except (KeyError, TypeError):
            return None


def current_user(request: Request) -> User | None:
    """The logged-in user, or None."""
    return User.from_session(request.session.get("user"))


def utc_now_iso() -> str:
    """Now, as ISO 8601 in UTC (what approvals record as their ``timestamp``)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sender_of(request: Request, user: User) -> dict[str, Any]:
    """Who sent a signal, from the session and the connection: never from the form."""
    return {
        "subject": user.subject,
        "email": user.email,
        "name": user.name,
        "groups": list(user.groups),
        "auth_method": user.auth_method,
        "ip_address": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent", "")[:500],
        "time": utc_now_iso(),
        "source": "web_ui",
    }
