"""A labelled portfolio made by a documented churn process, to judge the health model by how well it ranks
the accounts that churned — never by tuning to one fixture.

The process, per account (all draws from one seeded `random.Random`):
1. A latent health `h ~ N(0, 1)` the generator knows and csdesk does not.
2. Observable signals, each a noisy reading of `h`:
   - seat utilisation `u = sigmoid(0.9 h + N(0, 0.6) + 0.4)`;
   - usage change of the latest month against the three before, `d = 0.12 h - 0.04 + N(0, 0.18)` (≥ -0.9);
   - features in use `round(catalogue × sigmoid(0.7 h + N(0, 0.7)))`;
   - NPS (answered by 60 %): `clip(round(7.2 + 1.5 h + N(0, 1.6)), 0, 10)`;
   - CSAT (answered by 50 %): `clip(round(3.9 + 0.7 h + N(0, 0.8)), 1, 5)`;
   - tickets opened in 90 days `Poisson(seats / 10 × 0.6 × exp(-0.5 h))`, rated (40 % of them)
     `clip(round(4 + 0.5 h + N(0, 0.9)), 1, 5)`;
   - primary sponsor left with probability `0.06 + 0.10 × [h < -1]`;
   - people engaged in 90 days `1 + Binomial(3, sigmoid(0.8 h))`, or 0 with probability 0.05;
   - days since outbound contact `Exponential(mean 25 × exp(-0.3 h))`, a reply to 70 % of emails
     when `h > 0`, 35 % otherwise.
3. Churn: `z = -0.5 - 1.1 (u - 0.65) / 0.2 - 0.9 d / 0.2 - 0.3 (NPS - 7) - 0.55 (CSAT - 4)
   + 0.3 (tickets per 10 seats - 1) + 1.2 × sponsor left + 0.8 × [engaged ≤ 1] + N(0, 0.6)`
   (an unanswered survey adds nothing), and the account churns with probability `sigmoid(z)`.
   The same formula without the N(0, 0.6) term, scored on each account, is the ceiling: no score of
   the observed signals can rank churners better on average.

Facts are built in memory (`AccountFacts`), so the health model is measured without a database.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from store.health.signal_facts import AccountFacts, OpenRenewal, Sponsor, Survey, Ticket, Usage

AS_OF = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CATALOGUE = 10


@dataclass(frozen=True)
class LabelledAccount:
    facts: AccountFacts
    churned: bool
    # The generator's own churn formula without its noise: the ceiling on ranking.
    ceiling_risk: float


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: small means only, as here.
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def labelled_portfolio(count: int = 2000, *, seed: int = 11) -> list[LabelledAccount]:
    rng = random.Random(seed)
    return [_account(rng, index) for index in range(count)]


def _account(rng: random.Random, index: int) -> LabelledAccount:
    h = rng.gauss(0, 1)
    segment = rng.choices(("enterprise", "mid_market", "smb"), weights=(2, 4, 4))[0]
    seats = max(5, int(rng.lognormvariate({"enterprise": 5.0, "mid_market": 3.8, "smb": 2.7}[segment], 0.5)))
    u = _sigmoid(0.9 * h + rng.gauss(0, 0.6) + 0.4)
    d = max(-0.9, 0.12 * h - 0.04 + rng.gauss(0, 0.18))
    features = round(CATALOGUE * _sigmoid(0.7 * h + rng.gauss(0, 0.7)))
    nps = min(10, max(0, round(7.2 + 1.5 * h + rng.gauss(0, 1.6)))) if rng.random() < 0.6 else None
    csat = min(5, max(1, round(3.9 + 0.7 * h + rng.gauss(0, 0.8)))) if rng.random() < 0.5 else None
    tickets = _poisson(rng, seats / 10 * 0.6 * math.exp(-0.5 * h))
    ratings = [min(5, max(1, round(4 + 0.5 * h + rng.gauss(0, 0.9)))) for _ in range(tickets) if rng.random() < 0.4]
    sponsor_left = rng.random() < 0.06 + (0.10 if h < -1 else 0.0)
    engaged = 0 if rng.random() < 0.05 else 1 + sum(rng.random() < _sigmoid(0.8 * h) for _ in range(3))
    outbound_days = min(200, int(rng.expovariate(1 / (25 * math.exp(-0.3 * h)))))
    emails = 1 + _poisson(rng, 2)
    answered = sum(rng.random() < (0.7 if h > 0 else 0.35) for _ in range(emails))
    per_ten = tickets * 10 / seats
    signal_risk = (-0.5 - 1.1 * (u - 0.65) / 0.2 - 0.9 * d / 0.2 - (0.3 * (nps - 7) if nps is not None else 0)
                   - (0.55 * (csat - 4) if csat is not None else 0) + 0.3 * (per_ten - 1) + 1.2 * sponsor_left
                   + 0.8 * (engaged <= 1))
    churned = rng.random() < _sigmoid(signal_risk + rng.gauss(0, 0.6))
    facts = _facts(index, segment, seats, u, d, features, nps, csat, tickets, ratings, sponsor_left, engaged,
                   outbound_days, emails, answered, rng)
    return LabelledAccount(facts=facts, churned=churned, ceiling_risk=signal_risk)


def _facts(index: int, segment: str, seats: int, u: float, d: float, features: int, nps: int | None,
           csat: int | None, tickets: int, ratings: list[int], sponsor_left: bool, engaged: int, outbound_days: int,
           emails: int, answered: int, rng: random.Random) -> AccountFacts:
    level = seats * 40
    months = [date(2026, month, 1) for month in (8, 9, 10, 11)]
    active = max(0, round(u * seats))
    usage = [Usage(period_start=month, active_users=active, usage_count=level, features_adopted=features)
             for month in months[:3]]
    usage.append(Usage(period_start=months[3], active_users=active, usage_count=max(0, round(level * (1 + d))),
                       features_adopted=features))
    surveys = []
    if nps is not None:
        surveys.append(Survey(id=index * 2, kind="nps", score=nps, responded_at=AS_OF - timedelta(days=40)))
    if csat is not None:
        surveys.append(Survey(id=index * 2 + 1, kind="csat", score=csat, responded_at=AS_OF - timedelta(days=30)))
    arr = Decimal(seats * 600)
    due = (AS_OF + timedelta(days=rng.randint(100, 330))).date()
    roles = ["champion", "executive_sponsor", "budget_holder", "user"][:engaged]
    return AccountFacts(
        account_id=index + 1, name=f"Labelled {index + 1}", owner_id=1, segment=segment, seats=seats, arr=arr,
        currency="USD", contract_start=date(2024, 1, 1), renewal_date=due, onboarding_status="completed",
        health_score=None, health_status=None,
        last_outbound_at=AS_OF - timedelta(days=outbound_days),
        last_meeting_at=AS_OF - timedelta(days=outbound_days + rng.randint(0, 60)),
        usage=usage, open_tickets=[Ticket(due_at=None, escalated=False)] * min(tickets, 1) if tickets else [],
        surveys=surveys,
        primary_sponsor=Sponsor(id=index, name="Sponsor", left_company_on=date(2026, 10, 1) if sponsor_left else None),
        has_executive_sponsor=True,
        open_renewal=OpenRenewal(id=index, due_date=due, stage="upcoming", target_amount=arr, forecast_amount=arr),
        has_touchpoints=True, contact_count=4, tickets_recent=tickets, ticket_ratings=ratings,
        engaged_roles=roles, emails_out_recent=emails, emails_answered_recent=answered)
