"""Segment's message format, checked: what a /v1 request's events say, or every problem with them.

Follows the Segment HTTP Tracking API: `type` (identify, track, page, screen, group, alias), `userId`
and/or `anonymousId`, `messageId`, `timestamp` corrected for the sender's clock by `sentAt` (the
event happened `sentAt - timestamp` before the request was received), 32 KB per event and 500 KB per
request. A problem anywhere refuses the whole request, so a batch is stored whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
# Far more than 500 KB holds of real events; a batch of empty events stops here.
MAX_BATCH_EVENTS = 2_500
MAX_ID_LENGTH = 200
# Events further ahead than this (after the clock correction) or older than MAX_AGE are refused: a
# clock that far off is a bug in the sender, and usage that old no longer speaks to health.
MAX_AHEAD = timedelta(days=1)
MAX_AGE = timedelta(days=730)
TYPES = ("identify", "track", "page", "screen", "group", "alias")
# Events that count as product activity, rolled up into the account's usage.
ACTIVITY = ("track", "page", "screen")
# Problems listed in a refusal; a request with more says how many were left out.
LISTED_PROBLEMS = 20


class RequestRefused(Exception):
    """The request is refused whole: `status` is the HTTP status Segment's API would answer with."""

    def __init__(self, status: int, problems: Sequence[str]) -> None:
        self.status = status
        self.problems = list(problems)
        shown = self.problems[:LISTED_PROBLEMS]
        more = len(self.problems) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more problem(s)" if more else ""))


@dataclass(frozen=True, slots=True)
class Message:
    """One checked event."""

    message_id: str
    type: str
    user_key: str
    name: str | None
    feature: str | None
    group_id: str | None
    email: str | None
    occurred_at: datetime
    body: str


def read_body(raw: bytes) -> Any:
    """The request's JSON, or a refusal saying why it is not JSON."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRefused(400, [f"the body is not JSON: {exc}"]) from None


def check_request(payload: Any, *, endpoint: str, received_at: datetime,
                  feature_property: str | None = None) -> list[Message]:
    """The events of a request to /v1/<endpoint> (batch; one event of any type, as webhook destinations
    post them; or one event of that type), checked; RequestRefused lists every problem with where it is."""
    if not isinstance(payload, dict):
        raise RequestRefused(400, ["the body must be a JSON object"])
    if endpoint == "batch":
        events = payload.get("batch")
        if not isinstance(events, list):
            raise RequestRefused(400, ['a batch needs "batch": a list of events'])
        if len(events) > MAX_BATCH_EVENTS:
            raise RequestRefused(400, [f"a batch holds at most {MAX_BATCH_EVENTS:,} events; got {len(events):,}"])
        batch_sent_at = payload.get("sentAt")
        places = [f"batch[{index}]" for index in range(len(events))]
    else:
        events, batch_sent_at, places = [payload], None, ["the event"]
    messages: list[Message] = []
    problems: list[str] = []
    for place, event in zip(places, events, strict=True):
        if endpoint not in ("batch", "event") and isinstance(event, dict):
            event = {**event, "type": event.get("type", endpoint)}
            if event["type"] != endpoint:
                problems.append(f'{place}: /v1/{endpoint} takes "{endpoint}" events; got type "{event["type"]}"')
                continue
        message, found = _check_event(event, place=place, batch_sent_at=batch_sent_at, received_at=received_at,
                                      feature_property=feature_property)
        problems.extend(found)
        if message is not None:
            messages.append(message)
    if problems:
        raise RequestRefused(400, problems)
    return messages


def _check_event(event: Any, *, place: str, batch_sent_at: Any, received_at: datetime,
                 feature_property: str | None) -> tuple[Message | None, list[str]]:
    if not isinstance(event, dict):
        return None, [f"{place}: an event is a JSON object"]
    problems: list[str] = []
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str)
    size = len(body.encode())
    if size > MAX_EVENT_BYTES:
        problems.append(f"{place}: an event is at most 32 KB; this one is {size / 1024:.1f} KB")
    kind = event.get("type")
    if kind not in TYPES:
        problems.append(f"{place}: type {kind!r} is not one of {', '.join(TYPES)}")
    found = len(problems)
    user_id = _identifier(event, "userId", place, problems)
    anonymous_id = _identifier(event, "anonymousId", place, problems)
    if user_id is None and anonymous_id is None and len(problems) == found:
        problems.append(f"{place}: an event needs a userId or an anonymousId")
    message_id = _identifier(event, "messageId", place, problems)
    name = None
    if kind == "track":
        name = _text(event, "event", place, problems, required=True)
    elif kind in ("page", "screen"):
        name = _text(event, "name", place, problems, required=False)
    found = len(problems)
    group_id = _identifier(event, "groupId", place, problems)
    if kind == "group" and group_id is None and len(problems) == found:
        problems.append(f"{place}: a group call needs a groupId")
    for container in ("properties", "traits", "context"):
        if container in event and not isinstance(event[container], dict):
            problems.append(f"{place}: {container} must be a JSON object")
    occurred_at = _occurred_at(event, place=place, batch_sent_at=batch_sent_at, received_at=received_at,
                               problems=problems)
    if problems:
        return None, problems
    traits = event.get("traits") or (event.get("context") or {}).get("traits") or {}
    email = traits.get("email") if isinstance(traits, dict) and isinstance(traits.get("email"), str) else None
    feature = None
    if kind == "track":
        chosen = (event.get("properties") or {}).get(feature_property) if feature_property else None
        feature = (str(chosen) if chosen not in (None, "") else name)[:MAX_ID_LENGTH]
    user_key = user_id if user_id is not None else f"anon:{anonymous_id}"
    # Segment's libraries always set a messageId; an event without one gets one from its content, so
    # the same event sent again is still stored once.
    message_id = message_id or "sha256:" + hashlib.sha256(body.encode()).hexdigest()[:40]
    assert occurred_at is not None and kind is not None
    return Message(message_id=message_id, type=kind, user_key=user_key, name=name, feature=feature,
                   group_id=group_id, email=email.strip().lower() if email else None, occurred_at=occurred_at,
                   body=body), []


def _identifier(event: dict[str, Any], key: str, place: str, problems: list[str]) -> str | None:
    value = event.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{place}: {key} must be a non-empty string; got {json.dumps(value)[:60]}")
        return None
    if len(value) > MAX_ID_LENGTH:
        problems.append(f"{place}: {key} is at most {MAX_ID_LENGTH} characters; got {len(value)}")
        return None
    return value


def _text(event: dict[str, Any], key: str, place: str, problems: list[str], *, required: bool) -> str | None:
    value = event.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{place}: {key} must be a non-empty string" + ("" if value is None else
                                                                         f"; got {json.dumps(value)[:60]}"))
        return None
    return value.strip()[:MAX_ID_LENGTH]


def _occurred_at(event: dict[str, Any], *, place: str, batch_sent_at: Any, received_at: datetime,
                 problems: list[str]) -> datetime | None:
    stamps: dict[str, datetime] = {}
    for key, value in (("timestamp", event.get("timestamp") or event.get("originalTimestamp")),
                       ("sentAt", event.get("sentAt") or batch_sent_at)):
        if value is None:
            continue
        moment = parse_moment(value)
        if moment is None:
            problems.append(f"{place}: {key} must be an ISO 8601 time such as 2026-12-01T09:30:00Z; "
                            f"got {json.dumps(value)[:60]}")
        else:
            stamps[key] = moment
    if "timestamp" not in stamps:
        return received_at if not problems else None
    occurred = stamps["timestamp"]
    if "sentAt" in stamps:
        # The sender's clock may be off; the time between the event and its sending is not.
        occurred = received_at - (stamps["sentAt"] - occurred)
    if occurred > received_at + MAX_AHEAD:
        problems.append(f"{place}: the event's time {occurred:%Y-%m-%d %H:%M} UTC is in the future")
    elif occurred < received_at - MAX_AGE:
        problems.append(f"{place}: the event's time {occurred:%Y-%m-%d} is more than two years ago; "
                        "older usage is not taken")
    return occurred


def parse_moment(value: Any) -> datetime | None:
    """An ISO 8601 time as UTC (one without an offset is read as UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
