"""Every write tool refuses a peer's account, bad input and (where versioned) a stale version,
through the MCP client, and leaves the data as it was."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ClientFactory
from tests.tools.helpers import call_error, call_ok


@pytest.fixture
async def anas_account(connect: ClientFactory) -> dict[str, Any]:
    async with connect("ana") as client:
        account = await call_ok(client, "create_account", name="Acme Corp", segment="smb", arr="5000",
                                renewal_date="2027-02-01")
        contact = await call_ok(client, "upsert_contact", account_id=account["id"], name="Pat", email="pat@acme.com")
        task = await call_ok(client, "create_task", account_id=account["id"], title="Kickoff")
        view = await call_ok(client, "get_account", account_id=account["id"])
    return {"account": account["id"], "contact": contact["id"], "task": task["id"],
            "renewal": view["open_renewal"]["id"]}


def _writes(ids: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A valid call of every write tool on Ana's account."""
    return {
        "update_account": {"account_id": ids["account"], "expected_version": 1, "seats": 9},
        "upsert_contact": {"account_id": ids["account"], "contact_id": ids["contact"], "title": "CFO",
                           "expected_version": 1},
        "add_health_note": {"account_id": ids["account"], "body": "All good"},
        "log_touchpoint": {"account_id": ids["account"], "kind": "meeting", "summary": "Kickoff"},
        "update_renewal": {"renewal_id": ids["renewal"], "expected_version": 1, "stage": "in_discussion"},
        "create_task": {"account_id": ids["account"], "title": "Follow up"},
        "update_task": {"task_id": ids["task"], "status": "done", "expected_version": 1},
    }


BAD_INPUT = {
    "update_account": ({"seats": -1}, "seats"),
    "upsert_contact": ({"email": "nope"}, "email must be an email address"),
    "add_health_note": ({"sentiment": "furious"}, "sentiment"),
    "log_touchpoint": ({"kind": "telegram"}, "kind"),
    "update_renewal": ({"forecast_amount": "1,2,3.456"}, "forecast_amount"),
    "create_task": ({"priority": "asap"}, "priority"),
    "update_task": ({"due_date": "tomorrow"}, "due_date"),
}
VERSIONED = ("update_account", "upsert_contact", "update_renewal", "update_task")


@pytest.mark.parametrize("tool", sorted(BAD_INPUT))
async def test_a_peer_csm_is_refused_every_write(connect: ClientFactory, anas_account: dict, tool: str) -> None:
    async with connect("ben") as client:
        message = await call_error(client, tool, **_writes(anas_account)[tool])
    assert "ben@example.com" in message or "does not own" in message


@pytest.mark.parametrize("tool", sorted(BAD_INPUT))
async def test_a_reviewer_cannot_write_accounts(connect: ClientFactory, anas_account: dict, tool: str) -> None:
    async with connect("riley") as client:
        message = await call_error(client, tool, **_writes(anas_account)[tool])
    assert "reviewer" in message or "riley@example.com" in message


@pytest.mark.parametrize("tool", sorted(BAD_INPUT))
async def test_bad_input_to_every_write_names_the_problem(connect: ClientFactory, anas_account: dict,
                                                          tool: str) -> None:
    arguments, expected = BAD_INPUT[tool]
    async with connect("ana") as client:
        message = await call_error(client, tool, **{**_writes(anas_account)[tool], **arguments})
    assert expected in message


@pytest.mark.parametrize("tool", VERSIONED)
async def test_a_stale_version_is_refused_by_every_versioned_write(connect: ClientFactory, anas_account: dict,
                                                                   tool: str) -> None:
    arguments = {**_writes(anas_account)[tool], "expected_version": 5}
    async with connect("ana") as client:
        message = await call_error(client, tool, **arguments)
    assert "you sent expected_version 5" in message


async def test_refused_writes_leave_the_account_as_it_was(connect: ClientFactory, anas_account: dict) -> None:
    async with connect("ana") as client:
        before = await call_ok(client, "get_account", account_id=anas_account["account"])
    async with connect("ben") as client:
        for tool, arguments in _writes(anas_account).items():
            await call_error(client, tool, **arguments)
    async with connect("ana") as client:
        after = await call_ok(client, "get_account", account_id=anas_account["account"])
    assert after == before
