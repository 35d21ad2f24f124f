"""The Segment-compatible ingestion API at /v1: batch, track, identify, group, page, screen and alias, and
event (one event of any type, for webhook destinations).

Any Segment or RudderStack source (or their libraries) posts here with a csdesk write key as the Basic
auth user name (`csdesk tokens create --ingest`). The answer is 200 only once the request's events are
committed; a refused request stores nothing and gets Segment's status with a JSON
`{"code", "message"}` that names every problem: 400 for bad events, 401 for a bad key, 413 for a body
over 500 KB; 503 (retry) when the database could not take them just then.
"""

from __future__ import annotations

import base64
import binascii
import logging
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from sqlalchemy.exc import OperationalError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.context import AppContext
from store.auth.tokens import check_token, record_token_use
from store.database.engine import transaction
from store.database.models import IngestRejection
from store.errors import Forbidden
from store.events.ingest import store_events
from store.events.messages import MAX_REQUEST_BYTES, RequestRefused, check_request, read_body

logger = logging.getLogger(__name__)
# "event": one event of any type, as Segment's and RudderStack's webhook destinations post each one.
ENDPOINTS = ("batch", "event", "track", "identify", "group", "page", "screen", "alias")


class _Unauthorized(Exception):
    pass


def ingest_routes(app_of: Callable[[Request], AppContext], security: TransportSecuritySettings) -> list[Route]:
    guard = TransportSecurityMiddleware(security)

    async def receive(request: Request) -> JSONResponse:
        endpoint = request.path_params["endpoint"]
        if endpoint not in ENDPOINTS:
            return _error(404, "not_found", f"no /v1/{endpoint}; the endpoints are "
                                            + ", ".join(f"/v1/{name}" for name in ENDPOINTS))
        refused = await guard.validate_request(request, is_post=True)
        if refused is not None:
            return _error(refused.status_code, "bad_request", bytes(refused.body).decode())
        app = app_of(request)
        received_at = datetime.now(UTC)
        token_id = None
        try:
            # A key in the header is checked before the body is read; one in the body, after.
            if (header_key := _basic_key(request)) is not None:
                token_id = await _authorised(app, header_key, now=received_at)
            payload = read_body(await _body(request))
            if token_id is None:
                token_id = await _authorised(app, _body_key(payload), now=received_at)
            messages = check_request(payload, endpoint=endpoint, received_at=received_at,
                                     feature_property=app.settings.events_feature_property)
            await _store(app, messages, token_id=token_id, received_at=received_at)
        except OperationalError:
            # The database was busy past its timeout (or gone): nothing was stored, and Segment's and
            # RudderStack's libraries retry a 503 after Retry-After.
            logger.warning("could not store a batch of product events", exc_info=True)
            response = _error(503, "unavailable", "the events could not be stored just now; nothing was stored, "
                                                  "send them again")
            response.headers["Retry-After"] = "1"
            return response
        except _Unauthorized as exc:
            return _error(401, "unauthorized", str(exc))
        except ClientDisconnect:
            return _error(400, "bad_request", "the request ended before its body")
        except RequestRefused as exc:
            if token_id is not None:
                await _record_rejection(app, token_id, exc, received_at)
            return _error(exc.status, "bad_request", str(exc))
        return JSONResponse({"success": True})

    return [Route("/v1/{endpoint}", receive, methods=["POST"])]


async def _body(request: Request) -> bytes:
    """The request body, decompressed when gzip, refused past 500 KB either way (a small gzip body may
    expand to far more: it is inflated only up to the limit)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise RequestRefused(413, [f"a request is at most 500 KB; this one is {int(declared) / 1024:.0f} KB"])
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_REQUEST_BYTES:
            raise RequestRefused(413, ["a request is at most 500 KB"])
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return bytes(raw)
    if encoding != "gzip":
        raise RequestRefused(400, [f"Content-Encoding {encoding!r} is not taken; send gzip or none"])
    inflater = zlib.decompressobj(wbits=31)
    try:
        body = inflater.decompress(bytes(raw), MAX_REQUEST_BYTES + 1)
    except zlib.error as exc:
        raise RequestRefused(400, [f"the body is not valid gzip: {exc}"]) from None
    if len(body) > MAX_REQUEST_BYTES or inflater.unconsumed_tail:
        raise RequestRefused(413, ["a request is at most 500 KB once decompressed"])
    return body


def _basic_key(request: Request) -> str | None:
    """The write key sent as the Basic auth user name (what Segment's and RudderStack's libraries do)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, _, _password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return user


def _body_key(payload: Any) -> str | None:
    """The body's writeKey, which the Segment spec allows in place of the header."""
    key = payload.get("writeKey") if isinstance(payload, dict) else None
    return key if isinstance(key, str) else None


async def _authorised(app: AppContext, key: str | None, *, now: datetime) -> int:
    if not key:
        raise _Unauthorized("send the write key as the Basic auth user name; create one with "
                            "`csdesk tokens create --ingest --name NAME`")
    try:
        async with transaction(app.read_sessions) as session:
            checked = await check_token(session, token=key, now=now, scope="ingest")
    except Forbidden as exc:
        raise _Unauthorized(f"the write key is not accepted: {exc}") from None
    if checked.use_due:
        async with transaction(app.write_sessions) as session:
            await record_token_use(session, token_id=checked.token_id, now=now)
    return checked.token_id


async def _store(app: AppContext, messages: list[Any], *, token_id: int, received_at: datetime) -> None:
    """Commit the events (ON CONFLICT DO NOTHING on the messageId: a retry racing its original stores
    each event once)."""
    async with transaction(app.write_sessions) as session:
        await store_events(session, messages, token_id=token_id, received_at=received_at)


async def _record_rejection(app: AppContext, token_id: int, refused: RequestRefused, at: datetime) -> None:
    try:
        async with transaction(app.write_sessions) as session:
            session.add(IngestRejection(received_at=at, token_id=token_id, status=refused.status,
                                        reason=str(refused)[:500]))
    except Exception:  # the refusal is answered either way; its record is for the status report only
        logger.exception("could not record a refused ingestion request")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)
