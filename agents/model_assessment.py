"""The model's side of an assessment: the prompt, the answer's shape, and the checks it must pass."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from agents.llm import ModelFailure, StructuredModel
from agents.rules import BAND_ORDER, Driver, RulesAssessment, band_distance
from prompts import render
from store.health.signal_facts import AccountFacts
from store.health.signals import SignalSet
from store.vocabulary import HealthStatus

MAX_NOTES_IN_PROMPT = 5


class ModelDriver(BaseModel):
    signal: str = Field(max_length=80)
    evidence: str = Field(max_length=400)
    impact: Literal["negative", "positive"]


class ModelAssessment(BaseModel):
    status: HealthStatus
    summary: str = Field(min_length=10, max_length=900)
    drivers: list[ModelDriver] = Field(min_length=1, max_length=8)
    next_action: str = Field(min_length=5, max_length=400)
    band_override_reason: str | None = Field(None, max_length=600)


class GroundedAssessment(BaseModel):
    status: str
    summary: str
    drivers: list[Driver]
    next_actions: list[str]
    prompt_tokens: int
    completion_tokens: int


class Note(BaseModel):
    created: str
    body: str


def build_prompt(*, facts: AccountFacts, signal_set: SignalSet, rules: RulesAssessment, notes: list[Note],
                 segment_instructions: str | None) -> tuple[str, str]:
    """The system and user messages for one account."""
    system = render("assessment_system.j2", rules_score=rules.score, rules_status=rules.status)
    user = render("assessment_user.j2", account_name=facts.name, segment=facts.segment, arr=f"{facts.arr:,.0f}",
                  currency=facts.currency, as_of=signal_set.as_of.date().isoformat(), signals=signal_set.signals,
                  segment_instructions=segment_instructions or "", notes=notes[:MAX_NOTES_IN_PROMPT])
    return system, user


async def model_assessment(model: StructuredModel, *, facts: AccountFacts, signal_set: SignalSet,
                           rules: RulesAssessment, notes: list[Note],
                           segment_instructions: str | None) -> GroundedAssessment:
    """Ask the model, then check its answer against the signals and the rules score.

    Raises:
        ModelFailure: the model failed, or its answer is malformed or not grounded.
    """
    system, user = build_prompt(facts=facts, signal_set=signal_set, rules=rules, notes=notes,
                                segment_instructions=segment_instructions)
    completion = await model.complete(system=system, user=user, schema=ModelAssessment)
    answer = completion.parsed
    problem = grounding_problem(answer, signal_set=signal_set, rules=rules)
    if problem is not None:
        raise ModelFailure(problem, prompt_tokens=completion.prompt_tokens,
                           completion_tokens=completion.completion_tokens)
    return GroundedAssessment(
        status=answer.status, summary=answer.summary.strip(),
        drivers=[Driver(signal=d.signal, evidence=d.evidence, impact=d.impact) for d in answer.drivers],
        next_actions=[answer.next_action.strip()], prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens)


def grounding_problem(answer: ModelAssessment, *, signal_set: SignalSet, rules: RulesAssessment) -> str | None:
    """Why the answer cannot be stored, or None when it is grounded."""
    unknown = sorted({d.signal for d in answer.drivers} - signal_set.ids)
    if unknown:
        return f"the model cited signals that do not exist: {', '.join(unknown)}"
    distance = band_distance(answer.status, rules.status)
    healthier = BAND_ORDER.index(answer.status) > BAND_ORDER.index(rules.status)
    if distance > 1 and healthier:
        return (f"the model rated the account {answer.status}, {distance} bands healthier than the rules "
                f"engine's {rules.status}; at most one band healthier is accepted")
    if distance > 1 and not (answer.band_override_reason or "").strip():
        return (f"the model's status {answer.status} is {distance} bands from the rules engine's {rules.status} "
                "without a stated reason")
    return None
