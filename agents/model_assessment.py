"""The model's side of an assessment: the prompt, the answer's shape, and the checks it must pass.

What is stored is grounded, not merely plausible: each driver cites a signal that exists, carries that
signal's own evidence line (the model's wording is kept beside it) and an impact that agrees with the
signal's grade; the model's wording, summary and next action hold no figure that is not in the signals
or the account's facts, no address, link or markup; the next action promises no commercial terms; the
summary does not call an account healthy while its signals say otherwise. An answer that fails any check
is not stored: the rules assessment is, with the reasons.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from agents.llm import ModelFailure, StructuredModel
from agents.rules import BAND_ORDER, Driver, RulesAssessment, band_distance
from prompts import render
from store.health.signal_facts import AccountFacts
from store.health.signals import Signal, SignalSet
from store.text_checks import review
from store.vocabulary import HealthStatus

MAX_NOTES_IN_PROMPT = 5
# Fewer words than this cannot say what a signal shows ("great", "all good").
MIN_WORDING_WORDS = 3
# A summary that calls the account healthy; refused while the signals say otherwise.
HEALTHY_CLAIM = re.compile(r"\b(?:thriving|all\s+good|healthy|no\s+(?:issues|concerns|risks?|problems)|nothing\s+to\s+"
                           r"worry|great\s+shape|excellent\s+shape|doing\s+great|perfect)\b", re.IGNORECASE)
DEADLINE = re.compile(r"[\s-]*(?:hours?|days?|weeks?|months?|business\s+days?)\b", re.IGNORECASE)
WEAK_STATUSES = frozenset({"neutral", "needs_attention", "at_risk"})


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
    system = render("assessment_system.j2", rules_score=f"{rules.score:.0f}", rules_status=rules.status,
                    coverage_percent=round(rules.coverage.share * 100), confidence=rules.coverage.confidence,
                    ceiling=rules.ceiling)
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
    problems = grounding_problems(answer, facts=facts, signal_set=signal_set, rules=rules)
    if problems:
        raise ModelFailure("the model's assessment was not used: " + "; ".join(problems),
                           prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens)
    by_id = {signal.id: signal for signal in signal_set.signals}
    return GroundedAssessment(
        status=answer.status, summary=answer.summary.strip(),
        drivers=[Driver(signal=d.signal, evidence=by_id[d.signal].evidence, impact=d.impact,
                        wording=d.evidence.strip()) for d in answer.drivers],
        next_actions=[answer.next_action.strip()], prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens)


def grounding_problems(answer: ModelAssessment, *, facts: AccountFacts, signal_set: SignalSet,
                       rules: RulesAssessment) -> list[str]:
    """Every reason the answer cannot be stored; empty when it is grounded."""
    unknown = sorted({d.signal for d in answer.drivers} - signal_set.ids)
    if unknown:
        return [f"the model cited signals that do not exist: {', '.join(unknown)}"]
    band = band_problem(answer, rules)
    problems = [band] if band else []
    by_id = {signal.id: signal for signal in signal_set.signals}
    every_signal = {f"signal {s.id}": _signal_text(s) for s in signal_set.signals}
    account = {"account facts": f"ARR {facts.arr} {facts.arr:,.0f}, as of {signal_set.as_of.date().isoformat()}",
               "rules score": f"{rules.score}/100 {rules.score:.0f}/100",
               "coverage": f"{round(rules.coverage.share * 100)} % {rules.coverage.share}"}
    for driver in answer.drivers:
        signal = by_id[driver.signal]
        where = f"driver {driver.signal}"
        if len(driver.evidence.split()) < MIN_WORDING_WORDS:
            problems.append(f"{where}: the wording {driver.evidence.strip()!r} does not say what the signal shows "
                            f"({signal.evidence})")
        if signal.grade == "poor" and driver.impact == "positive" or signal.grade == "good" and \
                driver.impact == "negative":
            problems.append(f"{where}: the model calls it {driver.impact}, but the signal is graded {signal.grade}")
        problems += _word_problems({where: driver.evidence}, {f"signal {signal.id}": _signal_text(signal)})
    problems += _word_problems({"summary": answer.summary}, {**every_signal, **account})
    problems += _word_problems({"next action": answer.next_action}, {**every_signal, **account}, terms=True,
                               deadlines=True)
    claim = HEALTHY_CLAIM.search(answer.summary)
    poor = [s.id for s in signal_set.signals if s.grade == "poor"]
    if claim and (rules.status in WEAK_STATUSES or poor):
        why = f"{len(poor)} signal(s) are poor ({', '.join(poor[:4])})" if poor else \
            f"the rules engine rates it {rules.status}"
        problems.append(f"summary: it calls the account {claim.group()!r} while {why}")
    return problems


def _signal_text(signal: Signal) -> str:
    return f"{signal.value} {signal.evidence}"


def _word_problems(texts: dict[str, str], sources: dict[str, str], *, terms: bool = False,
                   deadlines: bool = False) -> list[str]:
    """Figures not in the sources, addresses, links and markup; with `terms`, commercial terms too; with
    `deadlines`, a figure that counts time ("within two weeks") is a plan, not a claim, and passes."""
    problems = []
    for h in review(texts, sources=sources).highlights:
        if h.problem is None or h.kind == "commitment" and not terms:
            continue
        if deadlines and h.kind == "figure" and DEADLINE.match(texts[h.where], h.end):
            continue
        if h.kind == "commitment":
            problems.append(f"{h.where}: {h.text!r} promises commercial terms, which an assessment may not")
        else:
            problems.append(h.problem.replace("the account's facts", "the signals or the account's facts"))
    return list(dict.fromkeys(problems))


def band_problem(answer: ModelAssessment, rules: RulesAssessment) -> str | None:
    """Why the model's status is too far from the rules engine's, or None."""
    distance = band_distance(answer.status, rules.status)
    healthier = BAND_ORDER.index(answer.status) > BAND_ORDER.index(rules.status)
    if distance > 1 and healthier:
        return (f"the model rated the account {answer.status}, {distance} bands healthier than the rules "
                f"engine's {rules.status}; at most one band healthier is accepted")
    if rules.ceiling is not None and BAND_ORDER.index(answer.status) > BAND_ORDER.index(rules.ceiling):
        return (f"the model rated the account {answer.status}, but with {rules.coverage.confidence} confidence "
                f"(data for {rules.coverage.share:.0%} of the model) nothing healthier than {rules.ceiling} is "
                "accepted")
    if distance > 1 and not (answer.band_override_reason or "").strip():
        return (f"the model's status {answer.status} is {distance} bands from the rules engine's {rules.status} "
                "without a stated reason")
    return None
