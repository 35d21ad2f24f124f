"""What a draft was written from, and its text placed against it: where each link, address, figure and
commercial term in it came from, or that nothing accounts for it.

The touchpoint agent records the grounding when it drafts (the facts it was given by label, the
template, the CSM's instruction, the sender's domains); the review queue re-reads the draft's current
text against it, so an edit that adds a link is shown as such too.
"""

from __future__ import annotations

from collections.abc import Mapping

from store.text_checks import Review, review

NO_GROUNDING = "not recorded (the draft predates grounding records)"


def review_draft_text(subject: str, body: str, grounding: Mapping[str, object] | None) -> Review:
    """The draft's subject and body placed against what it was written from."""
    grounding = grounding or {}
    sources = grounding.get("sources") or {}
    domains = grounding.get("sender_domains") or []
    asked_for = grounding.get("asked_for") or ""
    assert isinstance(sources, dict) and isinstance(domains, list) and isinstance(asked_for, str)
    return review({"subject": subject, "body": body}, sources={str(k): str(v) for k, v in sources.items()},
                  allowed_domains=[str(d) for d in domains], asked_for=asked_for)


def risk_summary(checked: Review, *, recorded: bool) -> str:
    """One line for the reviewer: what in the draft nothing accounts for."""
    problems = [h for h in checked.highlights if h.problem is not None]
    if not recorded:
        return f"What this draft was written from is {NO_GROUNDING}; check every highlighted item yourself."
    if not problems:
        terms = [h for h in checked.highlights if h.kind == "commitment"]
        if terms:
            return "Every link, address and figure is in the facts; it offers commercial terms the CSM asked for."
        return "Every link, address, figure and term in it is in the account's facts."
    kinds = sorted({h.kind.replace("_", " ") for h in problems})
    return f"{len(problems)} item(s) not found in the account's facts ({', '.join(kinds)}): check before approving."
