"""Checking Segment-format requests: what is taken, and every problem named with where it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store.events.messages import MAX_BATCH_EVENTS, RequestRefused, check_request

RECEIVED = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _refusal(payload: object, endpoint: str = "batch") -> RequestRefused:
    with pytest.raises(RequestRefused) as refused:
        check_request(payload, endpoint=endpoint, received_at=RECEIVED)
    return refused.value


def test_a_batch_of_each_type_is_read() -> None:
    batch = {"batch": [
        {"type": "identify", "userId": "u1", "traits": {"email": " Ana@Acme.COM "}, "messageId": "m1"},
        {"type": "group", "userId": "u1", "groupId": "acct-9", "messageId": "m2"},
        {"type": "track", "userId": "u1", "event": "Report Exported", "messageId": "m3"},
        {"type": "page", "anonymousId": "a-7", "name": "Pricing", "messageId": "m4"},
    ]}
    messages = check_request(batch, endpoint="batch", received_at=RECEIVED)
    assert [(m.type, m.user_key) for m in messages] == [("identify", "u1"), ("group", "u1"), ("track", "u1"),
                                                        ("page", "anon:a-7")]
    assert messages[0].email == "ana@acme.com"
    assert messages[1].group_id == "acct-9"
    assert messages[2].feature == "Report Exported" and messages[3].feature is None
    assert all(m.occurred_at == RECEIVED for m in messages), "no timestamp: the event happened when received"


def test_the_senders_clock_is_corrected_by_sent_at() -> None:
    # The sender's clock runs an hour fast: the event happened 30 s before it was sent.
    event = {"type": "track", "userId": "u1", "event": "Login", "timestamp": "2026-12-06T13:00:00Z",
             "sentAt": "2026-12-06T13:00:30Z"}
    (message,) = check_request(event, endpoint="track", received_at=RECEIVED)
    assert message.occurred_at == RECEIVED - timedelta(seconds=30)
    batch = {"batch": [{**event, "sentAt": None}], "sentAt": "2026-12-06T13:00:30+00:00"}
    (from_batch,) = check_request(batch, endpoint="batch", received_at=RECEIVED)
    assert from_batch.occurred_at == message.occurred_at


def test_the_feature_can_come_from_a_property() -> None:
    event = {"type": "track", "userId": "u1", "event": "Feature Used", "properties": {"feature": "dashboards"}}
    (message,) = check_request(event, endpoint="track", received_at=RECEIVED, feature_property="feature")
    assert message.feature == "dashboards"
    (plain,) = check_request({**event, "properties": {}}, endpoint="track", received_at=RECEIVED,
                             feature_property="feature")
    assert plain.feature == "Feature Used", "without the property, the event name is the feature"


def test_an_event_without_a_message_id_gets_one_from_its_content() -> None:
    event = {"type": "track", "userId": "u1", "event": "Login", "timestamp": "2026-12-06T11:00:00Z"}
    (first,) = check_request(event, endpoint="track", received_at=RECEIVED)
    (again,) = check_request(dict(event), endpoint="track", received_at=RECEIVED + timedelta(minutes=5))
    (other,) = check_request({**event, "event": "Logout"}, endpoint="track", received_at=RECEIVED)
    assert first.message_id == again.message_id != other.message_id


def test_every_problem_of_every_event_is_named_with_its_place() -> None:
    refused = _refusal({"batch": [
        {"type": "track", "userId": "u1", "event": "ok"},
        {"type": "track", "event": "Login"},
        {"type": "track", "userId": 42, "event": "Login"},
        {"type": "track", "userId": "u1"},
        {"type": "group", "userId": "u1"},
        {"type": "purchase", "userId": "u1"},
        {"type": "track", "userId": "u1", "event": "x", "timestamp": "2027-06-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "x", "timestamp": "2016-06-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "x", "timestamp": "yesterday"},
        {"type": "track", "userId": "u1", "event": "x", "properties": ["not", "an", "object"]},
        "not an object",
    ]})
    assert refused.status == 400
    text = str(refused)
    for expected in ("batch[1]: an event needs a userId or an anonymousId",
                     "batch[2]: userId must be a non-empty string; got 42",
                     "batch[3]: event must be a non-empty string",
                     "batch[4]: a group call needs a groupId",
                     "batch[5]: type 'purchase' is not one of",
                     "batch[6]: the event's time 2027-06-01 00:00 UTC is in the future",
                     "batch[7]: the event's time 2016-06-01 is more than two years ago",
                     "batch[8]: timestamp must be an ISO 8601 time",
                     "batch[9]: properties must be a JSON object",
                     "batch[10]: an event is a JSON object"):
        assert expected in text
    assert "batch[0]" not in text


def test_sizes_and_shapes_a_request_may_not_have() -> None:
    big = {"type": "track", "userId": "u1", "event": "x", "properties": {"blob": "x" * 33_000}}
    assert "batch[0]: an event is at most 32 KB" in str(_refusal({"batch": [big]}))
    many = {"batch": [{"type": "track", "userId": "u1", "event": "x"}] * (MAX_BATCH_EVENTS + 1)}
    assert f"at most {MAX_BATCH_EVENTS:,} events" in str(_refusal(many))
    assert "a batch needs" in str(_refusal({"events": []}))
    assert "JSON object" in str(_refusal([1, 2]))
    wrong = _refusal({"type": "identify", "userId": "u1"}, endpoint="track")
    assert '/v1/track takes "track" events' in str(wrong)


def test_a_long_list_of_problems_says_how_many_were_left_out() -> None:
    refused = _refusal({"batch": [{"type": "track", "event": "x"}] * 50})
    assert len(refused.problems) == 50
    assert str(refused).endswith("and 30 more problem(s)")


def test_a_webhook_posts_one_event_of_any_type() -> None:
    (message,) = check_request({"type": "group", "userId": "u1", "groupId": "acct-9"}, endpoint="event",
                               received_at=RECEIVED)
    assert (message.type, message.group_id) == ("group", "acct-9")
    assert "type None is not one of" in str(_refusal({"userId": "u1"}, endpoint="event"))
