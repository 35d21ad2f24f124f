"""The administrative commands behind the CLI: migrate, users, imports, tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from server.context import open_app
from server.settings import Settings
from store.auth import tokens, users
from store.database.engine import refresh_statistics
from store.database.migrate import current_revision
from store.errors import InvalidInput
from store.imports import sources
from store.imports.column_maps import NO_MAP, load_map
from store.imports.entity_import import ENTITY_KINDS, import_entities
from store.imports.report import ImportReport
from store.imports.signal_import import import_signals
from store.schemas import UserOut


async def upgrade_database(settings: Settings) -> str | None:
    async with open_app(settings) as app:
        return await current_revision(app.engine)


async def add_user(settings: Settings, *, email: str, name: str, role: str) -> UserOut:
    async with open_app(settings) as app, app.write_sessions() as session, session.begin():
        return await users.add_user(session, email=email, name=name, role=role, now=app.clock.now())


async def list_users(settings: Settings) -> list[UserOut]:
    async with open_app(settings) as app, app.read_sessions() as session:
        return await users.list_users(session)


async def import_file(settings: Settings, *, kind: str, path: str, format: str | None, skip_invalid: bool,
                      dry_run: bool, as_user: str | None, map_reference: str | None = None,
                      columns: Sequence[str] = (), create_missing: bool = False,
                      on_progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import one file of `kind`: accounts, contacts or success plans (store.imports.entity_import), or usage,
    tickets, surveys or touchpoints (store.imports.signal_import), read through a column map when given."""
    if create_missing and kind != "accounts":
        raise InvalidInput("--create-missing creates accounts, from `csdesk import accounts`; the other kinds "
                           "refer to accounts that exist")
    column_map = load_map(map_reference) if map_reference else None
    if column_map is not None and column_map.kind and column_map.kind != kind:
        raise InvalidInput(f"the map {column_map.name} is for {column_map.kind}, not {kind}")
    if columns:
        column_map = (column_map or NO_MAP).with_columns(columns)
    async with open_app(settings) as app:
        async with app.read_sessions() as session:
            principal = await users.principal_for(session, email=settings.acting_email(as_user))
        with sources.opened(path, format=format) as source:
            if kind in ENTITY_KINDS:
                report = await import_entities(app.write_sessions, kind=kind, source=source, principal=principal,
                                               now=app.clock.now(), skip_invalid=skip_invalid, dry_run=dry_run,
                                               column_map=column_map, create_missing=create_missing,
                                               on_progress=on_progress)
            else:
                report = await import_signals(app.read_sessions, app.write_sessions, kind=kind, source=source,
                                              principal=principal, now=app.clock.now(), skip_invalid=skip_invalid,
                                              dry_run=dry_run, column_map=column_map, on_progress=on_progress)
        if not dry_run and (report.inserted or report.updated):
            await refresh_statistics(app.write_sessions)
        return report


async def create_token(settings: Settings, *, user: str, name: str, expires_in_days: int | None,
                       scope: str = "csdesk") -> tokens.NewToken:
    async with open_app(settings) as app, app.write_sessions() as session, session.begin():
        return await tokens.create_token(session, user_email=user, name=name, now=app.clock.now(), actor="cli",
                                         expires_in_days=expires_in_days, scope=scope)


async def list_tokens(settings: Settings) -> list[tokens.TokenOut]:
    async with open_app(settings) as app, app.read_sessions() as session:
        return await tokens.list_tokens(session)


async def revoke_token(settings: Settings, *, token_id: int) -> None:
    async with open_app(settings) as app, app.write_sessions() as session, session.begin():
        await tokens.revoke_token(session, token_id=token_id, now=app.clock.now(), actor="cli")
