"""API tokens: created for a user and shown once, stored as a hash, revocable, last use recorded (to the
minute: see USE_RECORDED_EVERY)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store import validation
from store.auth import audit
from store.auth.principals import Principal
from store.database.models import ApiToken, User
from store.errors import Forbidden, InvalidInput, NotFound

TOKEN_PREFIX = "csd_"
MAX_LIFETIME_DAYS = 3650
# A token's last use is written at most this often: enough to tell a live token from a forgotten one,
# without a write (and the write lock) on every request.
USE_RECORDED_EVERY = timedelta(minutes=1)
# What a token may do. "csdesk": call /mcp and sign in to the review page, as its user. "ingest": send
# product events to /v1 (a write key) and nothing else: it reads no CRM data.
SCOPES = ("csdesk", "ingest")


class TokenOut(BaseModel):
    id: int
    user: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    expires_at: datetime | None = None
    scope: str = "csdesk"


class NewToken(TokenOut):
    token: str


def hash_token(token: str) -> str:
    # The token carries 256 random bits, so a fast hash is enough; no salt is needed to resist guessing.
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, *, user_email: str, name: str, now: datetime,
                       actor: Principal | str, expires_in_days: int | None = None,
                       scope: str = "csdesk") -> NewToken:
    """A new token for the user, valid for `expires_in_days` (None: until revoked), with one of SCOPES;
    the plain token is in the result and nowhere else.

    Raises:
        NotFound: no such user. InvalidInput: the name is empty or too long, a bad lifetime or scope.
    """
    if scope not in SCOPES:
        raise InvalidInput(f"a token's scope is one of {', '.join(SCOPES)}; got {scope!r}")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_LIFETIME_DAYS:
        raise InvalidInput(f"a token lives 1 to {MAX_LIFETIME_DAYS} days (or without expiry); "
                           f"got {expires_in_days}")
    user = await session.scalar(select(User).where(User.email == validation.email(user_email, "user")))
    if user is None:
        raise NotFound(f"no user with email {user_email}; create one with `csdesk users add`")
    if not user.active:
        raise InvalidInput(f"user {user.email} is deactivated")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + timedelta(days=expires_in_days) if expires_in_days is not None else None
    row = ApiToken(user_id=user.id, name=validation.text(name, "name", max_length=100), token_hash=hash_token(token),
                   scopes=[scope], created_at=now, expires_at=expires_at)
    session.add(row)
    await session.flush()
    audit.record(session, principal=actor, action="token.create", entity="api_token", entity_id=row.id, at=now,
                 after={"user": user.email, "name": row.name, "scope": scope,
                        "expires_at": expires_at.isoformat() if expires_at else None})
    return NewToken(id=row.id, user=user.email, name=row.name, created_at=now, last_used_at=None, revoked=False,
                    expires_at=expires_at, scope=scope, token=token)


async def list_tokens(session: AsyncSession) -> list[TokenOut]:
    rows = await session.execute(select(ApiToken, User.email).join(User, User.id == ApiToken.user_id)
                                 .order_by(ApiToken.id))
    return [TokenOut(id=row.id, user=email, name=row.name, created_at=row.created_at, last_used_at=row.last_used_at,
                     revoked=row.revoked_at is not None, expires_at=row.expires_at, scope=scope_of(row))
            for row, email in rows]


def scope_of(row: ApiToken) -> str:
    return row.scopes[0] if row.scopes else "csdesk"


async def revoke_token(session: AsyncSession, *, token_id: int, now: datetime, actor: Principal | str) -> None:
    """Raises NotFound for an unknown id."""
    row = await session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token with id {token_id}; `csdesk tokens list` shows them")
    if row.revoked_at is None:
        row.revoked_at = now
        audit.record(session, principal=actor, action="token.revoke", entity="api_token", entity_id=row.id, at=now)


@dataclass(frozen=True)
class TokenCheck:
    """A valid token's user, and whether its use is due to be recorded."""

    principal: Principal
    token_id: int
    use_due: bool


async def check_token(session: AsyncSession, *, token: str, now: datetime, scope: str = "csdesk") -> TokenCheck:
    """The active user a token with `scope` belongs to, read without writing anything: every HTTP request
    checks its token, and a write per request would queue every call behind the write lock.

    Raises:
        Forbidden: the token is unknown, revoked or expired, has another scope, or its user is deactivated.
    """
    if not token.startswith(TOKEN_PREFIX):
        raise Forbidden("that is not a csdesk token")
    digest = hash_token(token)
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup is by hash; the compare is constant-time all the same.
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        raise Forbidden("the token is unknown or revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Forbidden(f"the token expired at {row.expires_at.isoformat(timespec='minutes')}")
    if scope_of(row) != scope:
        raise Forbidden(f"that is {'a write key for product events' if scope_of(row) == 'ingest' else 'an API token'}"
                        f"; it cannot be used {'for this' if scope == 'csdesk' else 'as a write key'}")
    user = await session.get(User, row.user_id)
    if user is None or not user.active:
        raise Forbidden("the token's user is deactivated")
    use_due = row.last_used_at is None or now - row.last_used_at >= USE_RECORDED_EVERY
    return TokenCheck(principal=Principal(user_id=user.id, email=user.email, name=user.name, role=user.role),
                      token_id=row.id, use_due=use_due)


async def record_token_use(session: AsyncSession, *, token_id: int, now: datetime) -> None:
    """Set a token's last use to `now`, unless a later use is recorded already."""
    await session.execute(update(ApiToken).where(ApiToken.id == token_id)
                          .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now))
                          .values(last_used_at=now).execution_options(synchronize_session=False))


async def principal_for_token(session: AsyncSession, *, token: str, now: datetime) -> Principal:
    """The active user a token belongs to, recording its use when due, in one (write) transaction.

    Raises:
        Forbidden: the token is unknown, revoked or expired, or its user is deactivated.
    """
    checked = await check_token(session, token=token, now=now)
    if checked.use_due:
        await record_token_use(session, token_id=checked.token_id, now=now)
    return checked.principal
