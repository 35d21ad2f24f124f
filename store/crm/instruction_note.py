"""A CSM's instruction left in a template draft as a marked paragraph, for the reviewer to write in.

With no model (or when the model's draft was not used) nothing can turn "mention the new reporting
feature" into a sentence. The template then carries the instruction as a paragraph marked for the
reviewer, and approval is refused while that paragraph is still in the body, so it never goes out as is.
"""

from __future__ import annotations

NOTE_OPEN = "[CSM's instruction, to write in before approving: "
NOTE_CLOSE = "]"

WRITTEN_BY_MODEL = "written into the message by the model"
MARKED_NO_MODEL = "left in the body as a marked paragraph for the reviewer: no model is configured to write it in"
MARKED_MODEL_REFUSED = ("left in the body as a marked paragraph for the reviewer: the model's draft was not used "
                        "(see fallback_reason)")


def with_note(body: str, instruction: str) -> str:
    """The body with the instruction as its own paragraph before the sign-off (the last paragraph)."""
    paragraphs = body.rstrip("\n").split("\n\n")
    note = f"{NOTE_OPEN}{instruction}{NOTE_CLOSE}"
    if len(paragraphs) < 2:
        return f"{body.rstrip()}\n\n{note}\n"
    return "\n\n".join([*paragraphs[:-1], note, paragraphs[-1]]) + "\n"


def holds_note(body: str) -> bool:
    return NOTE_OPEN in body


def note_refusal(draft_id: int) -> str:
    return (f"draft {draft_id} still holds the CSM's instruction as a marked paragraph ({NOTE_OPEN.strip()} …]); "
            "write it into the message or delete it, with edit_and_approve and the new body")
