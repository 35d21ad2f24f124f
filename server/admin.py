"""The administrative commands behind the CLI: migrate, users, CSV import."""

from __future__ import annotations

from collections.abc import Callable

from server.context import open_app
from server.settings import Settings
from store.auth import tokens, users
from store.database.engine import refresh_statistics
from store.database.migrate import current_revision
from store.imports import csv_import, sources
from store.imports.signal_import import SignalReport, import_signals
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


async def import_csv(settings: Settings, *, kind: str, text: str, skip_invalid: bool,
                     as_user: str | None) -> csv_import.ImportReport:
    importer = csv_import.import_accounts if kind == "accounts" else csv_import.import_contacts
    async with open_app(settings) as app:
        async with app.write_sessions() as session, session.begin():
            principal = await users.principal_for(session, email=as_user or settings.user)
            report = await importer(session, principal=principal, now=app.clock.now(), text=text,
                                    skip_invalid=skip_invalid)
        await refresh_statistics(app.write_sessions)
        return report


async def import_signal_file(settings: Settings, *, kind: str, path: str, format: str | None, skip_invalid: bool,
                             dry_run: bool, as_user: str | None,
                             on_progress: Callable[[int, int], None] | None = None) -> SignalReport:
    """Import one file of usage, tickets, surveys or touchpoints (see store.imports.signal_import)."""
    async with open_app(settings) as app:
        async with app.read_sessions() as session:
            principal = await users.principal_for(session, email=as_user or settings.user)
        with sources.opened(path, format=format) as source:
            report = await import_signals(app.read_sessions, app.write_sessions, kind=kind, source=source,
                                          principal=principal, now=app.clock.now(), skip_invalid=skip_invalid,
                                          dry_run=dry_run, on_progress=on_progress)
        if not dry_run and (report.inserted or report.updated):
            await refresh_statistics(app.write_sessions)
        return report


async def create_token(settings: Settings, *, user: str, name: str, expires_in_days: int | None) -> tokens.NewToken:
    async with open_app(settings) as app, app.write_sessions() as session, session.begin():
        return await tokens.create_token(session, user_email=user, name=name, now=app.clock.now(), actor="cli",
                                         expires_in_days=expires_in_days)


async def list_tokens(settings: Settings) -> list[tokens.TokenOut]:
    async with open_app(settings) as app, app.read_sessions() as session:
        return await tokens.list_tokens(session)


async def revoke_token(settings: Settings, *, token_id: int) -> None:
    async with open_app(settings) as app, app.write_sessions() as session, session.begin():
        await tokens.revoke_token(session, token_id=token_id, now=app.clock.now(), actor="cli")
