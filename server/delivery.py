"""Sending approved drafts: through SMTP when configured, otherwise into an outbox folder of .eml files.

A draft goes out once. Each send is claimed in the database before delivery and recorded after it.
If a send dies in between, the next one finds the claim: the outbox can tell whether the file was
written (so it records it, or writes it); SMTP cannot, so such drafts are reported as unfinished
and resent only when the operator says so (`csdesk send --resend-unfinished`).
"""

from __future__ import annotations

import asyncio
import os
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Protocol

from server.context import AppContext
from store.auth.principals import Principal
from store.crm import drafts
from store.database.models import Draft


class Transport(Protocol):
    name: str

    def deliver(self, message: EmailMessage, draft_id: int) -> str: ...

    def delivered(self, draft_id: int) -> bool | None:
        """True or False when the transport can tell whether a draft went out; None when it cannot."""


def build_message(draft: Draft) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((draft.from_name, draft.from_email))
    message["To"] = formataddr((draft.to_name, draft.to_email))
    message["Subject"] = draft.subject
    # A stable id: a receiving system that sees the same message twice can tell.
    message["Message-ID"] = f"<csdesk-draft-{draft.id}@{draft.from_email.split('@')[-1]}>"
    message["Date"] = format_datetime(draft.decided_at) if draft.decided_at else format_datetime(draft.created_at)
    message["X-Csdesk-Draft"] = str(draft.id)
    message.set_content(draft.body)
    return message


@dataclass
class OutboxFolder:
    path: Path
    name: str = "outbox"

    def _file(self, draft_id: int) -> Path:
        return self.path / f"draft-{draft_id}.eml"

    def deliver(self, message: EmailMessage, draft_id: int) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        target = self._file(draft_id)
        partial = target.with_suffix(".eml.partial")
        partial.write_bytes(bytes(message))
        # The rename is atomic: the file is there whole, or not at all.
        os.replace(partial, target)
        return f"written to {target}"

    def delivered(self, draft_id: int) -> bool | None:
        return self._file(draft_id).exists()


@dataclass
class SmtpTransport:
    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_seconds: float = 30.0
    name: str = "smtp"

    def deliver(self, message: EmailMessage, draft_id: int) -> str:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as client:
            if self.starttls:
                client.starttls()
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(message)
        return f"accepted by {self.host}:{self.port}"

    def delivered(self, draft_id: int) -> bool | None:
        return None


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    unfinished: list[int] = field(default_factory=list)


async def send_approved(app: AppContext, *, principal: Principal, transport: Transport,
                        resend_unfinished: bool = False, batch: int = 100) -> SendReport:
    """Deliver every approved draft once, and record each delivery or failure."""
    report = SendReport()
    await _settle_unfinished(app, principal=principal, transport=transport, resend=resend_unfinished,
                             report=report)
    async with app.write_sessions() as session, session.begin():
        claimed = await drafts.claim_for_sending(session, principal=principal, now=app.clock.now(), limit=batch)
        messages = [(draft.id, build_message(draft)) for draft in claimed]
    for draft_id, message in messages:
        try:
            delivery = await asyncio.to_thread(transport.deliver, message, draft_id)
        except (smtplib.SMTPException, OSError) as exc:
            async with app.write_sessions() as session, session.begin():
                await drafts.record_send_failure(session, principal=principal, draft_id=draft_id,
                                                 error=f"{type(exc).__name__}: {exc}", now=app.clock.now())
            report.failed[draft_id] = str(exc)
            continue
        async with app.write_sessions() as session, session.begin():
            await drafts.record_sent(session, principal=principal, draft_id=draft_id, delivery=delivery,
                                     now=app.clock.now())
        report.sent.append(draft_id)
    return report


async def _settle_unfinished(app: AppContext, *, principal: Principal, transport: Transport, resend: bool,
                             report: SendReport) -> None:
    async with app.read_sessions() as session:
        unfinished = [draft.id for draft in await drafts.unfinished_sends(session)]
    for draft_id in unfinished:
        delivered = transport.delivered(draft_id)
        async with app.write_sessions() as session, session.begin():
            if delivered is True:
                await drafts.record_sent(session, principal=principal, draft_id=draft_id,
                                         delivery=f"found already delivered by {transport.name}", now=app.clock.now())
                report.sent.append(draft_id)
            elif delivered is False or resend:
                await drafts.release_claim(session, principal=principal, draft_id=draft_id, now=app.clock.now())
            else:
                report.unfinished.append(draft_id)
