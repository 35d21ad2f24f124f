from sqlalchemy import func, select

from store.database.models import Account, AuditEvent, Renewal, RevenueEvent
from store.demo.portfolio import churned_count, seed_demo_portfolio
from tests.conftest import TODAY, Db
from tests.factories import make_account


async def test_the_seed_writes_whole_accounts_and_leaves_ids_free_for_new_rows(db: Db) -> None:
    async with db.write() as session:
        result = await seed_demo_portfolio(session, today=TODAY, accounts=30)
    # Ids were assigned by the seed; a new account and its first renewal must still get fresh ones.
    created = await make_account(db, name="After The Seed")
    async with db.read() as session:
        accounts = await session.scalar(select(func.count()).select_from(Account))
        orphans = await session.scalar(select(func.count()).select_from(RevenueEvent)
                                       .where(RevenueEvent.account_id.not_in(select(Account.id))))
        seeded_audits = await session.scalar(select(func.count()).select_from(AuditEvent)
                                             .where(AuditEvent.action == "account.seed"))
        renewal = await session.scalar(select(Renewal).where(Renewal.account_id == created.id))
    assert result.created and accounts == 30 + churned_count(30) + 1
    assert created.id == accounts and renewal is not None
    assert orphans == 0 and seeded_audits == 30 + churned_count(30)
