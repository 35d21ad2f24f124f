"""Backtest: how well did the score predict this team's churn? Each outcome on record (a renewal closed
lost or won, a contraction, an account churned) is paired with the account's signals as they stood
`horizon` days before it, scored by the model, and the scores are judged by store.health.evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agents.calibration import Sample, score_samples
from store.auth.principals import Principal, require_role
from store.database.models import Account, Renewal
from store.health.evaluation import Evaluation, evaluate_by_segment
from store.health.model import HealthModel
from store.health.signal_facts import load_facts
from store.health.signals import compute_signals
from store.vocabulary import PORTFOLIO_WRITER_ROLES

DEFAULT_HORIZON_DAYS = 90
BAD_BOOKINGS = ("churn", "contraction")


@dataclass(frozen=True)
class Outcome:
    account_id: int
    on: date
    churned: bool
    # What happened, in words: "renewal closed_lost", "account churned", ...
    what: str


class Backtest(BaseModel):
    model: str
    horizon_days: int
    outcomes: int
    evaluations: list[Evaluation]
    # Outcomes left out, and why (too recent, before the account's history began).
    skipped: dict[str, int]


async def outcomes_on_record(session: AsyncSession) -> list[Outcome]:
    """Closed renewals (lost, or booked as churn or contraction, count as churn; won as staying) and
    churned accounts without a closed renewal on their churn day."""
    found: list[Outcome] = []
    closed = set()
    for account_id, stage, booking, closed_on, due in await session.execute(
            select(Renewal.account_id, Renewal.stage, Renewal.booking_type, Renewal.closed_on, Renewal.due_date)
            .where(Renewal.stage.in_(("closed_won", "closed_lost")))):
        day = closed_on or due
        bad = stage == "closed_lost" or booking in BAD_BOOKINGS
        found.append(Outcome(account_id, day, bad, f"renewal {stage}" + (f" ({booking})" if booking else "")))
        closed.add((account_id, day))
    for account_id, churned_on in await session.execute(
            select(Account.id, Account.churned_on).where(Account.status == "churned", Account.churned_on.is_not(None))):
        if (account_id, churned_on) not in closed:
            found.append(Outcome(account_id, churned_on, True, "account churned"))
    return sorted(found, key=lambda outcome: (outcome.on, outcome.account_id))


async def replay(session: AsyncSession, model: HealthModel, outcomes: Sequence[Outcome], *, horizon_days: int,
                 today: date) -> tuple[list[Sample], dict[str, int]]:
    """Each outcome's account as it stood `horizon_days` before it, as a sample; and what was skipped."""
    samples: list[Sample] = []
    skipped = {"in the future": 0, "account unknown": 0, "account's contract began after the moment replayed": 0}
    for outcome in outcomes:
        as_of_day = outcome.on - timedelta(days=horizon_days)
        if outcome.on > today:
            skipped["in the future"] += 1
            continue
        as_of = datetime.combine(as_of_day, time(12, 0), tzinfo=UTC)
        facts = (await load_facts(session, [outcome.account_id], as_of=as_of, replay=True)).get(outcome.account_id)
        if facts is None:
            skipped["account unknown"] += 1
            continue
        if facts.contract_start is not None and facts.contract_start > as_of_day:
            skipped["account's contract began after the moment replayed"] += 1
            continue
        signals = compute_signals(facts, as_of=as_of, model=model.for_segment(facts.segment))
        samples.append(Sample(outcome.account_id, facts.segment, signals, outcome.churned))
    return samples, {reason: count for reason, count in skipped.items() if count}


async def backtest_for(session: AsyncSession, principal: Principal, model: HealthModel, *, today: date) -> Backtest:
    """The backtest a manager (or admin) asks for beside the portfolio summary.

    Raises:
        Forbidden: the principal is not a manager or an admin.
    """
    require_role(principal, PORTFOLIO_WRITER_ROLES, "read the health model's backtest")
    return await backtest(session, model, today=today)


async def backtest(session: AsyncSession, model: HealthModel, *, horizon_days: int = DEFAULT_HORIZON_DAYS,
                   today: date) -> Backtest:
    outcomes = await outcomes_on_record(session)
    samples, skipped = await replay(session, model, outcomes, horizon_days=horizon_days, today=today)
    return Backtest(model=model.id, horizon_days=horizon_days, outcomes=len(samples),
                    evaluations=evaluate_by_segment(score_samples(samples, model)), skipped=skipped)


# The words an outcomes file may use, and whether each is churn.
OUTCOME_WORDS = {"churned": True, "churn": True, "lost": True, "contraction": True, "contracted": True,
                 "renewed": False, "retained": False, "won": False, "expanded": False, "expansion": False}
OUTCOME_COLUMNS = ("account", "outcome", "date")


async def outcomes_from_file(session: AsyncSession, text: str, source: str) -> list[Outcome]:
    """An outcomes file (CSV: account, outcome, date), every row checked; the account is found by external
    id, then domain, then exact name.

    Raises:
        InvalidInput: naming every bad row with its line and what is accepted.
    """
    import csv
    import io

    from store.errors import InvalidInput
    from store.imports.account_index import AccountIndex

    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in OUTCOME_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(f"{source}: missing columns {', '.join(missing)}; an outcomes file has the columns "
                           f"{', '.join(OUTCOME_COLUMNS)}")
    index = await AccountIndex.load(session)
    found, problems = [], []
    for line, row in enumerate(reader, start=2):
        reference, word, day = (row.get(column, "") or "" for column in OUTCOME_COLUMNS)
        account = index.find(reference.strip()) if reference.strip() else None
        if account is None:
            problems.append(f"{source}:{line}: no account {reference!r} (by external id, domain or name)")
        if word.strip().lower() not in OUTCOME_WORDS:
            problems.append(f"{source}:{line}: outcome {word!r} is not one of {', '.join(OUTCOME_WORDS)}")
        try:
            on = date.fromisoformat(day.strip())
        except ValueError:
            problems.append(f"{source}:{line}: date {day!r} is not a date like 2026-11-30")
            continue
        if account is not None and word.strip().lower() in OUTCOME_WORDS:
            found.append(Outcome(account.id, on, OUTCOME_WORDS[word.strip().lower()], word.strip().lower()))
    if problems:
        raise InvalidInput(f"{source} was not used ({len(problems)} problem{'s' if len(problems) > 1 else ''}):\n"
                           + "\n".join(f"  {problem}" for problem in problems))
    if not found:
        raise InvalidInput(f"{source} holds no outcomes")
    return found
