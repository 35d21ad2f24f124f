"""The touchpoint agent: drafts outreach from a skeleton and the account's facts, for a human to review.

With no model the skeleton renders a plain message (method "template"). With a model, the model
rewrites the skeleton; its answer is kept only if it invents no figures, respects the length limits
and stays addressed to the chosen recipient — otherwise the template is used, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from pydantic import BaseModel, Field
from sqlalchemy import select

from agents.deps import AgentDeps
from agents.llm import ModelFailure, StructuredModel
from prompts import render, render_blocks
from store import validation
from store.auth.principals import Principal, require_account_writer
from store.crm.accounts import load_account
from store.crm.drafts import DRAFT_KINDS, create_draft
from store.database.models import Contact, User
from store.errors import InvalidInput
from store.health.signal_facts import AccountFacts
from store.health.signals import SignalSet, load_signal_sets
from store.schemas import DraftOut

# Who a message of each kind goes to, in order of preference.
RECIPIENT_ROLES: dict[str, tuple[str, ...]] = {
    "check_in": ("champion", "executive_sponsor", "user", "budget_holder"),
    "usage_nudge": ("champion", "user", "executive_sponsor", "budget_holder"),
    "renewal_ack": ("executive_sponsor", "budget_holder", "champion", "user"),
    "value_review": ("executive_sponsor", "budget_holder", "champion", "user"),
    "sponsor_intro": ("champion", "budget_holder", "user"),
    "detractor_follow_up": ("champion", "executive_sponsor", "user", "budget_holder"),
}
MAX_MODEL_SUBJECT = 120
MAX_MODEL_BODY = 1500
_FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


@dataclass(frozen=True)
class Recipient:
    contact_id: int
    name: str
    email: str
    role: str
    is_primary_sponsor: bool = False
    left_company_on: date | None = None

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else self.name


@dataclass
class DraftContext:
    """What a message may say about the account, and who is writing it to whom."""

    facts: AccountFacts
    signals: SignalSet
    owner_name: str
    owner_email: str
    contacts: list[Recipient]
    crm_lines: list[str] = field(default_factory=list)


class Composed(BaseModel):
    kind: str
    recipient_id: int
    recipient_name: str
    recipient_email: str
    subject: str
    body: str
    method: str
    fallback_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ModelDraft(BaseModel):
    subject: str = Field(min_length=3, max_length=MAX_MODEL_SUBJECT)
    body: str = Field(min_length=20, max_length=MAX_MODEL_BODY)


def choose_recipient(kind: str, contacts: list[Recipient]) -> Recipient | None:
    """The best present contact with an email for this kind of message."""
    present = [c for c in contacts if c.left_company_on is None and c.email]
    for role in RECIPIENT_ROLES[kind]:
        matching = sorted((c for c in present if c.role == role), key=lambda c: not c.is_primary_sponsor)
        if matching:
            return matching[0]
    return None


def template_facts(kind: str, context: DraftContext, recipient: Recipient) -> dict[str, object]:
    """The facts the skeleton uses; the model sees exactly these and may use no other figures."""
    facts, signals = context.facts, context.signals
    usage = facts.usage[-1] if facts.usage else None
    month = signals.get("usage.month_over_month")
    nps = signals.get("survey.nps")
    departed = next((c for c in context.contacts if c.is_primary_sponsor and c.left_company_on), None)
    values: dict[str, object] = {
        "account_name": facts.name, "first_name": recipient.first_name, "owner_name": context.owner_name,
        "last_contact": facts.last_outbound_at.date().isoformat() if facts.last_outbound_at else None,
        "last_meeting": facts.last_meeting_at.date().isoformat() if facts.last_meeting_at else None,
        "active_users": usage.active_users if usage else None,
        "open_tickets": len(facts.open_tickets),
        "renewal_date": facts.open_renewal.due_date.isoformat() if facts.open_renewal else None,
        "usage_change": f"{month.value:+.0%}" if month is not None and isinstance(month.value, float) else None,
        "survey_score": nps.value if nps is not None and kind == "detractor_follow_up" else None,
        "departed_sponsor": departed.name if departed else "your executive sponsor",
        "departed_on": departed.left_company_on.isoformat() if departed and departed.left_company_on else None,
    }
    return values


def render_template(kind: str, values: dict[str, object]) -> tuple[str, str]:
    blocks = render_blocks(f"drafts/{kind}.j2", **values)
    return blocks["subject"], blocks["body"]


async def compose(kind: str, context: DraftContext, *, model: StructuredModel | None,
                  instruction: str | None = None) -> Composed | None:
    """A draft of `kind` for the account, or None when nobody suitable can receive it."""
    recipient = choose_recipient(kind, context.contacts)
    if recipient is None:
        return None
    values = template_facts(kind, context, recipient)
    subject, body = render_template(kind, values)
    composed = Composed(kind=kind, recipient_id=recipient.contact_id, recipient_name=recipient.name,
                        recipient_email=recipient.email, subject=subject, body=body, method="template")
    if model is None:
        return composed
    system = render("draft_system.j2", recipient_first_name=recipient.first_name, owner_name=context.owner_name,
                    instruction=instruction or "")
    shown = {name: value for name, value in values.items() if value is not None}
    user = render("draft_user.j2", kind=kind, facts=shown, template_subject=subject, template_body=body,
                  crm_lines=context.crm_lines)
    try:
        completion = await model.complete(system=system, user=user, schema=ModelDraft)
    except ModelFailure as failure:
        return composed.model_copy(update={"fallback_reason": failure.reason, "prompt_tokens": failure.prompt_tokens,
                                           "completion_tokens": failure.completion_tokens})
    tokens = {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens}
    problem = draft_problem(completion.parsed, allowed_text=[subject, body, instruction or "",
                                                            *(str(v) for v in shown.values())], recipient=recipient)
    if problem is not None:
        return composed.model_copy(update={"fallback_reason": problem, **tokens})
    return composed.model_copy(update={"subject": completion.parsed.subject.strip(),
                                       "body": completion.parsed.body.strip(), "method": f"llm:{model.name}",
                                       **tokens})


def draft_problem(draft: ModelDraft, *, allowed_text: list[str], recipient: Recipient) -> str | None:
    """Why a model's draft cannot be used, or None when it is grounded."""
    allowed = {_normalise(figure) for text in allowed_text for figure in _FIGURE.findall(text)}
    invented = sorted({figure for figure in _FIGURE.findall(f"{draft.subject}\n{draft.body}")
                       if _normalise(figure) not in allowed})
    if invented:
        return f"the model used figures that are not in the account's facts: {', '.join(invented)}"
    addresses = {address.lower() for address in _EMAIL.findall(draft.body)} - {recipient.email.lower()}
    if addresses:
        return f"the model added email addresses: {', '.join(sorted(addresses))}"
    if recipient.first_name.lower() not in draft.body.lower()[:200]:
        return f"the model's draft does not address {recipient.first_name}"
    return None


def _normalise(figure: str) -> str:
    return figure.replace(",", "").rstrip(".").lstrip("0") or "0"


async def draft_on_request(deps: AgentDeps, *, principal: Principal, account_id: int, kind: str,
                           instruction: str | None = None) -> DraftOut:
    """Draft one message for an account at a user's request; the user is its author and cannot approve it.

    Raises:
        NotFound, Forbidden, InvalidInput (no suitable recipient, unknown kind).
    """
    validation.one_of(kind, DRAFT_KINDS, "kind")
    if instruction is not None:
        instruction = validation.text(instruction, "instruction", max_length=500, required=False) or None
    now = deps.clock.now()
    async with deps.read_sessions() as session, session.begin():
        account = await load_account(session, account_id)
        if principal.role != "agent":
            require_account_writer(principal, owner_id=account.owner_id, account_name=account.name)
        sets = await load_signal_sets(session, [account_id], as_of=now, thresholds=deps.thresholds)
        if account_id not in sets:
            raise InvalidInput(f"account {account_id} is {account.status}; outreach is drafted for active accounts")
        facts, signal_set = sets[account_id]
        contacts = [Recipient(contact_id=c.id, name=c.name, email=c.email or "", role=c.role,
                              is_primary_sponsor=c.is_primary_sponsor, left_company_on=c.left_company_on)
                    for c in await session.scalars(select(Contact).where(Contact.account_id == account_id))]
        owner = (await session.execute(select(User.name, User.email).where(User.id == account.owner_id))).one()
    context = DraftContext(facts=facts, signals=signal_set, owner_name=owner[0], owner_email=owner[1],
                           contacts=contacts)
    composed = await compose(kind, context, model=deps.model, instruction=instruction)
    if composed is None:
        roles = ", ".join(RECIPIENT_ROLES[kind])
        raise InvalidInput(f"no current contact with an email to send a {kind} to (looked for: {roles}); "
                           "add one with upsert_contact")
    reasons = [f"Requested by {principal.email}" + (f": {instruction}" if instruction else ".")]
    async with deps.write_sessions() as session, session.begin():
        return await create_draft(session, principal=principal, now=now, account_id=account_id, kind=kind,
                                  contact_id=composed.recipient_id, from_name=owner[0], from_email=owner[1],
                                  subject=composed.subject, body=composed.body, reasons=reasons,
                                  method=composed.method, fallback_reason=composed.fallback_reason,
                                  prompt_tokens=composed.prompt_tokens, completion_tokens=composed.completion_tokens)
