"""Contacts: sponsors, champions and users, matched by id or by email within the account."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store import validation
from store.auth import audit
from store.auth.principals import Principal, require_account_writer
from store.crm.accounts import load_account
from store.database.models import Contact
from store.database.versioning import check_version, flush_guarded
from store.errors import Conflict, InvalidInput, NotFound
from store.runs.account_marks import mark_accounts
from store.schemas import ContactOut
from store.vocabulary import CONTACT_ROLES


async def upsert_contact(
    session: AsyncSession, *, principal: Principal, now: datetime, account_id: int, contact_id: int | None = None,
    email: str | None = None, name: str | None = None, title: str | None = None, role: str | None = None,
    is_primary_sponsor: bool | None = None, left_company_on: date | None = None,
    expected_version: int | None = None, external_id: str | None = None,
) -> ContactOut:
    """Add a contact, or update the one matched by `contact_id` or by email on this account.

    Making a contact the primary sponsor clears the flag on the account's other contacts.

    Raises:
        NotFound, Forbidden, InvalidInput, Conflict (stale expected_version).
    """
    account = await load_account(session, account_id)
    require_account_writer(principal, owner_id=account.owner_id, account_name=account.name)
    address = validation.email(email) if email else None
    contact = await _match(session, account_id=account_id, contact_id=contact_id, email=address,
                           external_id=validation.external_id(external_id))
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = validation.text(name, "name", max_length=200)
    if address is not None:
        fields["email"] = address
    if title is not None:
        fields["title"] = validation.text(title, "title", max_length=200, required=False) or None
    if role is not None:
        fields["role"] = validation.one_of(role, CONTACT_ROLES, "role")
    if is_primary_sponsor is not None:
        fields["is_primary_sponsor"] = is_primary_sponsor
    if left_company_on is not None:
        if left_company_on > now.date():
            raise InvalidInput(f"left_company_on ({left_company_on}) cannot be in the future")
        fields["left_company_on"] = left_company_on
    if external_id is not None:
        fields["external_id"] = validation.external_id(external_id)
        await _check_external_id(session, account_id=account_id, external_id=fields["external_id"],
                                 contact_id=contact.id if contact else None)
    if fields.get("is_primary_sponsor") and left_company_on is not None:
        raise InvalidInput("a contact who has left cannot become the primary sponsor")
    if contact is None:
        contact = await _create(session, principal=principal, now=now, account_id=account_id, fields=fields)
    else:
        await _update(session, principal=principal, now=now, contact=contact, fields=fields,
                      expected_version=expected_version)
    if fields.get("is_primary_sponsor"):
        await session.execute(
            update(Contact).where(Contact.account_id == account_id, Contact.id != contact.id,
                                  Contact.is_primary_sponsor.is_(True))
            .values(is_primary_sponsor=False, updated_at=now, version=Contact.version + 1)
            .execution_options(synchronize_session="fetch")
        )
    await mark_accounts(session, [account_id], now=now, reason="contact.update")
    return ContactOut.model_validate(contact)


async def _check_external_id(session: AsyncSession, *, account_id: int, external_id: str | None,
                             contact_id: int | None) -> None:
    if external_id is None:
        return
    other = await session.scalar(select(Contact.id).where(Contact.account_id == account_id,
                                                          Contact.external_id == external_id))
    if other is not None and other != contact_id:
        raise Conflict(f"contact {other} on account {account_id} already has external_id {external_id!r}; external "
                       "ids are unique on an account")


async def _match(session: AsyncSession, *, account_id: int, contact_id: int | None, email: str | None,
                 external_id: str | None = None) -> Contact | None:
    """The contact by id, else by external id, else by email on the account."""
    if contact_id is not None:
        contact = await session.get(Contact, contact_id)
        if contact is None or contact.account_id != account_id:
            raise NotFound(f"no contact {contact_id} on account {account_id}; get_account lists its contacts")
        return contact
    if external_id is not None:
        matched = await session.scalar(select(Contact).where(Contact.account_id == account_id,
                                                             Contact.external_id == external_id))
        if matched is not None:
            return matched
    if email is None:
        return None
    return await session.scalar(select(Contact).where(Contact.account_id == account_id, Contact.email == email))


async def _create(session: AsyncSession, *, principal: Principal, now: datetime, account_id: int,
                  fields: dict[str, Any]) -> Contact:
    if "name" not in fields:
        raise InvalidInput("name is required for a new contact (no contact matched the id or email given)")
    fields.setdefault("role", "user")
    contact = Contact(account_id=account_id, created_at=now, updated_at=now, **fields)
    session.add(contact)
    await session.flush()
    audit.record(session, principal=principal, action="contact.create", entity="contact", entity_id=contact.id,
                 at=now, after=audit.snapshot(contact))
    return contact


async def _update(session: AsyncSession, *, principal: Principal, now: datetime, contact: Contact,
                  fields: dict[str, Any], expected_version: int | None) -> None:
    check_version("contact", contact.id, contact.version, expected_version)
    if not fields:
        raise InvalidInput(f"nothing to update on contact {contact.id}: pass at least one field to change")
    if fields.get("is_primary_sponsor") and contact.left_company_on and "left_company_on" not in fields:
        raise InvalidInput(f"{contact.name} left on {contact.left_company_on} and cannot be the primary sponsor")
    contact_id = contact.id
    before = audit.snapshot(contact)
    for key, value in fields.items():
        setattr(contact, key, value)
    contact.updated_at = now
    await flush_guarded(session, "contact", contact_id)
    audit.record(session, principal=principal, action="contact.update", entity="contact", entity_id=contact.id,
                 at=now, before=before, after=audit.snapshot(contact))
