"""Money summed as integer cents, so that totals are exact on every backend (SQLite has no decimal type)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, cast, func
from sqlalchemy.sql.elements import ColumnElement


def cents(column: ColumnElement) -> ColumnElement:
    return cast(func.round(column * 100), BigInteger)


def money(total_cents: int | None) -> Decimal:
    return (Decimal(total_cents or 0) / 100).quantize(Decimal("0.01"))
