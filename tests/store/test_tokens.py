from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select

from server.auth import ApiTokenVerifier
from store.auth.tokens import create_token, hash_token, list_tokens, principal_for_token, record_token_use, revoke_token
from store.database.models import ApiToken
from store.errors import Forbidden, InvalidInput
from tests.conftest import NOW, Db


async def _token(db: Db, **options: object) -> str:
    async with db.write() as session:
        created = await create_token(session, user_email="ana@example.com", name="laptop", now=NOW, actor="cli",
                                     **options)
    return created.token


async def test_only_the_hash_is_stored_and_a_use_is_recorded(db: Db) -> None:
    token = await _token(db)
    async with db.write() as session:
        principal = await principal_for_token(session, token=token, now=NOW + timedelta(hours=1))
    async with db.read() as session:
        row = await session.scalar(select(ApiToken))
    assert principal.email == "ana@example.com" and principal.role == "csm"
    assert row.token_hash == hash_token(token) and token not in (row.token_hash, row.name)
    assert row.last_used_at == NOW + timedelta(hours=1)


async def test_a_use_is_written_at_most_once_a_minute(db: Db) -> None:
    token = await _token(db)

    async def use(at: datetime) -> datetime | None:
        async with db.write() as session:
            await principal_for_token(session, token=token, now=at)
        async with db.read() as session:
            return await session.scalar(select(ApiToken.last_used_at))

    assert await use(NOW) == NOW
    assert await use(NOW + timedelta(seconds=59)) == NOW
    assert await use(NOW + timedelta(seconds=60)) == NOW + timedelta(seconds=60)
    async with db.write() as session:  # a slower request that checked earlier never moves the time back
        await record_token_use(session, token_id=(await list_tokens(session))[0].id, now=NOW)
    assert await use(NOW + timedelta(seconds=61)) == NOW + timedelta(seconds=60)


async def test_the_http_check_reads_and_writes_only_a_due_use(db: Db) -> None:
    token = await _token(db)
    verifier = ApiTokenVerifier(lambda: db.app)
    writes: list[str] = []
    engine = db.app.engine.sync_engine

    def count_writes(_conn: object, _cursor: object, sql: str, *_rest: object) -> None:
        if sql.lstrip().upper().startswith("UPDATE"):
            writes.append(sql)

    event.listen(engine, "before_cursor_execute", count_writes)
    try:
        for _ in range(3):
            access = await verifier.verify_token(token)
            assert access is not None and access.subject == "ana@example.com"
        assert len(writes) == 1  # the first use; the clock stands still, so the others are not due
        async with db.write() as session:
            await revoke_token(session, token_id=(await list_tokens(session))[0].id, now=NOW, actor="cli")
        assert await verifier.verify_token(token) is None
    finally:
        event.remove(engine, "before_cursor_execute", count_writes)


async def test_a_token_stops_working_when_it_expires(db: Db) -> None:
    token = await _token(db, expires_in_days=1)
    async with db.write() as session:
        assert (await principal_for_token(session, token=token, now=NOW + timedelta(hours=23))).email
    with pytest.raises(Forbidden, match="the token expired at 2026-11-24T12:00"):
        async with db.write() as session:
            await principal_for_token(session, token=token, now=NOW + timedelta(days=1))
    async with db.read() as session:
        listed = await list_tokens(session)
    assert listed[0].expires_at == NOW + timedelta(days=1)


async def test_a_revoked_or_unknown_token_is_refused(db: Db) -> None:
    token = await _token(db)
    async with db.write() as session:
        await revoke_token(session, token_id=(await list_tokens(session))[0].id, now=NOW, actor="cli")
    for candidate in (token, "csd_" + "x" * 43, "not-even-a-csdesk-token"):
        with pytest.raises(Forbidden):
            async with db.write() as session:
                await principal_for_token(session, token=candidate, now=NOW)


@pytest.mark.parametrize("days", [0, -1, 3651])
async def test_a_lifetime_out_of_range_is_refused_and_nothing_is_stored(db: Db, days: int) -> None:
    with pytest.raises(InvalidInput, match="a token lives 1 to 3650 days"):
        await _token(db, expires_in_days=days)
    async with db.read() as session:
        assert await list_tokens(session) == []
