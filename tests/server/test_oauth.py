"""JWT access tokens from an OAuth 2.1 issuer, verified by the real server process against the
issuer's published keys (a local issuer with a key these tests create)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.server.fake_issuer import FakeIssuer
from tests.server.processes import DEMO_CSM, csdesk_env, run_csdesk
from tests.server.processes import http_server as running_http_server
from tests.server.test_transports import authorised
from tests.tools.helpers import call_error, call_ok

AUDIENCE = "https://cs.example.com/mcp"


@pytest.fixture(scope="module")
def issuer() -> Iterator[FakeIssuer]:
    running = FakeIssuer()
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def oauth_server(tmp_path_factory: pytest.TempPathFactory, issuer: FakeIssuer) -> Iterator[tuple[str, Path]]:
    path = tmp_path_factory.mktemp("oauth") / "csdesk.db"
    assert run_csdesk("demo", env=csdesk_env(path)).returncode == 0
    env = csdesk_env(path, CSDESK_OAUTH_ISSUER=issuer.url, CSDESK_OAUTH_AUDIENCE=AUDIENCE)
    with running_http_server(env) as base_url:
        yield f"{base_url}/mcp", path


async def test_a_jwt_from_the_issuer_acts_as_the_user_it_names(oauth_server: tuple[str, Path],
                                                                issuer: FakeIssuer) -> None:
    url, _path = oauth_server
    async with authorised(url, issuer.token(email=DEMO_CSM, audience=AUDIENCE)) as client:
        mine = await call_ok(client, "list_accounts", owner="me", limit=1)
        peer = (await call_ok(client, "list_accounts", owner="ben.okafor@example.com", limit=1))["items"][0]
        refused = await call_error(client, "update_account", account_id=peer["id"],
                                   expected_version=peer["version"], seats=1)
    assert mine["items"][0]["owner"] == DEMO_CSM
    assert f"{DEMO_CSM} does not own account" in refused


async def test_api_tokens_keep_working_beside_the_issuer(oauth_server: tuple[str, Path]) -> None:
    url, path = oauth_server
    token = run_csdesk("tokens", "create", "--user", DEMO_CSM, "--name", "script", env=csdesk_env(path)).stdout
    async with authorised(url, token.strip()) as client:
        assert (await call_ok(client, "list_accounts", owner="me", limit=1))["items"]


def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("case", ["expired", "wrong audience", "wrong issuer", "foreign key", "unknown user",
                                  "no email", "shared secret", "unsigned"])
async def test_bad_jwts_get_401(oauth_server: tuple[str, Path], issuer: FakeIssuer, case: str) -> None:
    url, _path = oauth_server
    token = {
        "expired": lambda: issuer.token(email=DEMO_CSM, audience=AUDIENCE, lifetime=-120),
        "wrong audience": lambda: issuer.token(email=DEMO_CSM, audience="https://other.example.com/mcp"),
        "wrong issuer": lambda: issuer.token(email=DEMO_CSM, audience=AUDIENCE, issuer="https://evil.example.com"),
        "foreign key": lambda: issuer.token(email=DEMO_CSM, audience=AUDIENCE, key=_other_key()),
        "unknown user": lambda: issuer.token(email="ghost@example.com", audience=AUDIENCE),
        "no email": lambda: jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": 4_102_444_800,
                                        "scope": "csdesk", "sub": "x"}, issuer.key, algorithm="RS256",
                                       headers={"kid": "test-key-1"}),
        "shared secret": lambda: jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": 4_102_444_800,
                                             "scope": "csdesk", "email": DEMO_CSM}, "guessable-secret-32-bytes-long!!",
                                            algorithm="HS256", headers={"kid": "test-key-1"}),
        "unsigned": lambda: jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": 4_102_444_800,
                                        "scope": "csdesk", "email": DEMO_CSM}, None, algorithm="none"),
    }[case]()
    response = await _ping(url, token)
    assert response.status_code == 401, case
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_jwt_without_the_csdesk_scope_gets_403(oauth_server: tuple[str, Path], issuer: FakeIssuer) -> None:
    url, _path = oauth_server
    response = await _ping(url, issuer.token(email=DEMO_CSM, audience=AUDIENCE, scope="openid profile"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_the_protected_resource_metadata_names_the_issuer(oauth_server: tuple[str, Path],
                                                                issuer: FakeIssuer) -> None:
    url, _path = oauth_server
    response = await _ping(url, None)
    metadata_url = response.headers["www-authenticate"].split('resource_metadata="', 1)[1].split('"', 1)[0]
    async with httpx.AsyncClient() as client:
        metadata = (await client.get(metadata_url)).json()
    assert response.status_code == 401
    assert [server.rstrip("/") for server in metadata["authorization_servers"]] == [issuer.url]


async def _ping(url: str, token: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient() as client:
        return await client.post(url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
