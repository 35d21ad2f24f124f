"""Who is calling over HTTP: API tokens (csdesk's own, hashed in the store) checked per request."""

from __future__ import annotations

from collections.abc import Callable

from mcp.server.auth.provider import AccessToken

from server.context import AppContext
from store.errors import Forbidden
from store.tokens import principal_for_token

TOKEN_SCOPE = "csdesk"


class ApiTokenVerifier:
    """The MCP SDK's TokenVerifier over csdesk API tokens: unknown or revoked tokens get 401."""

    def __init__(self, app_of: Callable[[], AppContext]) -> None:
        # The database opens with the server's lifespan, after this verifier is built.
        self._app_of = app_of

    async def verify_token(self, token: str) -> AccessToken | None:
        app = self._app_of()
        try:
            async with app.write_sessions() as session, session.begin():
                principal = await principal_for_token(session, token=token, now=app.clock.now())
        except Forbidden:
            return None
        return AccessToken(token=token, client_id=f"csdesk:{principal.email}", scopes=[TOKEN_SCOPE],
                           subject=principal.email, claims={"role": principal.role})
