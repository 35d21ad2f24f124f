from datetime import timedelta

import pytest

from store.crm.notifications import list_notifications, notify
from store.crm.tasks import create_task, list_tasks, update_task
from store.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.conftest import NOW, TODAY, Db
from tests.factories import make_account


async def test_create_reassign_and_complete_a_task(db: Db) -> None:
    account = await make_account(db)
    async with db.write() as session:
        task = await create_task(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                 title="Book the QBR", due_date=TODAY + timedelta(days=3), priority="high")
    async with db.write() as session:
        moved = await update_task(session, principal=db.principals["ana"], now=NOW, task_id=task.id,
                                  changes={"assignee": "ben@example.com"}, expected_version=1)
    # Ben is now the assignee, so he may complete it even though he does not own the account.
    async with db.write() as session:
        done = await update_task(session, principal=db.principals["ben"], now=NOW, task_id=task.id,
                                 changes={"status": "done"})
    assert (moved.assignee, done.status, done.version) == ("ben@example.com", "done", 3)
    async with db.read() as session:
        open_for_ben = await list_tasks(session, principal=db.principals["ben"], today=TODAY)
        done_for_ben = await list_tasks(session, principal=db.principals["ben"], today=TODAY, statuses=("done",))
    assert open_for_ben.total == 0 and [t.id for t in done_for_ben.items] == [task.id]


async def test_task_permissions_and_input_rules(db: Db) -> None:
    account = await make_account(db)
    async with db.write() as session:
        task = await create_task(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                 title="Follow up")
        with pytest.raises(Forbidden):
            await create_task(session, principal=db.principals["ben"], now=NOW, account_id=account.id, title="X")
        with pytest.raises(Forbidden, match="neither assigned to ben@example.com"):
            await update_task(session, principal=db.principals["ben"], now=NOW, task_id=task.id,
                              changes={"status": "done"})
        with pytest.raises(InvalidInput, match="cannot be assigned work"):
            await update_task(session, principal=db.principals["ana"], now=NOW, task_id=task.id,
                              changes={"assignee": "agent@example.com"})
        with pytest.raises(NotFound, match="no user with email nobody@example.com"):
            await update_task(session, principal=db.principals["ana"], now=NOW, task_id=task.id,
                              changes={"assignee": "nobody@example.com"})
        with pytest.raises(InvalidInput, match="status must be one of"):
            await update_task(session, principal=db.principals["ana"], now=NOW, task_id=task.id,
                              changes={"status": "finished"})
        with pytest.raises(NotFound, match="no task with id 404"):
            await update_task(session, principal=db.principals["ana"], now=NOW, task_id=404, changes={"title": "x"})
    with pytest.raises(Conflict):
        async with db.write() as session:
            await update_task(session, principal=db.principals["ana"], now=NOW, task_id=task.id,
                              changes={"title": "Renamed"}, expected_version=7)


async def test_a_dedupe_key_returns_the_existing_task_instead_of_a_second_one(db: Db) -> None:
    account = await make_account(db)
    async with db.write() as session:
        first = await create_task(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                  title="Call the new sponsor", source="playbook", dedupe_key="acct:1:sponsor")
        again = await create_task(session, principal=db.principals["ana"], now=NOW, account_id=account.id,
                                  title="Call the new sponsor", source="playbook", dedupe_key="acct:1:sponsor")
    async with db.read() as session:
        page = await list_tasks(session, principal=db.principals["ana"], today=TODAY)
    assert first.id == again.id and page.total == 1


async def test_tasks_are_listed_soonest_first_with_overdue_flags(db: Db) -> None:
    account = await make_account(db)
    async with db.write() as session:
        for title, due, priority in (("later", TODAY + timedelta(days=9), "normal"), ("undated", None, "urgent"),
                                     ("overdue", TODAY - timedelta(days=2), "low"),
                                     ("today-high", TODAY, "high"), ("today-urgent", TODAY, "urgent")):
            await create_task(session, principal=db.principals["ana"], now=NOW, account_id=account.id, title=title,
                              due_date=due, priority=priority)
    async with db.read() as session:
        page = await list_tasks(session, principal=db.principals["ana"], today=TODAY)
        overdue = await list_tasks(session, principal=db.principals["ana"], today=TODAY, overdue_only=True)
        soon = await list_tasks(session, principal=db.principals["ana"], today=TODAY, due_within_days=0)
    assert [t.title for t in page.items] == ["overdue", "today-urgent", "today-high", "later", "undated"]
    assert [t.title for t in overdue.items] == ["overdue"] and overdue.items[0].overdue
    assert [t.title for t in soon.items] == ["overdue", "today-urgent", "today-high"]


async def test_notifications_are_private_deduplicated_and_can_be_marked_read(db: Db) -> None:
    account = await make_account(db)
    async with db.write() as session:
        assert await notify(session, user_id=db.principals["ana"].user_id, account_id=account.id, kind="early_warning",
                            message="Acme dropped a band", now=NOW, dedupe_key="ew:1")
        assert not await notify(session, user_id=db.principals["ana"].user_id, account_id=account.id,
                                kind="early_warning", message="Acme dropped a band", now=NOW, dedupe_key="ew:1")
    async with db.write() as session:
        bens = await list_notifications(session, principal=db.principals["ben"], now=NOW)
        anas = await list_notifications(session, principal=db.principals["ana"], now=NOW, mark_read=True)
    async with db.read() as session:
        after = await list_notifications(session, principal=db.principals["ana"], now=NOW)
        everything = await list_notifications(session, principal=db.principals["ana"], now=NOW, unread_only=False)
    assert bens.total == 0
    assert [n.message for n in anas.items] == ["Acme dropped a band"]
    assert after.total == 0 and everything.items[0].read
