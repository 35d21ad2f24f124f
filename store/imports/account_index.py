"""Finding the account an import row is about: by its external id, then its domain, then its exact name."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.auth.principals import Principal
from store.database.models import Account
from store.imports.fields import RowFields
from store.vocabulary import PORTFOLIO_WRITER_ROLES

MATCHES = ("external_id", "domain", "name")


class AccountRef(NamedTuple):
    """An account as an import row refers to it (a named tuple: an index holds every account, and a
    tuple is made in half the time of a frozen dataclass)."""

    id: int
    name: str
    owner_id: int
    status: str


@dataclass
class AccountIndex:
    """Every account by external id, domain and lower-cased name, read once for an import."""

    by: dict[str, dict[str, AccountRef]]
    matched: Counter[str] = field(default_factory=Counter)
    # What each reference found and how, so a file naming the same account on many rows looks it up once.
    _found: dict[str, tuple[AccountRef, str] | None] = field(default_factory=dict)

    @classmethod
    async def load(cls, session: AsyncSession) -> AccountIndex:
        by: dict[str, dict[str, AccountRef]] = {match: {} for match in MATCHES}
        rows = await session.execute(select(Account.id, Account.name, Account.name_lower, Account.domain,
                                            Account.external_id, Account.owner_id, Account.status))
        by_name, by_domain, by_external_id = by["name"], by["domain"], by["external_id"]
        for account_id, name, name_lower, domain, external_id, owner_id, status in rows:
            ref = AccountRef(account_id, name, owner_id, status)
            by_name[name_lower] = ref
            if domain:
                by_domain[domain] = ref
            if external_id:
                by_external_id[external_id] = ref
        return cls(by=by)

    def account_of(self, fields: RowFields, problems: list[str]) -> AccountRef | None:
        """The account a row's `account` column names; a problem added when it names none."""
        reference = fields.text("account", max_length=253, required=True)
        account = self.find(reference) if reference else None
        if reference and account is None:
            problems.append(f"no account matches {reference!r} by external id, domain or name")
        return account

    def find(self, reference: str) -> AccountRef | None:
        """The account `reference` names, trying external id, then domain, then exact name (any case)."""
        if reference not in self._found:
            lowered = reference.lower()
            self._found[reference] = next(
                ((ref, match) for match, key in (("external_id", reference), ("domain", lowered), ("name", lowered))
                 if (ref := self.by[match].get(key)) is not None), None)
        found = self._found[reference]
        if found is None:
            return None
        self.matched[found[1]] += 1
        return found[0]

    def summary(self) -> str:
        """How the rows' accounts were found, e.g. "by external id 950, by name 50"."""
        return ", ".join(f"by {match.replace('_', ' ')} {self.matched[match]:,}" for match in MATCHES
                         if self.matched[match])


def may_write(principal: Principal, account: AccountRef) -> bool:
    """Managers and admins import any account's data; a CSM, the accounts it owns."""
    return principal.role in PORTFOLIO_WRITER_ROLES or account.owner_id == principal.user_id
