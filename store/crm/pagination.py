"""Opaque cursors: an offset bound to the filters it was issued for."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam

from store.database.engine import rows
from store.errors import InvalidInput

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 200


class Fingerprint:
    """A short digest of the filters, so a cursor is refused when they change; worked out only when a
    cursor is read or issued (most answers fit one page, and the digest cost a sixth of a small list)."""

    def __init__(self, filters: dict[str, Any]) -> None:
        self._filters = filters

    @functools.cached_property
    def digest(self) -> str:
        canonical = json.dumps(self._filters, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def filters_fingerprint(filters: dict[str, Any]) -> Fingerprint:
    return Fingerprint(filters)


def encode_cursor(offset: int, fingerprint: Fingerprint) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint.digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, fingerprint: Fingerprint) -> int:
    """The offset a cursor stands for; 0 when there is none.

    Raises:
        InvalidInput: the cursor is malformed or was issued for other filters.
    """
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset, issued_for = int(data["o"]), str(data["f"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("cursor is not one this server issued; omit it to start from the first page") from exc
    if offset < 0 or issued_for != fingerprint.digest:
        raise InvalidInput(
            "cursor was issued for different filters or sort; repeat the original filters or omit the cursor"
        )
    return offset


def check_page_size(limit: int) -> int:
    """Raises InvalidInput unless 1 <= limit <= MAX_PAGE_SIZE."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}; got {limit}")
    return limit


def next_cursor(offset: int, returned: int, total: int, fingerprint: Fingerprint) -> str | None:
    end = offset + returned
    return encode_cursor(end, fingerprint) if end < total else None


@functools.lru_cache(maxsize=256)
def _paged(statement: Select[Any], count: Select[Any]) -> Select[Any]:
    """`statement` with its total riding along as `count`, a scalar subquery the database runs once, and
    the page's bounds bound per call; built once per pair (callers pass statements they built once, see
    store.crm.accounts). A window count, `count(*) OVER ()`, did the same in one pass but made the database
    read and sort every matching row before it could return the first 25: twice the time for a CSM's
    book, three times for the whole portfolio."""
    return statement.add_columns(count.scalar_subquery().label("page_total")) \
        .offset(bindparam("page_offset", type_=Integer)).limit(bindparam("page_limit", type_=Integer))


def page_and_total(db: Connection, statement: Select[Any], count: Select[Any], parameters: dict[str, Any],
                   *, offset: int, limit: int) -> tuple[list[Any], int]:
    """A page of an ordered statement (its rows, read by column name) and the number of rows matching it,
    which `count` (the same conditions, counted) gives, in one round trip. Only a page past the end needs
    the count on its own."""
    page = rows(db, _paged(statement, count), {**parameters, "page_offset": offset, "page_limit": limit})
    if page:
        return page, int(page[0].page_total)
    if offset == 0:
        return [], 0
    return [], int(rows(db, count, parameters).one()[0])
