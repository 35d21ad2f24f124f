"""Who is calling over HTTP: API tokens (csdesk's own, hashed in the store) checked per request."""

from __future__ import annotations

from collections.abc import Callable

from mcp.server.auth.provider import AccessToken

from server.context import AppContext
from store.auth.tokens import check_token, record_token_use
from store.database.engine import transaction
from store.errors import Forbidden

TOKEN_SCOPE = "csdesk"


class ApiTokenVerifier:
    """The MCP SDK's TokenVerifier over csdesk API tokens: unknown or revoked tokens get 401."""

    def __init__(self, app_of: Callable[[], AppContext]) -> None:
        # The database opens with the server's lifespan, after this verifier is built.
        self._app_of = app_of

    async def verify_token(self, token: str) -> AccessToken | None:
        app = self._app_of()
        now = app.clock.now()
        try:
            async with transaction(app.read_sessions) as session:
                checked = await check_token(session, token=token, now=now)
        except Forbidden:
            return None
        if checked.use_due:
            async with transaction(app.write_sessions) as session:
                await record_token_use(session, token_id=checked.token_id, now=now)
        principal = checked.principal
        return AccessToken(token=token, client_id=f"csdesk:{principal.email}", scopes=[TOKEN_SCOPE],
                           subject=principal.email, claims={"role": principal.role})
