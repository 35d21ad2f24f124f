"""Sending approved drafts once: to an outbox folder and through a real SMTP server, across a crash."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from server.delivery import OutboxFolder, SmtpTransport, send_approved
from store.crm.contacts import upsert_contact
from store.crm.drafts import create_draft, review_draft
from store.database.models import Draft
from tests.conftest import NOW, Db
from tests.factories import make_account
from tests.server.processes import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802, ANN201
        self.messages.append(envelope.content)
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


class Crash(Exception):
    """The process dies between delivering a message and recording it."""


class CrashAfterDelivery:
    def __init__(self, transport: object) -> None:
        self.transport, self.name = transport, "crashing"

    def deliver(self, message: EmailMessage, draft_id: int) -> str:
        self.transport.deliver(message, draft_id)  # type: ignore[attr-defined]
        raise Crash

    def delivered(self, draft_id: int) -> bool | None:
        return self.transport.delivered(draft_id)  # type: ignore[attr-defined]


async def _approved_drafts(db: Db, count: int = 2) -> list[int]:
    ids = []
    for index in range(count):
        account = await make_account(db, name=f"Acme {index}")
        async with db.write() as session:
            contact = await upsert_contact(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                           name="Pat Lee", email=f"pat{index}@acme.com", role="champion")
            draft = await create_draft(session, principal=db.principals["bot"], now=NOW, account_id=account.id,
                                       kind="check_in", contact_id=contact.id, from_name="Ana Garcia",
                                       from_email="ana@example.com", subject=f"Checking in {index}",
                                       body="Hi Pat,\n\nHow are things?\n\nAna", reasons=["quiet"],
                                       method="template")
        async with db.write() as session:
            await review_draft(session, principal=db.principals["riley"], now=NOW, draft_id=draft.id,
                               decision="approve")
        ids.append(draft.id)
    return ids


async def _statuses(db: Db) -> dict[int, str]:
    async with db.read() as session:
        return dict((await session.execute(select(Draft.id, Draft.status))).all())


async def test_the_outbox_writes_each_approved_draft_once(main_db: Db, tmp_path: Path) -> None:
    ids = await _approved_drafts(main_db)
    outbox = OutboxFolder(tmp_path / "outbox")
    first = await send_approved(main_db.app, principal=main_db.principals["riley"], transport=outbox)
    second = await send_approved(main_db.app, principal=main_db.principals["riley"], transport=outbox)
    assert sorted(first.sent) == ids and second.sent == []
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [f"draft-{i}.eml" for i in ids]
    message = (tmp_path / "outbox" / f"draft-{ids[0]}.eml").read_text()
    assert "To: Pat Lee <pat0@acme.com>" in message and f"Message-ID: <csdesk-draft-{ids[0]}@example.com>" in message
    assert set((await _statuses(main_db)).values()) == {"sent"}


async def test_an_outbox_send_that_crashed_after_writing_is_recorded_not_written_again(
        main_db: Db, tmp_path: Path) -> None:
    ids = await _approved_drafts(main_db, count=1)
    outbox = OutboxFolder(tmp_path / "outbox")
    with pytest.raises(Crash):
        await send_approved(main_db.app, principal=main_db.principals["riley"],
                            transport=CrashAfterDelivery(outbox))
    written = (tmp_path / "outbox" / f"draft-{ids[0]}.eml").stat().st_mtime_ns
    assert (await _statuses(main_db))[ids[0]] == "approved"
    report = await send_approved(main_db.app, principal=main_db.principals["riley"], transport=outbox)
    assert report.sent == ids and (await _statuses(main_db))[ids[0]] == "sent"
    assert (tmp_path / "outbox" / f"draft-{ids[0]}.eml").stat().st_mtime_ns == written


async def test_smtp_delivers_once_and_a_crash_is_not_resent_unless_asked(
        main_db: Db, smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    ids = await _approved_drafts(main_db)
    smtp = SmtpTransport(host="127.0.0.1", port=port, starttls=False)
    with pytest.raises(Crash):
        await send_approved(main_db.app, principal=main_db.principals["riley"],
                            transport=CrashAfterDelivery(smtp), batch=1)
    assert len(inbox.messages) == 1
    after_crash = await send_approved(main_db.app, principal=main_db.principals["riley"], transport=smtp)
    # The second draft goes out; the first was claimed by the crashed send, so it waits for the operator.
    assert after_crash.sent == [ids[1]] and after_crash.unfinished == [ids[0]]
    assert len(inbox.messages) == 2
    again = await send_approved(main_db.app, principal=main_db.principals["riley"], transport=smtp)
    assert again.sent == [] and again.unfinished == [ids[0]] and len(inbox.messages) == 2
    resent = await send_approved(main_db.app, principal=main_db.principals["riley"], transport=smtp,
                                 resend_unfinished=True)
    assert resent.sent == [ids[0]] and len(inbox.messages) == 3
    assert set((await _statuses(main_db)).values()) == {"sent"}
    assert b"Subject: Checking in 0" in inbox.messages[0]


async def test_an_smtp_refusal_is_recorded_and_the_draft_can_go_later(main_db: Db) -> None:
    ids = await _approved_drafts(main_db, count=1)
    unreachable = SmtpTransport(host="127.0.0.1", port=free_port(), starttls=False, timeout_seconds=2)
    report = await send_approved(main_db.app, principal=main_db.principals["riley"], transport=unreachable)
    assert list(report.failed) == ids
    async with main_db.read() as session:
        draft = await session.get(Draft, ids[0])
    assert draft.status == "approved" and draft.send_claimed_at is None
    assert "ConnectionRefusedError" in draft.delivery_error
