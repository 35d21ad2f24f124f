"""The touchpoint agent: drafts outreach from a skeleton and the account's facts, for a human to review.

With no model the skeleton renders a plain message (method "template"); a CSM's instruction, which no
template can follow, is left in it as a marked paragraph the reviewer writes in before approving
(store.crm.instruction_note). With a model, the model
rewrites the skeleton; its answer is kept only if everything in it is grounded (store.text_checks):
no address, link, phone or bank number that is not in the account's facts or at one of the sender's
domains, no figure (in digits or words) that is not in the facts, no markup, no commercial term the
CSM's instruction did not ask for; within the length limits and addressed to the chosen recipient.
Otherwise the template is used, with the reasons. What the message was written from is kept with the
draft, so the review queue can show where each link, address, figure and term came from.
"""

from __future__ import annotations

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
from store.crm.draft_grounding import review_draft_text
from store.crm.drafts import DRAFT_KINDS, create_draft
from store.crm.instruction_note import MARKED_MODEL_REFUSED, MARKED_NO_MODEL, WRITTEN_BY_MODEL, with_note
from store.database.models import Contact, User
from store.errors import InvalidInput
from store.health.signal_facts import AccountFacts
from store.health.signals import SignalSet, load_signal_sets
from store.schemas import DraftOut
from store.text_checks import Highlight
from store.validation import plain_number

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
    # The sender's own domains: addresses and links at them may appear in a message.
    sender_domains: tuple[str, ...] = ()


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
    # What the message was written from (store.crm.drafts keeps it to show the reviewer where each
    # finding came from), and notes for the reviewer.
    grounding: dict[str, object] = Field(default_factory=dict)
    review_notes: list[str] = Field(default_factory=list)


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
    # The outcome achieved most recently: what a value review or a renewal message can cite, with its figures.
    achieved = sorted((o for o in facts.plan.outcomes if o.status == "achieved" and o.current_value is not None),
                      key=lambda o: o.achieved_on or date.min)[-1:] if facts.plan else []
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
        "outcome": achieved[0].description if achieved else None,
        "outcome_metric": achieved[0].metric if achieved else None,
        "outcome_from": str(plain_number(achieved[0].baseline)) if achieved else None,
        "outcome_to": str(plain_number(achieved[0].current_value)) if achieved and achieved[0].current_value is not None
        else None,
        "outcome_unit": achieved[0].unit if achieved else None,
    }
    return values


def render_template(kind: str, values: dict[str, object]) -> tuple[str, str]:
    blocks = render_blocks(f"drafts/{kind}.j2", **values)
    return blocks["subject"], blocks["body"]


def draft_sources(values: dict[str, object], *, template: tuple[str, str], recipient: Recipient,
                  owner_email: str, instruction: str | None) -> dict[str, str]:
    """What a message of this account may draw on, by label: its facts, the template and the CSM's words."""
    sources = {f"facts: {name}": str(value) for name, value in values.items() if value is not None}
    sources["recipient's address"] = recipient.email
    sources["sender's address"] = owner_email
    sources["template"] = "\n".join(template)
    if instruction:
        sources["instruction"] = instruction
    return sources


async def compose(kind: str, context: DraftContext, *, model: StructuredModel | None,
                  instruction: str | None = None) -> Composed | None:
    """A draft of `kind` for the account, or None when nobody suitable can receive it."""
    recipient = choose_recipient(kind, context.contacts)
    if recipient is None:
        return None
    values = template_facts(kind, context, recipient)
    subject, body = render_template(kind, values)
    grounding: dict[str, object] = {
        "sources": draft_sources(values, template=(subject, body), recipient=recipient,
                                 owner_email=context.owner_email, instruction=instruction),
        "asked_for": instruction or "", "sender_domains": list(context.sender_domains)}
    composed = Composed(kind=kind, recipient_id=recipient.contact_id, recipient_name=recipient.name,
                        recipient_email=recipient.email, subject=subject, body=body, method="template",
                        grounding=grounding)
    if model is None:
        return with_instruction(composed, instruction, MARKED_NO_MODEL)
    system = render("draft_system.j2", recipient_first_name=recipient.first_name, owner_name=context.owner_name,
                    instruction=instruction or "")
    shown = {name: value for name, value in values.items() if value is not None}
    user = render("draft_user.j2", kind=kind, facts=shown, template_subject=subject, template_body=body,
                  crm_lines=context.crm_lines)
    try:
        completion = await model.complete(system=system, user=user, schema=ModelDraft)
    except ModelFailure as failure:
        fallback = composed.model_copy(update={"fallback_reason": failure.reason,
                                               "prompt_tokens": failure.prompt_tokens,
                                               "completion_tokens": failure.completion_tokens})
        return with_instruction(fallback, instruction, MARKED_MODEL_REFUSED)
    tokens = {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens}
    subject_text, body_text = completion.parsed.subject.strip(), completion.parsed.body.strip()
    checked = check_draft(subject_text, body_text, grounding=grounding, recipient=recipient)
    if checked.problems:
        fallback = composed.model_copy(update={"fallback_reason": fallback_reason(checked.problems), **tokens})
        return with_instruction(fallback, instruction, MARKED_MODEL_REFUSED)
    terms = sorted({h.text.lower() for h in checked.highlights if h.kind == "commitment"})
    notes = [f"Offers commercial terms the CSM asked for ({', '.join(terms)}): check them against what was "
             "agreed before approving."] if terms else []
    if instruction:
        grounding = {**grounding, "instruction_use": WRITTEN_BY_MODEL}
    return composed.model_copy(update={"subject": subject_text, "body": body_text, "grounding": grounding,
                                       "method": f"llm:{model.name}", "review_notes": notes, **tokens})


def with_instruction(composed: Composed, instruction: str | None, how: str) -> Composed:
    """A template draft carrying the CSM's instruction as a marked paragraph, and the grounding saying so."""
    if not instruction:
        return composed
    return composed.model_copy(update={
        "body": with_note(composed.body, instruction),
        "grounding": {**composed.grounding, "instruction_use": how},
        "review_notes": [*composed.review_notes, "The CSM's instruction is in the body as a marked paragraph: "
                                                 "write it into the message before approving."]})


@dataclass(frozen=True)
class DraftCheck:
    highlights: list[Highlight]
    problems: list[str]


def check_draft(subject: str, body: str, *, grounding: dict[str, object], recipient: Recipient) -> DraftCheck:
    """Everything in a model's draft placed against what it was written from, and why it cannot be sent."""
    checked = review_draft_text(subject, body, grounding)
    problems = checked.problems
    if recipient.first_name.lower() not in body.lower()[:200]:
        problems.append(f"the draft does not address {recipient.first_name}")
    return DraftCheck(highlights=checked.highlights, problems=problems)


def fallback_reason(problems: list[str]) -> str:
    return "the model's draft was not used: " + "; ".join(problems)


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
        sets = await load_signal_sets(session, [account_id], as_of=now, model=deps.health_model)
        if account_id not in sets:
            raise InvalidInput(f"account {account_id} is {account.status}; outreach is drafted for active accounts")
        facts, signal_set = sets[account_id]
        contacts = [Recipient(contact_id=c.id, name=c.name, email=c.email or "", role=c.role,
                              is_primary_sponsor=c.is_primary_sponsor, left_company_on=c.left_company_on)
                    for c in await session.scalars(select(Contact).where(Contact.account_id == account_id))]
        owner = (await session.execute(select(User.name, User.email).where(User.id == account.owner_id))).one()
    context = DraftContext(facts=facts, signals=signal_set, owner_name=owner[0], owner_email=owner[1],
                           contacts=contacts, sender_domains=deps.sender_domains)
    composed = await compose(kind, context, model=deps.model, instruction=instruction)
    if composed is None:
        roles = ", ".join(RECIPIENT_ROLES[kind])
        raise InvalidInput(f"no current contact with an email to send a {kind} to (looked for: {roles}); "
                           "add one with upsert_contact")
    reasons = [f"Requested by {principal.email}" + (f": {instruction}" if instruction else "."),
               *composed.review_notes]
    async with deps.write_sessions() as session, session.begin():
        return await create_draft(session, principal=principal, now=now, account_id=account_id, kind=kind,
                                  contact_id=composed.recipient_id, from_name=owner[0], from_email=owner[1],
                                  subject=composed.subject, body=composed.body, reasons=reasons,
                                  method=composed.method, fallback_reason=composed.fallback_reason,
                                  prompt_tokens=composed.prompt_tokens, completion_tokens=composed.completion_tokens,
                                  grounding=composed.grounding)
