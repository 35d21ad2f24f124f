"""Users and principals: who may act, resolved by email."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, String, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from store import validation
from store.auth import audit
from store.auth.principals import Principal
from store.database.engine import rows
from store.database.models import User
from store.database.one_hop import on_session
from store.errors import Conflict, Forbidden, InvalidInput, NotFound
from store.schemas import UserOut
from store.vocabulary import ASSIGNABLE_ROLES, ROLES

SYSTEM_PRINCIPAL = "system"
# Every tool call starts here: built once and bound per call, reading columns rather than an ORM entity
# (building the statement and loading an instance each cost more than the indexed lookup itself).
PRINCIPAL_BY_EMAIL = select(User.id, User.email, User.name, User.role, User.active) \
    .where(User.email == bindparam("email", type_=String))


async def add_user(
    session: AsyncSession, *, email: str, name: str, role: str, now: datetime, actor: Principal | str = SYSTEM_PRINCIPAL
) -> UserOut:
    """Create a user.

    Raises:
        InvalidInput: a field is malformed. Conflict: the email is taken.
    """
    address = validation.email(email)
    display_name = validation.text(name, "name", max_length=200)
    validation.one_of(role, ROLES, "role")
    if await session.scalar(select(User.id).where(User.email == address)) is not None:
        raise Conflict(f"a user with email {address} already exists")
    user = User(email=address, name=display_name, role=role, active=True, created_at=now)
    session.add(user)
    await session.flush()
    audit.record(session, principal=actor, action="user.create", entity="user", entity_id=user.id, at=now,
                 after=audit.snapshot(user))
    return UserOut.model_validate(user)


async def list_users(session: AsyncSession) -> list[UserOut]:
    users = await session.scalars(select(User).order_by(User.email))
    return [UserOut.model_validate(user) for user in users]


async def principal_for(session: AsyncSession, *, email: str | None) -> Principal:
    """The principal for an email, or a clear error.

    Raises:
        Forbidden: no email was given, the user is unknown or deactivated.
    """
    return await on_session(session, principal_of, email=email)


def principal_of(db: Connection, *, email: str | None) -> Principal:
    """principal_for as a read unit (see store.database.one_hop)."""
    if not email:
        raise Forbidden("no user is configured: set CSDESK_USER to the email of a csdesk user "
                        "(create one with `csdesk users add`)")
    user = rows(db, PRINCIPAL_BY_EMAIL, {"email": email.strip().lower()}).first()
    if user is None:
        raise Forbidden(f"{email} is not a csdesk user; create it with `csdesk users add`")
    if not user.active:
        raise Forbidden(f"user {email} is deactivated")
    return Principal(user_id=user.id, email=user.email, name=user.name, role=user.role)


async def resolve_assignee(session: AsyncSession, *, ref: str, principal: Principal, field: str) -> User:
    """A user from "me" or an email, who can own accounts or be assigned work.

    Raises:
        InvalidInput: the reference is malformed. NotFound: no such active user.
    """
    if ref.strip().lower() == "me":
        user = await session.get(User, principal.user_id)
        assert user is not None
    else:
        address = validation.email(ref, field)
        user = await session.scalar(select(User).where(User.email == address))
        if user is None:
            raise NotFound(f"{field}: no user with email {address}; `csdesk users list` shows who exists")
    if not user.active or user.role not in ASSIGNABLE_ROLES:
        raise InvalidInput(f"{field}: {user.email} cannot be assigned work (role {user.role}, "
                           f"active={user.active}); pick an active csm, manager, reviewer or admin")
    return user


async def user_id_filter(session: AsyncSession, *, ref: str | None, principal: Principal) -> int | None:
    """The user id a read filter means: "me", an email, or None for everyone.

    Raises:
        NotFound: the email is not a user.
    """
    return await on_session(session, user_id_of, ref=ref, principal=principal)


USER_ID_BY_EMAIL = select(User.id).where(User.email == bindparam("email", type_=String))


def user_id_of(db: Connection, *, ref: str | None, principal: Principal) -> int | None:
    """user_id_filter as a read unit (see store.database.one_hop)."""
    if ref is None or ref.strip() == "" or ref.strip().lower() in {"any", "all"}:
        return None
    if ref.strip().lower() == "me":
        return principal.user_id
    address = ref.strip().lower()
    found = rows(db, USER_ID_BY_EMAIL, {"email": address}).first()
    user_id = found.id if found else None
    if user_id is None:
        raise NotFound(f"no user with email {address}; use \"me\", a user's email, or omit the filter")
    return user_id
