"""The signal tables an import fills — usage, support tickets, survey responses, touchpoints — each with
its documented columns, how a row is read and checked, and the key that makes a re-import an update.

A kind reads a row into a record: the table's columns (without `account_id`) and the row's key within its
account. Checks that need other rows (the account, the contact, duplicates) are the runner's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import Table

from store.database.models import SupportTicket, SurveyResponse, Touchpoint, UsageSnapshot
from store.imports.fields import RowFields
from store.vocabulary import SurveyKind, TicketPriority, TouchpointKind

SCALES = {"nps": (0, 10), "csat": (1, 5)}
PRIORITIES = get_args(TicketPriority)
SURVEY_KINDS = get_args(SurveyKind)
TOUCHPOINT_KINDS = get_args(TouchpointKind)
MAX_SUBJECT = 300
MAX_TEXT = 20_000


@dataclass(slots=True)  # not frozen: made once a row, and a frozen dataclass costs three times as much
class Record:
    """One row, read: the stored columns, the key within its account, and who or what it refers to."""

    columns: dict[str, Any]
    key: Any
    contact_email: str | None = None
    author_email: str | None = None
    # A day's usage, to be rolled up into its month with the month's other days.
    day: datetime | None = None


@dataclass(frozen=True)
class SignalKind:
    name: str
    table: Table
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # The stored column that holds the key (with account_id), and the columns an update may change.
    key_column: str
    compared: tuple[str, ...]
    read: Callable[[RowFields, datetime], Record | None]
    help: str

    @property
    def columns(self) -> tuple[str, ...]:
        return ("account", *self.required, *self.optional)


def _usage(fields: RowFields, now: datetime) -> Record | None:
    raw_period = fields.values.get("period", "").strip()
    month = fields.month("period", now=now, required=True)
    active = fields.integer("active_users", required=True)
    usage = fields.integer("usage_count", required=True)
    features = fields.count_of_list("features")
    if features is None:
        features = fields.integer("features_adopted", maximum=10_000)
    if month is None or active is None or usage is None or fields.problems:
        return None
    columns = {"period_start": month, "active_users": active, "usage_count": usage, "features_adopted": features or 0}
    is_day = len(raw_period) > 7
    return Record(columns=columns, key=month, day=datetime.fromisoformat(raw_period[:10]) if is_day else None)


def _ticket(fields: RowFields, now: datetime) -> Record | None:
    ticket_id = fields.text("ticket_id", max_length=200, required=True)
    subject = fields.text("subject", max_length=MAX_SUBJECT) or "(no subject)"
    opened = fields.moment("opened_at", now=now, required=True)
    due = fields.moment("due_at", now=now, future_ok=True)
    closed = fields.moment("closed_at", now=now)
    priority = fields.choice("priority", PRIORITIES) or "normal"
    escalated = fields.boolean("escalated")
    csat = fields.integer("csat", minimum=1, maximum=5)
    if opened and closed and closed < opened:
        fields.problems.append(f"closed_at ({closed.isoformat()}) is before opened_at ({opened.isoformat()})")
    if ticket_id is None or opened is None or fields.problems:
        return None
    columns = {"external_id": ticket_id, "subject": subject, "opened_at": opened, "due_at": due, "closed_at": closed,
               "priority": priority, "escalated": bool(escalated), "csat": csat}
    return Record(columns=columns, key=ticket_id)


def _survey(fields: RowFields, now: datetime) -> Record | None:
    kind = fields.choice("kind", SURVEY_KINDS, required=True)
    score = fields.integer("score", minimum=0, maximum=10, required=True)
    responded = fields.moment("responded_at", now=now, required=True)
    comment = fields.text("comment", max_length=MAX_TEXT)
    email = fields.email("contact_email")
    response_id = fields.text("response_id", max_length=200)
    if kind is not None and score is not None:
        low, high = SCALES[kind]
        if not low <= score <= high:
            fields.problems.append(f"score for {kind} must be from {low} to {high}; got {score}")
    if kind is None or score is None or responded is None or fields.problems:
        return None
    # Without the tool's own id, the response is known by what it is: the same kind, time and person.
    key = response_id or f"{kind}:{responded.isoformat()}:{email or ''}"
    columns = {"external_id": key, "kind": kind, "score": score, "comment": comment, "responded_at": responded}
    return Record(columns=columns, key=key, contact_email=email)


def _touchpoint(fields: RowFields, now: datetime) -> Record | None:
    kind = fields.choice("kind", TOUCHPOINT_KINDS, required=True)
    occurred = fields.moment("occurred_at", now=now, required=True)
    summary = fields.text("summary", max_length=MAX_TEXT, required=True)
    external = fields.text("external_id", max_length=200)
    contact = fields.email("contact_email")
    author = fields.email("author_email")
    if kind is None or occurred is None or summary is None or fields.problems:
        return None
    digest = hashlib.sha256(summary.encode()).hexdigest()[:16]
    key = external or f"{kind}:{occurred.isoformat()}:{digest}"
    columns = {"external_id": key, "kind": kind, "occurred_at": occurred, "summary": summary}
    return Record(columns=columns, key=key, contact_email=contact, author_email=author)


KINDS: dict[str, SignalKind] = {kind.name: kind for kind in (
    SignalKind("usage", UsageSnapshot.__table__, required=("period", "active_users", "usage_count"),
               optional=("features_adopted", "features"), key_column="period_start",
               compared=("active_users", "usage_count", "features_adopted"), read=_usage,
               help="a month (2026-11) or a day (rolled up to its month: most active users, summed usage, most "
                    "features); features_adopted, or `features` as a JSON list or a CSV cell of names split by ;"),
    SignalKind("tickets", SupportTicket.__table__, required=("ticket_id", "opened_at"),
               optional=("subject", "due_at", "closed_at", "priority", "escalated", "csat"), key_column="external_id",
               compared=("subject", "opened_at", "due_at", "closed_at", "priority", "escalated", "csat"), read=_ticket,
               help="keyed by ticket_id: a re-import with closed_at set closes the ticket"),
    SignalKind("surveys", SurveyResponse.__table__, required=("kind", "score", "responded_at"),
               optional=("response_id", "comment", "contact_email"), key_column="external_id",
               compared=("kind", "score", "comment", "responded_at", "contact_id"), read=_survey,
               help="kind nps (0-10) or csat (1-5); keyed by response_id, else by kind, time and contact"),
    SignalKind("touchpoints", Touchpoint.__table__, required=("kind", "occurred_at", "summary"),
               optional=("external_id", "contact_email", "author_email"), key_column="external_id",
               compared=("kind", "occurred_at", "summary", "contact_id", "author_id"), read=_touchpoint,
               help="kind meeting, call, email_out, email_in or qbr; keyed by external_id, else by kind, time and "
                    "summary"),
)}
