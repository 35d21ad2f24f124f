"""Relationship tools: contacts and sponsors, health notes, and the contact history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from store.crm import activity, contacts
from store.schemas import ContactOut, NoteOut, TouchpointOut
from store.vocabulary import ContactRole, Sentiment, TouchpointKind
from tools.accounts import AccountId
from tools.common import ADDITIVE, OVERWRITE, ToolSpec, respond, unit_of_work

APPEND = ADDITIVE


def tools() -> list[ToolSpec]:
    return [
        (upsert_contact, OVERWRITE),
        (add_health_note, ADDITIVE),
        (log_touchpoint, ADDITIVE),
    ]


async def upsert_contact(
    ctx: Context,
    account_id: AccountId,
    contact_id: Annotated[int | None, Field(description="Update this contact; else matched by email.")] = None,
    name: str | None = None,
    email: str | None = None,
    title: str | None = None,
    role: ContactRole | None = None,
    is_primary_sponsor: Annotated[bool | None, Field(description="true moves the flag from any other.")] = None,
    left_company_on: Annotated[date | None, Field(description="Date the person left the company.")] = None,
    external_id: Annotated[str | None, Field(description="Their id in your CRM; matched before email.")] = None,
    expected_version: int | None = None,
) -> Annotated[CallToolResult, ContactOut]:
    """Add or update a contact. To replace a departed executive sponsor: set left_company_on on the old one,
    then add the new one with role executive_sponsor and is_primary_sponsor true."""
    async with unit_of_work(ctx, write=True) as work:
        contact = await contacts.upsert_contact(
            work.session, principal=work.principal, now=work.now, account_id=account_id, contact_id=contact_id,
            email=email, name=name, title=title, role=role, is_primary_sponsor=is_primary_sponsor,
            left_company_on=left_company_on, expected_version=expected_version, external_id=external_id,
        )
    return respond(contact)


async def add_health_note(
    ctx: Context,
    account_id: AccountId,
    body: str,
    sentiment: Sentiment = "neutral",
) -> Annotated[CallToolResult, NoteOut]:
    """Record a note on the account's health (what you heard, what worries you)."""
    async with unit_of_work(ctx, write=True) as work:
        note = await activity.add_health_note(work.session, principal=work.principal, now=work.now,
                                              account_id=account_id, body=body, sentiment=sentiment)
    return respond(note)


async def log_touchpoint(
    ctx: Context,
    account_id: AccountId,
    kind: TouchpointKind,
    summary: str,
    occurred_at: Annotated[datetime | None, Field(description="ISO time with zone; default now.")] = None,
    contact_id: int | None = None,
) -> Annotated[CallToolResult, TouchpointOut]:
    """Record a meeting, call, email (out or in) or QBR in the account's contact history."""
    async with unit_of_work(ctx, write=True) as work:
        touchpoint = await activity.log_touchpoint(
            work.session, principal=work.principal, now=work.now, account_id=account_id, kind=kind,
            summary=summary, occurred_at=occurred_at, contact_id=contact_id,
        )
    return respond(touchpoint)
