"""The assessment agent: signals → rules score → (optionally) the model's reading → a stored assessment,
with its playbooks, one account per transaction."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import rules
from agents.llm import ModelFailure, StructuredModel
from agents.model_assessment import Note, model_assessment
from agents.playbooks import (
    WARNING_PLAYBOOKS,
    Action,
    MarkRisk,
    NewDraft,
    NewNotification,
    NewTask,
    PlaybookInputs,
    plan_playbooks,
)
from agents.touchpoint import Composed, DraftContext, Recipient, compose
from store.accounts import load_account
from store.agent_runs import DEFAULT_LEASE, still_held
from store.assessments import (
    PriorAssessment,
    latest_assessment,
    mark_churn_risks,
    prior_assessments,
    save_assessments,
)
from store.clock import Clock, SystemClock
from store.drafts import add_agent_draft, audit_new_drafts
from store.errors import Conflict, CsdeskError, InvalidInput
from store.models import Assessment, Contact, HealthNote, User
from store.notifications import add_notification
from store.principals import Principal
from store.schemas import AssessmentOut
from store.signal_facts import AccountFacts
from store.signals import SignalSet, load_signal_sets
from store.tasks import add_agent_task, audit_new_tasks, existing_dedupe_keys
from store.thresholds import HealthThresholds
from store.users import add_user, principal_for

logger = logging.getLogger(__name__)

AGENT_EMAIL = "assessment-agent@csdesk.invalid"
CHUNK = 500
WRITE_BATCH = 100
TREND_POINTS = 5
NOTES_LOOKBACK_DAYS = 180


@dataclass(frozen=True)
class AgentDeps:
    read_sessions: async_sessionmaker[AsyncSession]
    write_sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    model: StructuredModel | None = None
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    segment_instructions: dict[str, str] = field(default_factory=dict)
    concurrency: int = 8
    # A run that renews no heartbeat for this long is taken for dead (see store.agent_runs).
    run_lease: timedelta = DEFAULT_LEASE
    # Real time for heartbeats, even when `clock` is pinned for a demo.
    wall_clock: Clock = field(default_factory=SystemClock)

    @property
    def method(self) -> str:
        return f"llm:{self.model.name}" if self.model else "rules"


class AccountOutcome(BaseModel):
    account_id: int
    name: str
    assessed: bool
    status: str | None = None
    score: int | None = None
    previous_status: str | None = None
    method: str | None = None
    fallback_reason: str | None = None
    notifications: int = 0
    tasks: int = 0
    drafts: int = 0
    warnings: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


async def agent_principal(deps: AgentDeps) -> Principal:
    """The agent's own user, created on first use (by whichever of several starting workers gets there first)."""
    try:
        async with deps.write_sessions() as session, session.begin():
            if await session.scalar(select(User.id).where(User.email == AGENT_EMAIL)) is None:
                await add_user(session, email=AGENT_EMAIL, name="Assessment agent", role="agent",
                               now=deps.clock.now())
    except (IntegrityError, Conflict):
        pass  # another worker created it at the same moment; it exists now either way
    async with deps.read_sessions() as session:
        return await principal_for(session, email=AGENT_EMAIL)


async def assess_accounts(deps: AgentDeps, account_ids: Sequence[int], *, run_id: int | None = None,
                          force: bool = False, on_done: Callable[[AccountOutcome], None] | None = None,
                          agent: Principal | None = None, fenced: bool = False) -> list[AccountOutcome]:
    """Assess the accounts whose signals changed (all of them with `force`), in chunks, concurrently.

    `fenced` (a shared-cycle worker): write only the accounts run `run_id` still holds, so a worker
    taken for dead and replaced cannot write an account twice.
    """
    agent = agent or await agent_principal(deps)
    fence = run_id if fenced else None
    outcomes: list[AccountOutcome] = []
    for start in range(0, len(account_ids), CHUNK):
        chunk = list(account_ids[start:start + CHUNK])
        outcomes += await _assess_chunk(deps, chunk, agent=agent, run_id=run_id, force=force, on_done=on_done,
                                        fence=fence)
    return outcomes


@dataclass
class _ChunkInputs:
    sets: dict[int, tuple[AccountFacts, SignalSet]]
    priors: dict[int, PriorAssessment]
    notes: dict[int, list[Note]]
    managers: list[int]
    existing_keys: set[str]
    contacts: dict[int, list[Recipient]]
    owners: dict[int, tuple[str, str]]


@dataclass
class _Pending:
    """An assessment decided but not yet written, with what its playbooks call for."""

    row: Assessment
    actions: list[Action]
    drafts: list[tuple[NewDraft, Composed]]
    owner: tuple[str, str]
    outcome: AccountOutcome


async def _load_inputs(deps: AgentDeps, ids: list[int], now: datetime) -> _ChunkInputs:
    async with deps.read_sessions() as session, session.begin():
        sets = await load_signal_sets(session, ids, as_of=now, thresholds=deps.thresholds)
        priors = await prior_assessments(session, ids, window_start=now - timedelta(
            days=deps.thresholds.health_drop_window_days))
        notes: dict[int, list[Note]] = defaultdict(list)
        if deps.model is not None:
            for note in await session.scalars(
                    select(HealthNote).where(HealthNote.account_id.in_(ids),
                                             HealthNote.created_at >= now - timedelta(days=NOTES_LOOKBACK_DAYS))
                    .order_by(HealthNote.created_at.desc())):
                notes[note.account_id].append(Note(created=note.created_at.date().isoformat(), body=note.body))
        managers = list(await session.scalars(select(User.id).where(User.role == "manager", User.active.is_(True))))
        existing_keys = await existing_dedupe_keys(session, ids)
        contacts: dict[int, list[Recipient]] = defaultdict(list)
        for contact in await session.execute(
                select(Contact.id, Contact.account_id, Contact.name, Contact.email, Contact.role,
                       Contact.is_primary_sponsor, Contact.left_company_on).where(Contact.account_id.in_(ids))):
            contacts[contact.account_id].append(Recipient(
                contact_id=contact.id, name=contact.name, email=contact.email or "", role=contact.role,
                is_primary_sponsor=contact.is_primary_sponsor, left_company_on=contact.left_company_on))
        owners = {user_id: (name, email) for user_id, name, email in
                  await session.execute(select(User.id, User.name, User.email))}
    return _ChunkInputs(sets=sets, priors=priors, notes=notes, managers=managers, existing_keys=existing_keys,
                        contacts=contacts, owners=owners)


async def _assess_chunk(deps: AgentDeps, ids: list[int], *, agent: Principal, run_id: int | None, force: bool,
                        on_done: Callable[[AccountOutcome], None] | None, fence: int | None) -> list[AccountOutcome]:
    now = deps.clock.now()
    inputs = await _load_inputs(deps, ids, now)
    limit = asyncio.Semaphore(max(1, deps.concurrency))
    # Model calls run concurrently; writes are batched and queue here, not in the database's busy handler.
    writes = asyncio.Lock()
    pending: list[_Pending] = []
    outcomes: list[AccountOutcome] = []

    async def flush(batch: list[_Pending]) -> None:
        for outcome in await _write(deps, batch, agent=agent, now=now, fence=fence):
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)

    async def one(account_id: int) -> None:
        facts, signal_set = inputs.sets[account_id]
        async with limit:
            decided = await _decide(deps, facts=facts, signal_set=signal_set, prior=inputs.priors.get(account_id),
                                    notes=inputs.notes.get(account_id, []), run_id=run_id, force=force, now=now,
                                    managers=inputs.managers, existing_keys=inputs.existing_keys,
                                    contacts=inputs.contacts.get(account_id, []),
                                    owner=inputs.owners[facts.owner_id])
        if isinstance(decided, AccountOutcome):
            outcomes.append(decided)
            if on_done is not None:
                on_done(decided)
            return
        async with writes:
            pending.append(decided)
            if len(pending) >= WRITE_BATCH:
                batch = pending[:]
                pending.clear()
                await flush(batch)

    await asyncio.gather(*(one(account_id) for account_id in ids if account_id in inputs.sets))
    if pending:
        await flush(pending)
    return outcomes


def input_digest(signal_set: SignalSet, method: str) -> str:
    return hashlib.sha256(f"{signal_set.digest}|{method}".encode()).hexdigest()


def trend(score: int, prior: PriorAssessment | None) -> str:
    if prior is None:
        return "new"
    delta = score - prior.score
    return "improving" if delta >= TREND_POINTS else "declining" if delta <= -TREND_POINTS else "stable"


async def _decide(deps: AgentDeps, *, facts: AccountFacts, signal_set: SignalSet, prior: PriorAssessment | None,
                  notes: list[Note], run_id: int | None, force: bool, now: datetime, managers: list[int],
                  existing_keys: set[str], contacts: list[Recipient], owner: tuple[str, str]
                  ) -> _Pending | AccountOutcome:
    """The assessment and playbook actions for one account, or an outcome saying it was skipped."""
    digest = input_digest(signal_set, deps.method)
    outcome = AccountOutcome(account_id=facts.account_id, name=facts.name, assessed=False,
                             previous_status=prior.status if prior else facts.health_status)
    if not force and prior is not None and prior.input_digest == digest:
        return outcome
    ruled = rules.assess(signal_set)
    status, summary, drivers, actions = ruled.status, ruled.summary, ruled.drivers, ruled.next_actions
    method, fallback, prompt_tokens, completion_tokens = "rules", None, 0, 0
    if deps.model is not None:
        try:
            answer = await model_assessment(deps.model, facts=facts, signal_set=signal_set, rules=ruled, notes=notes,
                                            segment_instructions=deps.segment_instructions.get(facts.segment))
            status, summary, drivers, actions = answer.status, answer.summary, answer.drivers, answer.next_actions
            method, prompt_tokens, completion_tokens = deps.method, answer.prompt_tokens, answer.completion_tokens
        except ModelFailure as failure:
            fallback = failure.reason
            prompt_tokens, completion_tokens = failure.prompt_tokens, failure.completion_tokens
    row = Assessment(account_id=facts.account_id, run_id=run_id, created_at=now, method=method,
                     fallback_reason=fallback, status=status, score=ruled.score, rules_score=ruled.score,
                     trend=trend(ruled.score, prior),
                     dimensions={k: v.model_dump() for k, v in ruled.dimensions.items()},
                     summary=summary, drivers=[d.model_dump() for d in drivers], next_actions=actions,
                     signals=[s.model_dump(mode="json", exclude={"digest_value"}) for s in signal_set.signals],
                     input_digest=digest, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    planned = plan_playbooks(PlaybookInputs(facts=facts, signals=signal_set, status=status, score=ruled.score,
                                            prior=prior, manager_ids=managers, thresholds=deps.thresholds, now=now,
                                            existing_keys=existing_keys))
    warnings = sum(1 for a in planned if isinstance(a, NewNotification) and a.playbook in WARNING_PLAYBOOKS
                   and a.user_id == facts.owner_id)
    context = DraftContext(facts=facts, signals=signal_set, owner_name=owner[0], owner_email=owner[1],
                           contacts=contacts, crm_lines=[note.body for note in notes[:3]])
    drafts = []
    for action in planned:
        if isinstance(action, NewDraft):
            composed = await compose(action.kind, context, model=deps.model)
            if composed is not None:
                drafts.append((action, composed))
                prompt_tokens += composed.prompt_tokens
                completion_tokens += composed.completion_tokens
    return _Pending(row=row, actions=planned, drafts=drafts, owner=owner, outcome=outcome.model_copy(update={
        "assessed": True, "status": status, "score": ruled.score, "method": method, "fallback_reason": fallback,
        "notifications": sum(1 for a in planned if isinstance(a, NewNotification)),
        "tasks": sum(1 for a in planned if isinstance(a, NewTask)), "warnings": warnings, "drafts": len(drafts),
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}))


async def _write(deps: AgentDeps, batch: list[_Pending], *, agent: Principal, now: datetime,
                 fence: int | None) -> list[AccountOutcome]:
    """Write a batch in one transaction; if that fails, write its accounts one by one so one bad account
    costs only itself. Each account's assessment, tasks and notifications commit together either way."""
    try:
        written = await _write_transaction(deps, batch, agent=agent, now=now, fence=fence)
        return [_written_or_not(pending, written) for pending in batch]
    except (DBAPIError, CsdeskError):
        if len(batch) == 1:
            raise
    outcomes = []
    for pending in batch:
        try:
            written = await _write_transaction(deps, [pending], agent=agent, now=now, fence=fence)
            outcomes.append(_written_or_not(pending, written))
        except (DBAPIError, CsdeskError) as exc:
            # Counted, logged and retried by the next run; the cycle goes on.
            logger.exception("writing the assessment of account %s failed", pending.row.account_id)
            outcomes.append(pending.outcome.model_copy(update={
                "assessed": False, "notifications": 0, "tasks": 0, "warnings": 0, "drafts": 0,
                "error": f"{type(exc).__name__}: {exc}"[:300]}))
    return outcomes


def _written_or_not(pending: _Pending, written: set[int]) -> AccountOutcome:
    if pending.row.account_id in written:
        return pending.outcome
    # Another worker took the account over (this one was taken for dead): its write is that worker's.
    return pending.outcome.model_copy(update={"assessed": False, "notifications": 0, "tasks": 0, "warnings": 0,
                                              "drafts": 0})


async def _write_transaction(deps: AgentDeps, batch: list[_Pending], *, agent: Principal, now: datetime,
                             fence: int | None) -> set[int]:
    """Write the batch; returns the accounts written (with a `fence`, those that run still holds)."""
    async with deps.write_sessions() as session, session.begin():
        if fence is not None:
            held = await still_held(session, run_id=fence, account_ids=[p.row.account_id for p in batch])
            batch = [pending for pending in batch if pending.row.account_id in held]
        # Fresh rows each attempt: a failed transaction leaves its objects unusable.
        rows = [_copy(pending.row) for pending in batch]
        await save_assessments(session, rows, principal=agent.email)
        tasks, drafts = [], []
        risks: dict[int, str] = {}
        for pending in batch:
            for action in pending.actions:
                if isinstance(action, NewTask):
                    tasks.append(add_agent_task(session, principal=agent, account_id=action.account_id,
                                                assignee_id=action.assignee_id, title=action.title,
                                                due_date=action.due, priority=action.priority,
                                                dedupe_key=action.dedupe_key, now=now))
                elif isinstance(action, NewNotification):
                    add_notification(session, user_id=action.user_id, account_id=action.account_id,
                                     kind=action.kind, message=action.message, now=now,
                                     dedupe_key=action.dedupe_key)
                elif isinstance(action, MarkRisk):
                    risks.setdefault(action.account_id, action.reason)
            for action, composed in pending.drafts:
                drafts.append(add_agent_draft(
                    session, principal=agent, now=now, account_id=action.account_id, kind=composed.kind,
                    contact_id=composed.recipient_id, to_name=composed.recipient_name,
                    to_email=composed.recipient_email, from_name=pending.owner[0], from_email=pending.owner[1],
                    subject=composed.subject, body=composed.body, reasons=list(action.reasons),
                    method=composed.method, fallback_reason=composed.fallback_reason,
                    prompt_tokens=composed.prompt_tokens, completion_tokens=composed.completion_tokens,
                    dedupe_key=action.dedupe_key))
        await mark_churn_risks(session, risks)
        await session.flush()
        audit_new_tasks(session, tasks, principal=agent, now=now)
        audit_new_drafts(session, drafts, principal=agent, now=now)
    return {pending.row.account_id for pending in batch}


def _copy(row: Assessment) -> Assessment:
    columns = {column.key: getattr(row, column.key) for column in Assessment.__table__.columns if column.key != "id"}
    return Assessment(**columns)


async def assess_on_request(deps: AgentDeps, account_id: int) -> AssessmentOut:
    """Re-assess one account now, whatever its digest says, and return the stored assessment.

    Raises:
        NotFound: no such account. InvalidInput: it is not active. Conflict: the write failed.
    """
    async with deps.read_sessions() as session:
        account = await load_account(session, account_id)
    if account.status != "active":
        raise InvalidInput(f"account {account_id} is {account.status}; only active accounts are assessed")
    outcomes = await assess_accounts(deps, [account_id], force=True)
    if outcomes and outcomes[0].error:
        raise Conflict(f"the assessment could not be saved ({outcomes[0].error}); try again")
    async with deps.read_sessions() as session:
        assessment = await latest_assessment(session, account_id)
    assert assessment is not None
    return assessment
