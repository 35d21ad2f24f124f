"""Optimistic concurrency: the caller's expected version, and the database's own guard at write time."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from store.errors import Conflict, InvalidInput


def check_version(entity: str, entity_id: int, current: int, expected: int | None) -> None:
    """Raises Conflict when the caller's copy is older than the stored one."""
    if expected is not None and expected != current:
        raise Conflict(
            f"{entity} {entity_id} has changed: it is at version {current}, you sent expected_version "
            f"{expected}. Re-read it, check the change still makes sense, and retry with version {current}"
        )


async def flush_guarded(session: AsyncSession, entity: str, entity_id: int) -> None:
    """Write pending changes; a concurrent writer that got there first becomes a Conflict.

    `entity_id` is passed in, not read from the row: a failed flush expires the row's attributes.
    """
    try:
        await session.flush()
    except StaleDataError as exc:
        raise Conflict(f"{entity} {entity_id} was changed by someone else just now; re-read it and retry") from exc


def check_fields(changes: dict[str, object], updatable: Iterable[str]) -> None:
    """Raises InvalidInput for an empty change set or a field that cannot be updated."""
    allowed = tuple(updatable)
    unknown = set(changes) - set(allowed)
    if unknown:
        raise InvalidInput(f"cannot update {', '.join(sorted(unknown))}; updatable: {', '.join(allowed)}")
    if not changes:
        raise InvalidInput("nothing to update: pass at least one field to change")
