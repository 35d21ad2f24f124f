"""Building test data through the service layer, the way users create it."""

from __future__ import annotations

from datetime import date
from typing import Any

from store.crm.accounts import create_account
from store.schemas import AccountDetail
from tests.conftest import NOW, Db


async def make_account(db: Db, *, owner: str = "ana", name: str = "Acme Corp", arr: str = "120000",
                       renewal_date: date | None = date(2027, 1, 15), **fields: Any) -> AccountDetail:
    principal = db.principals[owner if db.principals[owner].role == "csm" else "morgan"]
    fields.setdefault("segment", "mid_market")
    async with db.write() as session:
        return await create_account(session, principal=principal, now=NOW, name=name, arr=arr,
                                    owner=db.principals[owner].email, renewal_date=renewal_date, **fields)
