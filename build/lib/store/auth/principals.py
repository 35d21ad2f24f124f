"""Who is acting, and the ownership rules every write checks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from store.errors import Forbidden
from store.vocabulary import PORTFOLIO_WRITER_ROLES


class Principal(BaseModel):
    """The active user a call acts as."""

    model_config = ConfigDict(frozen=True)

    user_id: int
    email: str
    name: str
    role: str

    @property
    def writes_any_account(self) -> bool:
        return self.role in PORTFOLIO_WRITER_ROLES


def require_account_writer(principal: Principal, *, owner_id: int, account_name: str) -> None:
    """A csm writes only the accounts it owns; managers and admins write any.

    Raises:
        Forbidden: the principal may not change this account.
    """
    if principal.writes_any_account:
        return
    if principal.role == "csm" and principal.user_id == owner_id:
        return
    if principal.role == "csm":
        raise Forbidden(
            f"{principal.email} does not own account {account_name!r}; only its owner, a manager "
            "or an admin may change it"
        )
    raise Forbidden(f"role {principal.role!r} cannot change accounts; csm (own accounts), manager or admin can")


def require_role(principal: Principal, allowed: frozenset[str], action: str) -> None:
    """Raises Forbidden unless the principal has one of the `allowed` roles."""
    if principal.role not in allowed:
        names = ", ".join(sorted(allowed))
        raise Forbidden(f"role {principal.role!r} cannot {action}; allowed roles: {names}")
