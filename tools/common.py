"""What every tool shares: the unit of work, the acting principal, error mapping, compact results."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, TypeVar

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.deps import AgentDeps
from store.auth.principals import Principal
from store.auth.users import principal_for, principal_of
from store.clock import Clock
from store.database.engine import transaction
from store.database.one_hop import OneHopUnits
from store.errors import CsdeskError

ResultT = TypeVar("ResultT")


class ToolDeps(Protocol):
    """What tools need from the server's lifespan context (the server's AppContext provides it)."""

    read_sessions: async_sessionmaker[AsyncSession]
    write_sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    units: OneHopUnits

    def acting_email(self) -> str | None: ...

    def agent_deps(self) -> AgentDeps: ...

    def public_base_url(self) -> str | None: ...


@dataclass(frozen=True)
class Work:
    session: AsyncSession
    principal: Principal
    now: datetime

    @property
    def today(self) -> date:
        return self.now.date()


def app_of(ctx: Context) -> ToolDeps:
    return ctx.request_context.lifespan_context


def acting_email(app: ToolDeps) -> str | None:
    # Over HTTP the bearer token names the user (its absence is a 401 before any tool runs);
    # over stdio and in process there is no token, and the configured user acts.
    access = get_access_token()
    return access.subject if access is not None else app.acting_email()


@contextmanager
def store_errors_as_tool_errors() -> Iterator[None]:
    """Store errors become tool errors the model can act on."""
    try:
        yield
    except CsdeskError as exc:
        raise ToolError(str(exc)) from exc
    except IntegrityError as exc:
        # A concurrent writer took the same unique value between our check and our insert.
        raise ToolError("the write conflicts with a change made at the same moment; re-read and retry") from exc


@asynccontextmanager
async def unit_of_work(ctx: Context, *, write: bool) -> AsyncIterator[Work]:
    """One transaction as the acting principal; store errors become tool errors the model can act on."""
    app = app_of(ctx)
    with store_errors_as_tool_errors():
        async with work_as(app, acting_email(app), write=write) as work:
            yield work


@dataclass(frozen=True)
class UnitWork:
    """What a read unit works with: its connection, the acting principal and the moment of the call."""

    db: Connection
    principal: Principal
    now: datetime

    @property
    def today(self) -> date:
        return self.now.date()


async def read_unit(ctx: Context, fn: Callable[[UnitWork], ResultT]) -> ResultT:
    """A read as the acting principal, run as a whole in one unit with the principal's lookup
    (see store.database.one_hop); store errors become tool errors."""
    app = app_of(ctx)
    email, now = acting_email(app), app.clock.now()

    def unit(db: Connection) -> ResultT:
        return fn(UnitWork(db=db, principal=principal_of(db, email=email), now=now))

    with store_errors_as_tool_errors():
        return await app.units.run(unit)


@asynccontextmanager
async def work_as(app: ToolDeps, email: str | None, *, write: bool) -> AsyncIterator[Work]:
    """One transaction acting as the user with `email`, as a tool call runs it (without the tool's error
    mapping; the benchmark times service functions through this)."""
    async with transaction(app.write_sessions if write else app.read_sessions) as session:
        principal = await principal_for(session, email=email)
        yield Work(session=session, principal=principal, now=app.clock.now())


def respond(result: BaseModel) -> CallToolResult:
    """Structured content plus the same data as compact JSON text, which is what the model reads."""
    text = result.model_dump_json(exclude_none=True)
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=result.model_dump(mode="json"))


ToolSpec = tuple[Callable[..., Awaitable[CallToolResult]], ToolAnnotations]

# The annotation sets the tools use; every tool declares one of these.
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
ADDITIVE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
OVERWRITE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)
TRANSITION = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
MARKING = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


async def acting_principal(ctx: Context) -> Principal:
    """The active user this call acts as, for tools that hand the work to an agent."""
    async with unit_of_work(ctx, write=False) as work:
        return work.principal
