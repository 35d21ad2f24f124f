"""A realistic demo portfolio: accounts whose signals tell different retention stories.

Deterministic for a given size and day, so a demo and its screenshots are reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from store.auth import audit
from store.crm.renewals import add_months
from store.crm.revenue import ZERO, event_kind
from store.database.models import (
    Account,
    Assessment,
    AuditEvent,
    Base,
    Contact,
    HealthNote,
    PlanMilestone,
    PlanOutcome,
    Renewal,
    RevenueEvent,
    SuccessPlan,
    SupportTicket,
    SurveyResponse,
    Task,
    Touchpoint,
    UsageSnapshot,
    User,
    insert_defaults,
)

DEMO_USERS = (
    ("morgan.lee@example.com", "Morgan Lee", "manager"),
    ("ana.garcia@example.com", "Ana Garcia", "csm"),
    ("ben.okafor@example.com", "Ben Okafor", "csm"),
    ("chloe.martin@example.com", "Chloe Martin", "csm"),
    ("riley.chen@example.com", "Riley Chen", "reviewer"),
)
SEEDER = "demo-seed"
# Share of the portfolio each story gets; the rest are steady accounts.
STORIES = (("thriving", 0.30), ("declining", 0.15), ("sponsor_left", 0.08), ("renewal_at_risk", 0.10),
           ("onboarding_stalled", 0.08), ("steady", 0.29))
# Share of seats in active use, by story: the seat-utilisation signal reads it back.
UTILISATION_BY_STORY = {"thriving": (0.85, 0.97), "steady": (0.55, 0.75), "declining": (0.70, 0.85),
                        "sponsor_left": (0.6, 0.8), "renewal_at_risk": (0.5, 0.7), "onboarding_stalled": (0.10, 0.25)}
FEATURES_BY_STORY = {"thriving": (7, 10), "steady": (3, 5), "declining": (5, 7), "sponsor_left": (4, 6),
                     "renewal_at_risk": (3, 5), "onboarding_stalled": (1, 2)}
_NAME_FIRST = ("Northwind", "Bluefin", "Cobalt", "Evergreen", "Granite", "Harbor", "Ironwood", "Juniper", "Keystone",
               "Lumen", "Meridian", "Nimbus", "Orchard", "Pinnacle", "Quarry", "Redwood", "Summit", "Tidewater",
               "Upland", "Vantage", "Willow", "Xenon", "Yellowstone", "Zephyr", "Alder", "Beacon", "Cascade",
               "Driftwood", "Ember", "Fjord")
_NAME_SECOND = ("Logistics", "Health", "Analytics", "Foods", "Robotics", "Insurance", "Media", "Energy", "Labs",
                "Capital", "Retail", "Systems", "Biotech", "Freight", "Learning")
_PEOPLE = ("Avery Brooks", "Jordan Kim", "Taylor Nguyen", "Casey Romero", "Riley Shah", "Morgan Diaz", "Quinn Fischer",
           "Jamie Novak", "Drew Castillo", "Parker Wells", "Skyler Haas", "Reese Moreno", "Emerson Cole",
           "Hayden Park", "Rowan Ito", "Sasha Petrov", "Dana Lindqvist", "Kai Mensah", "Noa Levi", "Luca Bianchi")


# Accounts written per batch of multi-row INSERTs: large enough to amortise round trips, small enough
# to keep memory flat at 100,000 accounts.
SEED_CHUNK = 1000
# A CSM's book in a large demo portfolio: more accounts mean more CSMs, not bigger books.
ACCOUNTS_PER_CSM = 80
CHURNED = "churned"
# Accounts lost in the last year, seeded beside the active ones so that retention figures have churn to show.
CHURNED_SHARE = 1 / 16
# How the account's health read before the first run, by story: (a month ago, a week ago).
PRIOR_HEALTH = {"thriving": (("strongly_thriving", 88), ("strongly_thriving", 87)),
                "steady": (("actively_engaged", 74), ("actively_engaged", 72)),
                "declining": (("actively_engaged", 72), ("neutral", 60)),
                "sponsor_left": (("actively_engaged", 73), ("neutral", 58)),
                "renewal_at_risk": (("needs_attention", 46), ("needs_attention", 42)),
                "onboarding_stalled": (("neutral", 56), ("needs_attention", 44))}
PRIOR_HEALTH_DAYS = (35, 9)


def churned_count(active_accounts: int) -> int:
    return max(1, round(active_accounts * CHURNED_SHARE))


@dataclass(frozen=True)
class SeedResult:
    created: bool
    accounts: int
    users: int
    churned: int = 0


async def seed_demo_portfolio(session: AsyncSession, *, today: date, accounts: int = 80, seed: int = 7,
                              on_progress: Callable[[int, int], None] | None = None) -> SeedResult:
    """Seed the demo users and portfolio unless it is already there (safe to run again); `on_progress`
    hears (accounts written, accounts to write) after each chunk."""
    existing = await session.scalar(select(func.count()).select_from(Account))
    users = await _ensure_users(session, today)
    if existing:
        return SeedResult(created=False, accounts=existing, users=len(users))
    rng = random.Random(seed)
    now = datetime.combine(today, time(12, 0), tzinfo=UTC)
    csms = [user for user in users if user.role == "csm"] + await _more_csms(session, accounts, now)
    plan = [(index, story) for index, story in enumerate(_story_plan(accounts, rng))]
    plan += [(index, CHURNED) for index in range(accounts, accounts + churned_count(accounts))]
    ids = _Ids(account=await _last_id(session, Account), renewal=await _last_id(session, Renewal),
               contact=await _last_id(session, Contact), plan=await _last_id(session, SuccessPlan))
    for start in range(0, len(plan), SEED_CHUNK):
        built = [_build_churned_account(rng=rng, index=index, owner=csms[index % len(csms)], today=today, now=now)
                 if story == CHURNED else
                 _build_account(rng=rng, index=index, story=story, owner=csms[index % len(csms)], today=today,
                                now=now)
                 for index, story in plan[start:start + SEED_CHUNK]]
        await _write(session, built, ids, now)
        if on_progress is not None:
            on_progress(min(start + SEED_CHUNK, len(plan)), len(plan))
    await _advance_id_sequences(session, (Account, Renewal, Contact, SuccessPlan))
    return SeedResult(created=True, accounts=accounts, users=len(users), churned=churned_count(accounts))


@dataclass
class _Built:
    """One account and everything hanging off it, before any of it has an id."""

    account: Account
    rows: list[Base]
    history: list[tuple[Renewal | None, RevenueEvent]]
    # Which person each touchpoint was with, linked once the contacts have ids.
    links: list[tuple[Touchpoint, Contact]] = field(default_factory=list)


@dataclass
class _Ids:
    """The last id given out per table: ids are assigned here so that children can point at parents
    without a round trip per row."""

    account: int
    renewal: int
    contact: int
    plan: int


async def _last_id(session: AsyncSession, model: type[Base]) -> int:
    return (await session.scalar(select(func.max(model.id)))) or 0


async def _advance_id_sequences(session: AsyncSession, models: tuple[type[Base], ...]) -> None:
    """PostgreSQL hands out ids from a sequence, which explicit ids do not move; move it past them."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        table = model.__tablename__
        await session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                   f"(SELECT coalesce(max(id), 1) FROM {table}))"))


async def _write(session: AsyncSession, built: list[_Built], ids: _Ids, now: datetime) -> None:
    """A chunk of accounts as one multi-row INSERT per table (executemany), not a statement per row."""
    rows: dict[type[Base], list[dict[str, Any]]] = {Account: [], Renewal: []}
    for item in built:
        ids.account += 1
        item.account.id = ids.account
        rows[Account].append(_values(item.account))
        for row in item.rows:
            row.account_id = ids.account
            if isinstance(row, Renewal):
                ids.renewal += 1
                row.id = ids.renewal
            elif isinstance(row, Contact):
                ids.contact += 1
                row.id = ids.contact
            elif isinstance(row, SuccessPlan):
                ids.plan += 1
                row.id = ids.plan
        plan_id = next((row.id for row in item.rows if isinstance(row, SuccessPlan)), None)
        for row in item.rows:
            if isinstance(row, PlanOutcome | PlanMilestone):
                row.plan_id = plan_id
        for touchpoint, contact in item.links:
            touchpoint.contact_id = contact.id
        for row in item.rows:
            rows.setdefault(type(row), []).append(_values(row))
        for renewal, event in item.history:
            event.account_id = ids.account
            event.renewal_id = renewal.id if renewal is not None else None
            rows.setdefault(RevenueEvent, []).append(_values(event))
        rows.setdefault(AuditEvent, []).append({"at": now, "principal": SEEDER, "action": "account.seed",
                                                "entity": "account", "entity_id": ids.account})
    for model, values in rows.items():
        table = model.__table__
        await session.execute(table.insert(), _complete(table, values))


def _values(row: Base) -> dict[str, Any]:
    """The column values set on a transient row."""
    return {key: value for key, value in vars(row).items() if not key.startswith("_")}


def _complete(table: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the same keys (what executemany needs), filled from the columns' scalar defaults."""
    defaults = insert_defaults(table)
    keys = [key for key in defaults if key != "id" or any("id" in row for row in rows)]
    return [{key: row.get(key, defaults[key]) for key in keys} for row in rows]


async def _ensure_users(session: AsyncSession, today: date) -> list[User]:
    users = []
    for email, name, role in DEMO_USERS:
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, name=name, role=role, active=True,
                        created_at=datetime.combine(today, time(0), tzinfo=UTC))
            session.add(user)
            await session.flush()
            audit.record(session, principal=SEEDER, action="user.create", entity="user", entity_id=user.id,
                         at=user.created_at, after=audit.snapshot(user))
        users.append(user)
    return users


async def _more_csms(session: AsyncSession, accounts: int, now: datetime) -> list[User]:
    """CSMs beyond the three named ones, so that a large portfolio has books of a real size."""
    wanted = max(len([user for user in DEMO_USERS if user[2] == "csm"]), -(-accounts // ACCOUNTS_PER_CSM))
    existing = set(await session.scalars(select(User.email).where(User.email.like("csm-%@example.com"))))
    extra = [{"email": email, "name": f"CSM {number:04d}", "role": "csm", "active": True, "created_at": now}
             for number in range(4, wanted + 1) if (email := f"csm-{number:04d}@example.com") not in existing]
    if extra:
        await session.execute(User.__table__.insert(), extra)
    made = list(await session.scalars(select(User).where(User.email.like("csm-%@example.com")).order_by(User.id)))
    created = [user for user in made if user.email not in existing]
    if created:
        await session.execute(AuditEvent.__table__.insert(), [
            {"at": now, "principal": SEEDER, "action": "user.create", "entity": "user", "entity_id": user.id,
             "before": None, "after": {"email": user.email, "role": user.role}} for user in created])
    return made[:wanted - 3]


def _story_plan(count: int, rng: random.Random) -> list[str]:
    plan = [story for story, share in STORIES for _ in range(round(share * count))]
    plan = (plan + ["steady"] * count)[:count]
    rng.shuffle(plan)
    return plan


def _company_name(index: int) -> str:
    first = _NAME_FIRST[index % len(_NAME_FIRST)]
    second = _NAME_SECOND[(index // len(_NAME_FIRST) + index * 7) % len(_NAME_SECOND)]
    suffix = "" if index < len(_NAME_FIRST) * len(_NAME_SECOND) else f" {index}"
    return f"{first} {second}{suffix}"


def _build_account(*, rng: random.Random, index: int, story: str, owner: User, today: date,
                   now: datetime) -> _Built:
    name = _company_name(index)
    segment = rng.choices(("enterprise", "mid_market", "smb"), weights=(2, 4, 4))[0]
    base = {"enterprise": 180_000, "mid_market": 60_000, "smb": 15_000}[segment]
    arr = Decimal(int(base * rng.uniform(0.5, 2.2)) // 100 * 100)
    seats = int(arr / Decimal(rng.choice((400, 600, 900))))
    contract_months_ago = 2 if story == "onboarding_stalled" else rng.randint(4, 30)
    contract_start = add_months(today, -contract_months_ago) - timedelta(days=rng.randint(0, 27))
    renewal_date = _next_anniversary(contract_start, today)
    if story == "renewal_at_risk":
        renewal_date = today + timedelta(days=rng.randint(20, 85))
    account = Account(
        name=name, name_lower=name.lower(), domain=name.lower().replace(" ", "") + ".example", owner_id=owner.id,
        segment=segment, lifecycle_stage=_stage_for(story, contract_months_ago), arr=arr, currency="USD",
        seats=max(seats, 5), contract_start=contract_start, renewal_date=renewal_date,
        onboarding_status=("stalled" if story == "onboarding_stalled"
                           else "completed" if contract_months_ago > 3 else "in_progress"),
        churn_risk_reason=_risk_reason(story), status="active", created_at=now, updated_at=now, version=1,
    )
    people = rng.sample(_PEOPLE, 4)
    domain = account.domain
    sponsor_left_on = today - timedelta(days=rng.randint(10, 45)) if story == "sponsor_left" else None
    contacts = [
        Contact(name=people[0], email=_email(people[0], domain), title="VP Operations", role="executive_sponsor",
                is_primary_sponsor=True, left_company_on=sponsor_left_on, created_at=now, updated_at=now),
        Contact(name=people[1], email=_email(people[1], domain), title="Operations Manager", role="champion",
                created_at=now, updated_at=now),
        Contact(name=people[2], email=_email(people[2], domain), title="Finance Director", role="budget_holder",
                created_at=now, updated_at=now),
        Contact(name=people[3], email=_email(people[3], domain), title="Analyst", role="user",
                created_at=now, updated_at=now),
    ]
    links = _touchpoints(story, rng, now, owner, contacts)
    rows = [*contacts, *_success_plan(story, rng, today, now, owner), _renewal(account, story, rng, now),
            *_usage(account, story, rng, today),
            *(touchpoint for touchpoint, _ in links), *_notes(story, rng, now, owner), *_tickets(story, rng, now),
            *_surveys(story, rng, now), *_tasks(account, story, rng, today, now, owner),
            *_prior_health(account, story, now)]
    history = _revenue_history(account, story, today, now)
    rows += [renewal for renewal, _event in history if renewal is not None]
    return _Built(account=account, rows=rows, history=history, links=links)


def _build_churned_account(*, rng: random.Random, index: int, owner: User, today: date, now: datetime) -> _Built:
    """An account lost at a renewal in the last year: its history, sponsor and the closed-lost renewal."""
    name = _company_name(index)
    arr = Decimal(int(60_000 * rng.uniform(0.3, 2.0)) // 100 * 100)
    churned_on = today - timedelta(days=rng.randint(20, 330))
    contract_start = add_months(churned_on, -rng.choice((12, 24)))
    account = Account(
        name=name, name_lower=name.lower(), domain=name.lower().replace(" ", "") + ".example", owner_id=owner.id,
        segment=rng.choice(("mid_market", "smb")), lifecycle_stage="mature", arr=arr, currency="USD",
        seats=max(5, int(arr / 600)), contract_start=contract_start, renewal_date=churned_on,
        onboarding_status="completed", churn_risk_reason="Lost at renewal: moved to a cheaper tool.",
        status="churned", churned_on=churned_on, created_at=now, updated_at=now, version=1,
    )
    sponsor = rng.choice(_PEOPLE)
    lost = Renewal(owner_id=owner.id, due_date=churned_on, currency="USD", target_amount=arr, forecast_amount=ZERO,
                   final_amount=ZERO, stage="closed_lost", booking_type="churn", closed_on=churned_on,
                   created_at=now, updated_at=now)
    rows: list[Base] = [Contact(name=sponsor, email=_email(sponsor, account.domain), title="VP Operations",
                                role="executive_sponsor", is_primary_sponsor=True, created_at=now, updated_at=now),
                        lost]
    return _Built(account=account, rows=rows, history=[(None, _event(account, contract_start, ZERO, arr, now)),
                                                       (lost, _event(account, churned_on, arr, ZERO, now))])


def _revenue_history(account: Account, story: str, today: date,
                     now: datetime) -> list[tuple[Renewal | None, RevenueEvent]]:
    """The account's ARR since its contract began: renewals closed at each past anniversary, growing
    for thriving accounts and shrinking for declining ones, flat otherwise."""
    assert account.contract_start is not None
    step = {"thriving": Decimal("1.15"), "declining": Decimal("0.9")}.get(story, Decimal(1))
    anniversaries = []
    months = 12
    while add_months(account.contract_start, months) <= today:
        anniversaries.append(add_months(account.contract_start, months))
        months += 12
    amount = account.arr
    amounts = [amount]
    for _ in anniversaries:
        amount = (amount / step).quantize(Decimal("1"), rounding=ROUND_HALF_UP) // 100 * 100
        amounts.insert(0, amount)
    history: list[tuple[Renewal | None, RevenueEvent]] = [(None, _event(account, account.contract_start, ZERO,
                                                                        amounts[0], now))]
    for due, before, after in zip(anniversaries, amounts[:-1], amounts[1:], strict=True):
        closed_on = due - timedelta(days=7)
        renewal = Renewal(owner_id=account.owner_id, due_date=due, currency=account.currency, target_amount=before,
                          forecast_amount=after, final_amount=after, stage="closed_won",
                          booking_type="expansion" if after > before else "contraction" if after < before else "flat",
                          closed_on=closed_on, created_at=now, updated_at=now)
        history.append((renewal, _event(account, closed_on, before, after, now)))
    return history


def _event(account: Account, on: date, before: Decimal, after: Decimal, now: datetime) -> RevenueEvent:
    return RevenueEvent(account_id=account.id, occurred_on=on, kind=event_kind(before, after),
                        currency=account.currency, arr_before=before, arr_after=after, source="demo", created_at=now)


def _prior_health(account: Account, story: str, now: datetime) -> list[Assessment]:
    """The status the account had before csdesk's first run, so that a month ago and last week have figures."""
    rows = []
    for days, (status, score) in zip(PRIOR_HEALTH_DAYS, PRIOR_HEALTH[story], strict=True):
        if account.contract_start is not None and account.contract_start > (now - timedelta(days=days)).date():
            continue
        rows.append(Assessment(created_at=now - timedelta(days=days), method="demo-history", status=status,
                               score=score, rules_score=score, trend="stable", dimensions={},
                               summary="Demo history: the health this account had before the first run.",
                               drivers=[], next_actions=[], signals=[], input_digest="demo-history"))
    return rows


def _email(person: str, domain: str | None) -> str:
    return person.lower().replace(" ", ".") + "@" + (domain or "example.com")


def _next_anniversary(contract_start: date, today: date) -> date:
    months = 12
    while add_months(contract_start, months) <= today:
        months += 12
    return add_months(contract_start, months)


def _stage_for(story: str, months: int) -> str:
    if story == "onboarding_stalled" or months <= 3:
        return "onboarding"
    return "adoption" if months <= 9 else "growth" if story == "thriving" else "mature"


def _risk_reason(story: str) -> str | None:
    return {"declining": "Usage sliding for three months; champion less responsive.",
            "sponsor_left": "Executive sponsor left; no replacement identified.",
            "renewal_at_risk": "Renewal close with open escalations and a detractor score.",
            "onboarding_stalled": "Onboarding stalled: integration blocked on customer IT."}.get(story)


def _renewal(account: Account, story: str, rng: random.Random, now: datetime) -> Renewal:
    assert account.renewal_date is not None
    days_out = (account.renewal_date - now.date()).days
    on_track = story in {"thriving", "steady"}
    stage = ("upcoming" if days_out > 120 else "in_discussion" if days_out > 60
             else rng.choice(("proposal_sent", "verbal_commit")) if on_track else "in_discussion")
    forecast = account.arr
    if story == "renewal_at_risk":
        forecast, stage = (account.arr * Decimal("0.6")).quantize(Decimal("0.01")), "in_discussion"
    elif story == "thriving":
        forecast = (account.arr * Decimal("1.15")).quantize(Decimal("0.01"))
    return Renewal(owner_id=account.owner_id, due_date=account.renewal_date, currency=account.currency,
                   target_amount=account.arr, forecast_amount=forecast, stage=stage, created_at=now, updated_at=now)


def _usage(account: Account, story: str, rng: random.Random, today: date) -> list[UsageSnapshot]:
    """Six monthly snapshots, oldest first, shaped by the story."""
    low, high = UTILISATION_BY_STORY[story]
    users = max(1, int(account.seats * rng.uniform(low, high)))
    drift = {"thriving": 1.03, "steady": 1.0, "declining": 0.84, "sponsor_left": 0.97, "renewal_at_risk": 0.93,
             "onboarding_stalled": 1.0}[story]
    features = rng.randint(*FEATURES_BY_STORY[story])
    # A declining account's current level is where it ended up: it started higher.
    level = 1 / drift ** 5 if story == "declining" else 1.0
    snapshots = []
    month_start = today.replace(day=1)
    for months_ago in range(5, -1, -1):
        if story == "onboarding_stalled" and months_ago > 1:
            continue
        active = max(1, min(account.seats, int(users * level * rng.uniform(0.97, 1.03))))
        adopted = features + (2 if story == "declining" and months_ago >= 3 else 0)
        snapshots.append(UsageSnapshot(period_start=add_months(month_start, -months_ago), active_users=active,
                                       usage_count=active * rng.randint(40, 50), features_adopted=adopted))
        level *= drift
    return snapshots


# Who at the customer answers, by story: (replies to our emails, the people met besides the champion).
ENGAGEMENT = {"thriving": (True, ("executive_sponsor", "user")), "steady": (True, ()),
              "declining": (False, ()), "sponsor_left": (False, ("executive_sponsor",)),
              "renewal_at_risk": (True, ("budget_holder",)), "onboarding_stalled": (False, ())}


def _touchpoints(story: str, rng: random.Random, now: datetime, owner: User,
                 contacts: list[Contact]) -> list[tuple[Touchpoint, Contact]]:
    """The account's contact history, each touchpoint with the person it was with."""
    last_contact_days = {"thriving": rng.randint(2, 14), "steady": rng.randint(25, 40),
                         "declining": rng.randint(35, 60), "sponsor_left": rng.randint(20, 40),
                         "renewal_at_risk": rng.randint(5, 20), "onboarding_stalled": rng.randint(25, 50)}[story]
    by_role = {contact.role: contact for contact in contacts}
    champion = by_role["champion"]
    replies, others = ENGAGEMENT[story]
    entries = [("email_out", last_contact_days, "Sent the monthly usage summary and offered office hours.", champion),
               ("meeting", last_contact_days + (rng.randint(30, 50) if story == "steady" else rng.randint(15, 40)),
                "Working session on reporting setup.", champion),
               ("qbr", last_contact_days + rng.randint(60, 120), "Quarterly business review: goals and roadmap.",
                by_role["executive_sponsor"])]
    if story == "declining":
        entries[1] = ("call", last_contact_days + 5, "Champion mentioned a reorg; asked to reschedule the QBR.",
                      champion)
    if replies and last_contact_days > 1:
        entries.append(("email_in", last_contact_days - rng.randint(1, min(3, last_contact_days - 1)),
                        "Thanks for the summary; we will join office hours.", champion))
    for role in others:
        entries.append(("call", last_contact_days + rng.randint(3, 30), "Call on their team's rollout.",
                        by_role[role]))
    return [(Touchpoint(kind=kind, occurred_at=now - timedelta(days=days), summary=summary, author_id=owner.id,
                        created_at=now - timedelta(days=days)), contact)
            for kind, days, summary, contact in entries]


# Each story's success plan: (days since it started, days to its outcome's target date, the share of the way
# from baseline to target the customer has come, the outcome's status, how many days its milestone is
# overdue (negative: due in the future; None: done)). A stalled onboarding has none yet.
PLAN_BY_STORY = {"thriving": (200, 60, 1.0, "achieved", None), "steady": (150, 150, 0.55, "on_track", -20),
                 "declining": (180, 60, 0.2, "at_risk", 21), "sponsor_left": (160, 100, 0.45, "on_track", 6),
                 "renewal_at_risk": (240, 30, 0.1, "at_risk", 30)}
_OUTCOMES = (("Close the books in 3 days instead of 10", "Days to close", "days", 10, 3),
             ("Cut time spent on manual reports by half", "Hours of manual reporting a week", "hours", 40, 20),
             ("Get every regional team onto one planning process", "Teams planning in the product", "teams", 2, 8))


def _success_plan(story: str, rng: random.Random, today: date, now: datetime, owner: User) -> list[Base]:
    """The story's plan: one outcome with its metric, one milestone (see PLAN_BY_STORY)."""
    if story not in PLAN_BY_STORY:
        return []
    started, to_target, share, status, overdue = PLAN_BY_STORY[story]
    description, metric, unit, baseline, target = rng.choice(_OUTCOMES)
    starts_on = today - timedelta(days=started + rng.randint(0, 20))
    current = Decimal(baseline + (target - baseline) * share).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    plan = SuccessPlan(title=f"{today.year} goals", status="active", starts_on=starts_on, created_at=now,
                       updated_at=now, version=1)
    outcome = PlanOutcome(description=description, metric_name=metric, metric_unit=unit, baseline=Decimal(baseline),
                          target=Decimal(target), current_value=current,
                          measured_on=today - timedelta(days=rng.randint(3, 20)),
                          target_date=today + timedelta(days=to_target), owner_user_id=owner.id, status=status,
                          achieved_on=today - timedelta(days=rng.randint(10, 40)) if status == "achieved" else None,
                          created_at=now, updated_at=now)
    due = today - timedelta(days=overdue) if overdue is not None else today - timedelta(days=rng.randint(30, 90))
    milestone = PlanMilestone(title="Roll out to the second team", due_on=due,
                              completed_on=None if overdue is not None else due, created_at=now, updated_at=now)
    return [plan, outcome, milestone]


_NOTES = {
    "thriving": ("Team is expanding to a second region; strong advocate in the champion.", "positive"),
    "steady": ("Stable usage, no open asks. Keep the cadence.", "neutral"),
    "declining": ("Logins down since the reorg; the champion is stretched across two teams.", "negative"),
    "sponsor_left": ("Our executive sponsor has left the company. Need a new exec relationship.", "negative"),
    "renewal_at_risk": ("Finance is reviewing all vendors; escalation on data exports still open.", "negative"),
    "onboarding_stalled": ("Integration blocked on their IT for three weeks; no first value yet.", "negative"),
}


def _notes(story: str, rng: random.Random, now: datetime, owner: User) -> list[HealthNote]:
    body, sentiment = _NOTES[story]
    days = rng.randint(3, 20)
    return [HealthNote(author_id=owner.id, body=body, sentiment=sentiment, created_at=now - timedelta(days=days))]


def _tickets(story: str, rng: random.Random, now: datetime) -> list[SupportTicket]:
    tickets = []
    for number in range(rng.randint(1, 3)):
        opened = now - timedelta(days=rng.randint(30, 150))
        tickets.append(SupportTicket(subject=f"How-to question #{number + 1}", opened_at=opened,
                                     due_at=opened + timedelta(days=3), closed_at=opened + timedelta(days=2),
                                     priority="normal", escalated=False, csat=rng.randint(4, 5)))
    if story in {"renewal_at_risk", "declining"}:
        opened = now - timedelta(days=rng.randint(8, 20))
        tickets.append(SupportTicket(subject="Data export failing for large reports", opened_at=opened,
                                     due_at=opened + timedelta(days=2), priority="high",
                                     escalated=story == "renewal_at_risk"))
    return tickets


def _surveys(story: str, rng: random.Random, now: datetime) -> list[SurveyResponse]:
    nps = {"thriving": rng.randint(9, 10), "steady": rng.randint(7, 8), "declining": rng.randint(5, 7),
           "sponsor_left": rng.randint(6, 8), "renewal_at_risk": rng.randint(2, 5),
           "onboarding_stalled": rng.randint(4, 7)}[story]
    comment = {"renewal_at_risk": "Exports keep failing and support is slow.",
               "thriving": "Indispensable for our weekly planning."}.get(story)
    return [SurveyResponse(kind="nps", score=nps, comment=comment,
                           responded_at=now - timedelta(days=rng.randint(10, 80)))]


def _tasks(account: Account, story: str, rng: random.Random, today: date, now: datetime,
           owner: User) -> list[Task]:
    titles = {"declining": "Book a usage review with the champion",
              "sponsor_left": "Identify the new executive sponsor",
              "renewal_at_risk": "Prepare the renewal save plan",
              "onboarding_stalled": "Unblock the integration with IT",
              "thriving": "Ask for a case study", "steady": "Share the new reporting feature"}
    due = today + timedelta(days=rng.randint(-5, 14))
    return [Task(assignee_id=owner.id, created_by_id=owner.id, title=f"{titles[story]} ({account.name})",
                 due_date=due, status="open", priority="high" if story == "renewal_at_risk" else "normal",
                 source="import", dedupe_key=f"demo:{account.name_lower}:{story}", created_at=now, updated_at=now)]
