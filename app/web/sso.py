"""Single sign-on: OpenID Connect's authorization code flow, with PKCE, state and nonce.

authlib does the protocol: discovery, the authorization redirect (state, nonce and the
PKCE verifier kept in the session), the token request, and the ID token's signature,
issuer, audience, expiry and nonce. This module decides who gets in: an email is
required (verified, when the provider says), in an allowed domain; groups come from the
configured claim. A refusal is a page saying why, logged without tokens or secrets.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from joserfc.errors import JoseError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.settings import Settings

from . import session
from .auth import safe_next
from .identity import User
from .security import verified_form
from .state import desk
from .users import user_store

AUTH_METHOD = "oidc"
NEXT = "sso_next"  # where to go after the round trip through the provider
MAX_ID_TOKEN_CHARS = 2000  # kept in the cookie for logout only if it leaves room for the rest
log = logging.getLogger("stent.web.sso")


class LoginRefused(Exception):
    """The provider's answer does not let this person in."""

    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.message = message  # for the person
        self.reason = reason  # for the log: no tokens, no secrets


def make_client(settings: Settings) -> StarletteOAuth2App | None:
    """The OpenID Connect client for ``settings``; None when single sign-on is off."""
    if not settings.sso_enabled:
        return None
    client: StarletteOAuth2App = OAuth().register(
        name="oidc",
        server_metadata_url=settings.oidc_discovery_url,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"},
    )
    return client


def form_action_origins(settings: Settings) -> tuple[str, ...]:
    """The provider's origin, where logging out (a form) ends; none without single sign-on."""
    if not settings.sso_enabled:
        return ()
    issuer = urlsplit(settings.oidc_issuer)
    return (f"{issuer.scheme}://{issuer.netloc}",)


def client_of(request: Request) -> StarletteOAuth2App:
    """The application's OpenID Connect client; 404 when single sign-on is off."""
    client: StarletteOAuth2App | None = request.app.state.sso
    if client is None:
        raise HTTPException(404, "Single sign-on is not configured.")
    return client


async def login_sso(request: Request) -> Response:
    """GET /login/sso: off to the provider, coming back to /auth/callback."""
    client = client_of(request)
    request.session[NEXT] = safe_next(request.query_params.get("next"))
    try:
        response: Response = await client.authorize_redirect(
            request, request.url_for("auth_callback")
        )
        return response
    except (httpx2.HTTPError, OSError, ValueError, KeyError) as exc:
        return failed(
            request,
            LoginRefused(
                503,
                "The single sign-on provider cannot be reached. Try again in a minute.",
                f"discovery failed: {type(exc).__name__}",
            ),
        )


async def auth_callback(request: Request) -> Response:
    """GET /auth/callback: check the provider's answer, then start the person's session."""
    client = client_of(request)
    next_url = safe_next(request.session.get(NEXT))
    try:
        token = await _exchange(request, client)
        settings = desk(request).settings
        claims = await _claims(client, token, settings.oidc_groups_claim)
        user = user_from_claims(claims, settings)
    except LoginRefused as refused:
        return failed(request, refused)
    await user_store(request).record_login(user, session.now(request))
    id_token = token.get("id_token")
    await session.start(
        request,
        user,
        id_token if isinstance(id_token, str) and len(id_token) <= MAX_ID_TOKEN_CHARS else None,
    )
    log.info("SSO login of %s (%s) with groups %s", user.subject, user.email, ",".join(user.groups))
    return RedirectResponse(next_url, status_code=303)


async def _exchange(request: Request, client: StarletteOAuth2App) -> dict[str, Any]:
    """The provider's tokens for the code in the callback (state, PKCE, ID token checked)."""
    error = request.query_params.get("error")
    if error:
        description = request.query_params.get("error_description", "")
        raise LoginRefused(
            400,
            f"The single sign-on provider did not log you in ({error[:100]}).",
            f"provider error {error[:100]!r}: {description[:200]!r}",
        )
    try:
        token: dict[str, Any] = await client.authorize_access_token(  # type: ignore[no-untyped-call]
            request
        )
    except MismatchingStateError as exc:
        raise LoginRefused(
            400,
            "This login is out of date, or was started in another browser. Start again.",
            "state does not match",
        ) from exc
    except (AuthlibBaseError, JoseError, ValueError, KeyError) as exc:
        raise LoginRefused(
            400,
            "The single sign-on provider's answer could not be verified. Start again.",
            f"{type(exc).__name__}: {exc}",
        ) from exc
    except (httpx2.HTTPError, OSError) as exc:
        raise LoginRefused(
            503,
            "The single sign-on provider cannot be reached. Try again in a minute.",
            f"provider unreachable: {type(exc).__name__}",
        ) from exc
    return token


async def _claims(
    client: StarletteOAuth2App, token: dict[str, Any], groups_claim: str
) -> dict[str, Any]:
    """The ID token's claims, completed from the userinfo endpoint when they lack some."""
    claims = dict(token.get("userinfo") or {})
    if "email" in claims and groups_claim in claims:
        return claims
    try:
        more = await client.userinfo(token=token)
    except (AuthlibBaseError, httpx2.HTTPError, OSError, ValueError, KeyError) as exc:
        log.info("SSO userinfo unavailable (%s); using the ID token only", type(exc).__name__)
        return claims
    if claims.get("sub") and more.get("sub") != claims["sub"]:
        raise LoginRefused(
            400,
            "The single sign-on provider's answer could not be verified.",
            "userinfo is about another subject",
        )
    return {**dict(more), **claims}


def user_from_claims(claims: dict[str, Any], settings: Settings) -> User:
    """The person the claims describe, if they may log in; else ``LoginRefused``."""
    subject = claims.get("sub")
    email = claims.get("email")
    if not isinstance(subject, str) or not subject:
        raise LoginRefused(
            400, "The single sign-on provider did not say who you are.", "no sub claim"
        )
    if not isinstance(email, str) or "@" not in email:
        raise LoginRefused(
            403,
            "Your single sign-on account has no email address, and "
            "Stent Desk needs one. Ask your administrator.",
            f"no email for {subject}",
        )
    if claims.get("email_verified") in (False, "false"):  # some providers send strings
        raise LoginRefused(
            403,
            "Your email address is not verified by the single sign-on provider.",
            f"unverified email for {subject}",
        )
    domain = email.rsplit("@", 1)[1].lower()
    if settings.allowed_email_domains and domain not in settings.allowed_email_domains:
        raise LoginRefused(
            403,
            f"People with an email address at {domain} may not use this Stent Desk.",
            f"email domain {domain} not allowed for {subject}",
        )
    name = claims.get("name") or claims.get("preferred_username") or email
    return User(
        subject,
        email.strip().lower(),
        str(name),
        _groups(claims.get(settings.oidc_groups_claim)),
        AUTH_METHOD,
    )


def _groups(value: Any) -> tuple[str, ...]:
    """Groups from a claim: a list of names (or one name, as some providers send)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return ()
    return tuple(dict.fromkeys(str(g).strip() for g in value if str(g).strip()))


def failed(request: Request, refused: LoginRefused) -> Response:
    """The page for a login that did not happen; logged as a warning."""
    log.warning("SSO login refused (%s): %s", refused.status, refused.reason)
    return desk(request).templates.TemplateResponse(
        request,
        "auth/failed.html",
        {"message": refused.message, "status": refused.status},
        status_code=refused.status,
    )


async def logout(request: Request) -> Response:
    """POST /logout: end the session, and the provider's too after a single sign-on."""
    await verified_form(request)
    user, id_token = await session.end(request)
    target = "/login"
    if user is not None and user.auth_method == AUTH_METHOD:
        target = await _end_session_url(request, id_token) or target
    return RedirectResponse(target, status_code=303)


async def _end_session_url(request: Request, id_token: str | None) -> str | None:
    """The provider's logout URL, coming back to /login; None if it advertises none."""
    client: StarletteOAuth2App | None = request.app.state.sso
    if client is None:
        return None
    try:
        endpoint = (await client.load_server_metadata()).get("end_session_endpoint")
    except (httpx2.HTTPError, OSError, ValueError, KeyError) as exc:
        log.warning("SSO logout: provider unreachable (%s); local logout only", type(exc).__name__)
        return None
    if not isinstance(endpoint, str) or not endpoint:
        return None
    # No `state`: nothing is checked on the way back to the login page.
    params = {
        "client_id": client.client_id,
        "post_logout_redirect_uri": str(request.url_for("login")),
    }
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"
