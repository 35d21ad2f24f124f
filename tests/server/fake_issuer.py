"""A local OAuth authorization server's public side: RFC 8414 metadata and a JWKS, with a signing key
the tests create, so that JWT access tokens can be minted and verified for real."""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.server.threaded_server import ThreadedServer

KEY_ID = "test-key-1"


class FakeIssuer(ThreadedServer):
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwks_requests = 0
        super().__init__(Starlette(routes=[Route("/.well-known/oauth-authorization-server", self._metadata),
                                           Route("/jwks.json", self._jwks)]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, *, email: str, audience: str, scope: str = "csdesk", lifetime: int = 300,
              issuer: str | None = None, key: Any = None, key_id: str = KEY_ID, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": issuer or self.url, "sub": f"user-{email}", "aud": audience, "iat": now,
                   "exp": now + lifetime, "scope": scope, "email": email, "client_id": "test-client", **claims}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": key_id})

    async def _metadata(self, _request: Request) -> JSONResponse:
        return JSONResponse({"issuer": self.url, "jwks_uri": f"{self.url}/jwks.json",
                             "authorization_endpoint": f"{self.url}/authorize", "token_endpoint": f"{self.url}/token"})

    async def _jwks(self, _request: Request) -> JSONResponse:
        self.jwks_requests += 1
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**public, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]})
