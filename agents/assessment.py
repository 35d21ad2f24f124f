"""The assessment agent: signals → rules score → (optionally) the model's reading → a stored assessment,
with its playbooks, one account per transaction."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agents import rules
from agents.deps import AgentDeps
from agents.llm import ModelFailure
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
from store.auth.principals import Principal
from store.auth.users import add_user, principal_for
from store.crm.accounts import load_account
from store.crm.drafts import add_agent_draft, audit_new_drafts
from store.crm.notifications import add_notification
from store.crm.tasks import add_agent_task, audit_new_tasks, existing_dedupe_keys
from store.database.engine import core_rows
from store.database.models import Assessment, Contact, HealthNote, User
from store.errors import Conflict, CsdeskError, InvalidInput
from store.health.assessments import (
    PriorAssessment,
    latest_assessment,
    mark_churn_risks,
    prior_assessments,
    save_assessments,
)
from store.health.model_source import record_model_in_force
from store.health.signal_facts import AccountFacts
from store.health.signals import SignalSet, load_signal_sets
from store.runs.agent_runs import still_held
from store.schemas import AssessmentOut

logger = logging.getLogger(__name__)

AGENT_EMAIL = "assessment-agent@csdesk.invalid"
CHUNK = 500
# How many chunks' inputs are read ahead of the one being worked on (see assess_accounts).
LOADS_AHEAD = 1
WRITE_BATCH = 100
TREND_POINTS = 5
NOTES_LOOKBACK_DAYS = 180
# What a chunk's playbooks and drafts read beside the signals, each built once and bound per call.
MANAGERS = select(User.id).where(User.role == "manager", User.active.is_(True))
CONTACTS = select(Contact.id, Contact.account_id, Contact.name, Contact.email, Contact.role, Contact.is_primary_sponsor,
                  Contact.left_company_on).where(Contact.account_id.in_(bindparam("ids", expanding=True)))
OWNERS = select(User.id, User.name, User.email).where(User.id.in_(bindparam("ids", expanding=True)))


class AccountOutcome(BaseModel):
    account_id: int
    name: str
    assessed: bool
    status: str | None = None
    score: float | None = None
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
    """The agent's own user, created on first use (by whichever of several starting workers gets there first);
    and, before it assesses anything, an audit event for the health model it uses when that model is new."""
    try:
        async with deps.write_sessions() as session, session.begin():
            if await session.scalar(select(User.id).where(User.email == AGENT_EMAIL)) is None:
                await add_user(session, email=AGENT_EMAIL, name="Assessment agent", role="agent",
                               now=deps.clock.now())
    except (IntegrityError, Conflict):
        pass  # another worker created it at the same moment; it exists now either way
    async with deps.write_sessions() as session, session.begin():
        await record_model_in_force(session, deps.health_model, at=deps.clock.now(), principal=AGENT_EMAIL)
    async with deps.read_sessions() as session:
        return await principal_for(session, email=AGENT_EMAIL)


async def assess_accounts(deps: AgentDeps, account_ids: Sequence[int], *, run_id: int | None = None,
                          force: bool = False, on_done: Callable[[AccountOutcome], None] | None = None,
                          agent: Principal | None = None, fenced: bool = False) -> list[AccountOutcome]:
    """Assess the accounts whose signals changed (all of them with `force`), and return every account's
    outcome (see assess_each, which keeps none)."""
    outcomes: list[AccountOutcome] = []

    def collect(outcome: AccountOutcome) -> None:
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)

    await assess_each(deps, account_ids, run_id=run_id, force=force, on_done=collect, agent=agent, fenced=fenced)
    return outcomes


async def assess_each(deps: AgentDeps, account_ids: Sequence[int], *, on_done: Callable[[AccountOutcome], None],
                      run_id: int | None = None, force: bool = False, agent: Principal | None = None,
                      fenced: bool = False) -> None:
    """Assess the accounts whose signals changed (all of them with `force`), in chunks, concurrently,
    handing each account's outcome to `on_done` as it is decided.

    `fenced` (a shared-cycle worker): write only the accounts run `run_id` still holds, so a worker
    taken for dead and replaced cannot write an account twice.
    """
    agent = agent or await agent_principal(deps)
    fence = run_id if fenced else None
    chunks = [list(account_ids[start:start + CHUNK]) for start in range(0, len(account_ids), CHUNK)]
    # Each chunk's inputs are read while the chunk before is worked on, so the database's thread and the
    # event loop's work at the same time: alone, each sat idle while the other worked, and in an unchanged
    # re-run of a large portfolio the loop waited on reads for a fifth of the cycle.
    loading: deque[asyncio.Task[_ChunkInputs]] = deque()
    try:
        for index in range(len(chunks)):
            while len(loading) < LOADS_AHEAD + 1 and index + len(loading) < len(chunks):
                loading.append(asyncio.create_task(_load_inputs(deps, chunks[index + len(loading)], force=force)))
            inputs = await loading.popleft()
            await _assess_chunk(deps, inputs, agent=agent, run_id=run_id, on_done=on_done, fence=fence)
    finally:
        for task in loading:  # cut short: no read may outlive the call and hold its connection
            task.cancel()
        await asyncio.gather(*loading, return_exceptions=True)


@dataclass
class _ChunkInputs:
    """What a chunk of accounts is assessed from, read in one transaction as of `now`."""

    now: datetime
    sets: dict[int, tuple[AccountFacts, SignalSet]]
    priors: dict[int, PriorAssessment]
    digests: dict[int, str]
    # The accounts to assess: their inputs changed since their latest assessment (all of them, forced).
    changed: set[int]
    # What playbooks and drafts read, for the changed accounts only.
    notes: dict[int, list[Note]] = field(default_factory=dict)
    managers: list[int] = field(default_factory=list)
    existing_keys: set[str] = field(default_factory=set)
    contacts: dict[int, list[Recipient]] = field(default_factory=dict)
    owners: dict[int, tuple[str, str]] = field(default_factory=dict)


@dataclass
class _Pending:
    """An assessment decided but not yet written, with what its playbooks call for."""

    row: Assessment
    actions: list[Action]
    drafts: list[tuple[NewDraft, Composed]]
    owner: tuple[str, str]
    outcome: AccountOutcome


async def _load_inputs(deps: AgentDeps, ids: list[int], *, force: bool) -> _ChunkInputs:
    now = deps.clock.now()
    async with deps.read_sessions() as session, session.begin():
        sets = await load_signal_sets(session, ids, as_of=now, model=deps.health_model)
        priors = await prior_assessments(session, ids, window_start=now - timedelta(
            days=deps.health_model.base.thresholds.health_drop_window_days))
        digests = {account_id: input_digest(signal_set, deps.method) for account_id, (_, signal_set) in sets.items()}
        changed = {account_id for account_id, digest in digests.items()
                   if force or (prior := priors.get(account_id)) is None or prior.input_digest != digest}
        inputs = _ChunkInputs(now=now, sets=sets, priors=priors, digests=digests, changed=changed)
        if changed:
            # In the same snapshot, and only for the accounts to assess: an unchanged re-run reads none of it.
            await _load_playbook_inputs(deps, session, inputs)
    return inputs


async def _load_playbook_inputs(deps: AgentDeps, session: AsyncSession, inputs: _ChunkInputs) -> None:
    ids = sorted(inputs.changed)
    if deps.model is not None:
        notes: dict[int, list[Note]] = defaultdict(list)
        for note in await session.scalars(
                select(HealthNote).where(HealthNote.account_id.in_(ids),
                                         HealthNote.created_at >= inputs.now - timedelta(days=NOTES_LOOKBACK_DAYS))
                .order_by(HealthNote.created_at.desc())):
            notes[note.account_id].append(Note(created=note.created_at.date().isoformat(), body=note.body))
        inputs.notes = notes
    inputs.managers = [user_id for user_id, in await core_rows(session, MANAGERS, {})]
    inputs.existing_keys = await existing_dedupe_keys(session, ids)
    contacts: dict[int, list[Recipient]] = defaultdict(list)
    for contact in await core_rows(session, CONTACTS, {"ids": ids}):
        contacts[contact.account_id].append(Recipient(
            contact_id=contact.id, name=contact.name, email=contact.email or "", role=contact.role,
            is_primary_sponsor=contact.is_primary_sponsor, left_company_on=contact.left_company_on))
    inputs.contacts = contacts
    owner_ids = sorted({inputs.sets[account_id][0].owner_id for account_id in ids})
    inputs.owners = {user_id: (name, email)
                     for user_id, name, email in await core_rows(session, OWNERS, {"ids": owner_ids})}


async def _assess_chunk(deps: AgentDeps, inputs: _ChunkInputs, *, agent: Principal, run_id: int | None,
                        on_done: Callable[[AccountOutcome], None], fence: int | None) -> None:
    now = inputs.now
    limit = asyncio.Semaphore(max(1, deps.concurrency))
    # Model calls run concurrently; writes are batched and queue here, not in the database's busy handler.
    writes = asyncio.Lock()
    pending: list[_Pending] = []

    async def flush(batch: list[_Pending]) -> None:
        for outcome in await _write(deps, batch, agent=agent, now=now, fence=fence):
            on_done(outcome)

    async def one(account_id: int) -> None:
        facts, signal_set = inputs.sets[account_id]
        async with limit:
            decided = await _decide(deps, facts=facts, signal_set=signal_set, prior=inputs.priors.get(account_id),
                                    digest=inputs.digests[account_id], notes=inputs.notes.get(account_id, []),
                                    run_id=run_id, now=now, managers=inputs.managers,
                                    existing_keys=inputs.existing_keys, contacts=inputs.contacts.get(account_id, []),
                                    owner=inputs.owners[facts.owner_id])
        async with writes:
            pending.append(decided)
            if len(pending) >= WRITE_BATCH:
                batch = pending[:]
                pending.clear()
                await flush(batch)

    for account_id, (facts, _) in inputs.sets.items():
        if account_id not in inputs.changed:
            prior = inputs.priors.get(account_id)
            on_done(AccountOutcome(account_id=account_id, name=facts.name, assessed=False,
                                   previous_status=prior.status if prior else facts.health_status))
    await asyncio.gather(*(one(account_id) for account_id in inputs.sets if account_id in inputs.changed))
    if pending:
        await flush(pending)


def input_digest(signal_set: SignalSet, method: str) -> str:
    return hashlib.sha256(f"{signal_set.digest}|{method}".encode()).hexdigest()


def trend(score: float, prior: PriorAssessment | None) -> str:
    if prior is None:
        return "new"
    delta = score - prior.score
    return "improving" if delta >= TREND_POINTS else "declining" if delta <= -TREND_POINTS else "stable"


async def _decide(deps: AgentDeps, *, facts: AccountFacts, signal_set: SignalSet, prior: PriorAssessment | None,
                  digest: str, notes: list[Note], run_id: int | None, now: datetime, managers: list[int],
                  existing_keys: set[str], contacts: list[Recipient], owner: tuple[str, str]) -> _Pending:
    """The assessment and playbook actions for one account, whose inputs hash to `digest`."""
    outcome = AccountOutcome(account_id=facts.account_id, name=facts.name, assessed=False,
                             previous_status=prior.status if prior else facts.health_status)
    segment_model = deps.health_model.for_segment(facts.segment)
    ruled = rules.assess(signal_set, segment_model)
    status, summary, drivers, actions = ruled.status, ruled.summary, ruled.drivers, ruled.next_actions
    method, fallback, prompt_tokens, completion_tokens = deps.rules_method, None, 0, 0
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
                     confidence=ruled.coverage.confidence,
                     coverage={**ruled.coverage.model_dump(), "model": ruled.model_id,
                               "dimensions": {k: v.coverage for k, v in ruled.dimensions.items()}},
                     input_digest=digest, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    planned = plan_playbooks(PlaybookInputs(facts=facts, signals=signal_set, status=status, score=ruled.score,
                                            prior=prior, manager_ids=managers,
                                            thresholds=segment_model.thresholds, now=now,
                                            existing_keys=existing_keys))
    warnings = sum(1 for a in planned if isinstance(a, NewNotification) and a.playbook in WARNING_PLAYBOOKS
                   and a.user_id == facts.owner_id)
    context = DraftContext(facts=facts, signals=signal_set, owner_name=owner[0], owner_email=owner[1],
                           contacts=contacts, crm_lines=[note.body for note in notes[:3]],
                           sender_domains=deps.sender_domains)
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
                    dedupe_key=action.dedupe_key, grounding=composed.grounding))
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
