"""Checks shared by every write path (tools, CLI, CSV import): one place, one wording."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from store.errors import InvalidInput

MAX_MONEY = Decimal("999999999999.99")
# Longest free text accepted anywhere (notes, summaries, comments).
MAX_TEXT = 20_000
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def money(value: Decimal | int | str, field: str) -> Decimal:
    """An exact, non-negative amount with at most two decimals."""
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise InvalidInput(f"{field} must be an amount like 125000 or 125000.50; got {value!r}") from exc
    if not amount.is_finite() or amount < 0 or amount > MAX_MONEY:
        raise InvalidInput(f"{field} must be between 0 and {MAX_MONEY}; got {value}")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(f"{field} may have at most two decimals; got {value}")
    return amount.quantize(Decimal("0.01"))


def one_of(value: str, allowed: Iterable[str], field: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise InvalidInput(f"{field} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def text(value: str, field: str, *, max_length: int, required: bool = True) -> str:
    cleaned = value.strip()
    if required and not cleaned:
        raise InvalidInput(f"{field} must not be empty")
    if len(cleaned) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters; got {len(cleaned)}")
    return cleaned


def currency(value: str) -> str:
    code = value.strip().upper()
    if not _CURRENCY.match(code):
        raise InvalidInput(f"currency must be a three-letter ISO 4217 code like USD or EUR; got {value!r}")
    return code


def email(value: str, field: str = "email") -> str:
    cleaned = value.strip().lower()
    if not _EMAIL.match(cleaned) or len(cleaned) > 254:
        raise InvalidInput(f"{field} must be an email address like ana@example.com; got {value!r}")
    return cleaned


def domain(value: str) -> str:
    cleaned = value.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    if not _DOMAIN.match(cleaned):
        raise InvalidInput(f"domain must be a host name like acme.com; got {value!r}")
    return cleaned


def external_id(value: str | None, field: str = "external_id") -> str | None:
    """An id from another system (a CRM's, a billing system's): any text up to 200 characters, or none."""
    if value is None or not str(value).strip():
        return None
    return text(str(value), field, max_length=200)


def non_negative(value: int, field: str, *, maximum: int = 10_000_000) -> int:
    if not 0 <= value <= maximum:
        raise InvalidInput(f"{field} must be between 0 and {maximum}; got {value}")
    return value


def parse_date(value: str | date, field: str) -> date:
    """A date from an ISO string like 2027-03-31."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidInput(f"{field} must be a date like 2027-03-31; got {value!r}") from exc


# A user's "today" may still be yesterday in UTC; a day earlier than that is a date they did not mean.
PAST_DATE_GRACE = timedelta(days=1)


def not_in_past(value: date | None, field: str, *, today: date, hint: str = "") -> date | None:
    """A date a user sets for something still to happen: not before yesterday.

    Raises:
        InvalidInput: the date is further back, with today's date and what is accepted.
    """
    if value is not None and value < today - PAST_DATE_GRACE:
        raise InvalidInput(f"{field} {value.isoformat()} is in the past (today is {today.isoformat()}): give today "
                           f"or a later date{hint}")
    return value


def truncate(body: str, limit: int) -> tuple[str, bool]:
    """The text cut to `limit` characters with a visible marker, and whether it was cut."""
    if len(body) <= limit:
        return body, False
    return body[:limit].rstrip() + " …[truncated]", True


def plain_number(number: Decimal) -> Decimal:
    """A number as people write it: 3, not 3.0000, and never 1E+1."""
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize()
