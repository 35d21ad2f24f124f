"""JWT access tokens from an OAuth 2.1 authorization server: signature (the issuer's JWKS),
issuer, audience, expiry and scope, then the csdesk user the token names.

Only asymmetric algorithms are accepted, so a token can never be signed with a shared secret or
with "none"; the signing keys come from the issuer's published key set, fetched over HTTPS and
re-fetched when a token names a key not seen yet (at most once per MIN_REFETCH_SECONDS).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx2
import jwt
from mcp.server.auth.provider import AccessToken

from server.context import AppContext
from store.auth.users import principal_for
from store.errors import CsdeskError

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY_SECONDS = 30
MIN_REFETCH_SECONDS = 30.0
FETCH_TIMEOUT_SECONDS = 5.0
METADATA_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")


class IssuerKeys:
    """The issuer's signing keys by key id, fetched on first use and again for an unknown key id."""

    def __init__(self, *, issuer: str, jwks_url: str | None) -> None:
        self._issuer = issuer.rstrip("/")
        self._jwks_url = jwks_url
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key_for(self, key_id: str | None) -> jwt.PyJWK | None:
        if key_id not in self._keys:
            async with self._lock:
                if key_id not in self._keys and time.monotonic() - self._fetched_at >= MIN_REFETCH_SECONDS:
                    await self._refresh()
        return self._keys.get(key_id)

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            async with httpx2.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS) as client:
                url = self._jwks_url or await self._discover(client)
                response = await client.get(url)
                response.raise_for_status()
                key_set = jwt.PyJWKSet.from_dict(response.json())
        except (httpx2.HTTPError, ValueError, jwt.PyJWTError) as error:
            log.warning("could not load the signing keys of %s: %s", self._issuer, error)
            return
        self._jwks_url = url
        keys: dict[str | None, jwt.PyJWK] = {key.key_id: key for key in key_set.keys}
        if len(key_set.keys) == 1:
            # A token without `kid` may use the issuer's only key.
            keys[None] = key_set.keys[0]
        self._keys = keys

    async def _discover(self, client: httpx2.AsyncClient) -> str:
        """The `jwks_uri` from the issuer's metadata (RFC 8414, then OpenID Connect discovery)."""
        for path in METADATA_PATHS:
            response = await client.get(self._issuer + path)
            if response.status_code == 200 and isinstance(response.json().get("jwks_uri"), str):
                return response.json()["jwks_uri"]
        raise ValueError(f"no jwks_uri in {self._issuer}'s metadata; set CSDESK_OAUTH_JWKS_URL")


class JwtVerifier:
    """Accepts a JWT from the configured issuer, for the configured audience, naming an active csdesk user."""

    def __init__(self, app_of: Callable[[], AppContext], *, issuer: str, audience: str, resource: str,
                 email_claim: str = "email", jwks_url: str | None = None) -> None:
        self._app_of = app_of
        self._issuer = issuer
        self._audience = audience
        self._resource = resource
        self._email_claim = email_claim
        self._keys = IssuerKeys(issuer=issuer, jwks_url=jwks_url)

    async def verify_token(self, token: str) -> AccessToken | None:
        claims = await self._verified_claims(token)
        if claims is None:
            return None
        email = claims.get(self._email_claim)
        if not isinstance(email, str):
            log.info("refused a token without a %r claim naming the user", self._email_claim)
            return None
        app = self._app_of()
        try:
            async with app.read_sessions() as session:
                principal = await principal_for(session, email=email)
        except CsdeskError as error:
            log.info("refused a token for %s: %s", email, error)
            return None
        return AccessToken(token=token, client_id=str(claims.get("client_id") or claims.get("azp") or "oauth"),
                           scopes=scopes_of(claims), expires_at=int(claims["exp"]), resource=self._resource,
                           subject=principal.email,
                           claims={"iss": claims["iss"], "sub": claims.get("sub"), "role": principal.role})

    async def _verified_claims(self, token: str) -> dict[str, Any] | None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            log.info("refused a token signed with %r", algorithm)
            return None
        key = await self._keys.key_for(header.get("kid"))
        if key is None:
            log.info("refused a token signed with an unknown key %r", header.get("kid"))
            return None
        try:
            return jwt.decode(token, key=key, algorithms=[algorithm], audience=self._audience, issuer=self._issuer,
                              leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud"]})
        except jwt.PyJWTError as error:
            log.info("refused a token: %s", error)
            return None


def scopes_of(claims: dict[str, Any]) -> list[str]:
    """Scopes from `scope` (space-separated, RFC 9068) or `scp` (a list, as some issuers send)."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split()
    listed = claims.get("scp")
    return [str(item) for item in listed] if isinstance(listed, list) else []


class EitherVerifier:
    """csdesk API tokens (they start with `csd_`) and, when an issuer is configured, its JWTs."""

    def __init__(self, api_tokens: Any, jwts: JwtVerifier | None, *, api_token_prefix: str) -> None:
        self._api_tokens = api_tokens
        self._jwts = jwts
        self._prefix = api_token_prefix

    async def verify_token(self, token: str) -> AccessToken | None:
        if token.startswith(self._prefix):
            return await self._api_tokens.verify_token(token)
        if self._jwts is not None:
            return await self._jwts.verify_token(token)
        return None
