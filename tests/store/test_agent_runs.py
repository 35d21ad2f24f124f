"""Runs that die without closing: their heartbeat runs out, the next run records them as interrupted,
they hold no shared cycle open, and only the batch a dead worker was still working on goes back to
the others. Heartbeats keep real time even when the business clock is pinned."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from store.database.models import Account, AgentRun
from store.errors import InvalidInput
from store.runs.agent_runs import (
    WORKER_KIND,
    beat,
    claim_accounts,
    close_dead_runs,
    close_run,
    finish_claims,
    join_cycle,
    open_run,
    recent_runs,
    still_held,
)
from store.runs.process_identity import this_machine
from tests.conftest import NOW, Db
from tests.factories import make_account

LEASE = timedelta(minutes=2)


async def _run(db: Db, run_id: int) -> AgentRun:
    async with db.read() as session:
        run = await session.get(AgentRun, run_id)
        assert run is not None
        return run


async def _worker_run(db: Db, *, beat_ago: timedelta, machine: str | None = None, pid: int | None = None) -> int:
    async with db.write() as session:
        run = AgentRun(kind=WORKER_KIND, started_at=NOW - timedelta(hours=1), heartbeat_at=NOW - beat_ago,
                       status="running", machine=machine, pid=pid)
        session.add(run)
        await session.flush()
        return run.id


async def _accounts(db: Db, count: int) -> list[int]:
    return [(await make_account(db, name=f"Account {n}")).id for n in range(count)]


async def test_a_run_without_a_heartbeat_for_the_lease_is_closed_as_interrupted_by_the_next(db: Db) -> None:
    dead = await _worker_run(db, beat_ago=LEASE + timedelta(seconds=1))
    alive = await _worker_run(db, beat_ago=LEASE - timedelta(seconds=1))
    pinned = NOW - timedelta(days=3)  # a demo's pinned business clock: liveness ignores it
    async with db.write() as session:
        fresh = await open_run(session, kind="assessment", now=pinned, wall_now=NOW, lease=LEASE)
    dead_run, alive_run, fresh_run = await _run(db, dead), await _run(db, alive), await _run(db, fresh)
    assert (dead_run.status, dead_run.finished_at) == ("interrupted", pinned)
    assert "no heartbeat" in (dead_run.error or "")
    assert alive_run.status == "running"
    assert (fresh_run.started_at, fresh_run.heartbeat_at) == (pinned, NOW)

    async with db.write() as session:
        assert await beat(session, run_id=alive, wall_now=NOW + timedelta(minutes=1))
        assert await close_dead_runs(session, now=pinned, wall_now=NOW + timedelta(minutes=2), lease=LEASE) == 0
        assert not await beat(session, run_id=dead, wall_now=NOW), "a run closed as dead is told so"
    assert (await _run(db, alive)).heartbeat_at == NOW + timedelta(minutes=1)


async def test_a_dead_worker_holds_no_cycle_open(db: Db) -> None:
    ids = await _accounts(db, 3)
    dead = await _worker_run(db, beat_ago=timedelta(minutes=10))
    async with db.write() as session:
        await claim_accounts(session, run_id=dead, cycle_id=dead, wall_now=NOW - timedelta(minutes=50), limit=10,
                             lease=LEASE)
    async with db.write() as session:
        run_id, cycle_id = await join_cycle(session, now=NOW, wall_now=NOW, lease=LEASE)
        claimed = await claim_accounts(session, run_id=run_id, cycle_id=cycle_id, wall_now=NOW, limit=10,
                                       lease=LEASE)
    assert cycle_id == run_id, "a new cycle, not the dead worker's"
    assert (await _run(db, dead)).status == "interrupted"
    assert claimed == ids


async def test_only_a_dead_workers_batch_in_flight_goes_back_to_the_cycle(db: Db) -> None:
    ids = await _accounts(db, 8)
    live = await _worker_run(db, beat_ago=timedelta(seconds=10))
    dead = await _worker_run(db, beat_ago=timedelta(minutes=5))
    earlier = NOW - timedelta(minutes=10)  # when the dead worker still beat
    async with db.write() as session:
        done = await claim_accounts(session, run_id=dead, cycle_id=live, wall_now=earlier, limit=2, lease=LEASE)
        await finish_claims(session, run_id=dead, wall_now=earlier)
        in_flight = await claim_accounts(session, run_id=dead, cycle_id=live, wall_now=earlier, limit=2, lease=LEASE)
        held = await claim_accounts(session, run_id=live, cycle_id=live, wall_now=earlier, limit=2, lease=LEASE)
    assert (done, in_flight, held) == (ids[0:2], ids[2:4], ids[4:6])

    async with db.write() as session:
        joined, cycle_id = await join_cycle(session, now=NOW, wall_now=NOW, lease=LEASE)
        taken = await claim_accounts(session, run_id=joined, cycle_id=cycle_id, wall_now=NOW, limit=10, lease=LEASE)
    assert cycle_id == live, "the live worker's cycle goes on"
    assert taken == ids[2:4] + ids[6:8], "the dead batch and the unclaimed rest; not the finished or held ones"
    async with db.read() as session:
        owners = dict((await session.execute(select(Account.id, Account.cycle_run_id))).all())
    assert [owners[i] for i in ids] == [dead, dead, joined, joined, live, live, joined, joined]


async def test_a_worker_stopped_by_a_signal_gives_its_batch_back_at_once(db: Db) -> None:
    ids = await _accounts(db, 2)
    async with db.write() as session:
        first, cycle_id = await join_cycle(session, now=NOW, wall_now=NOW, lease=LEASE)
        await claim_accounts(session, run_id=first, cycle_id=cycle_id, wall_now=NOW, limit=10, lease=LEASE)
        second, same_cycle = await join_cycle(session, now=NOW, wall_now=NOW, lease=LEASE)
        assert same_cycle == cycle_id
        assert await claim_accounts(session, run_id=second, cycle_id=cycle_id, wall_now=NOW, limit=10,
                                    lease=LEASE) == []
        await session.execute(update(AgentRun).where(AgentRun.id == first).values(status="interrupted"))
        assert await claim_accounts(session, run_id=second, cycle_id=cycle_id, wall_now=NOW, limit=10,
                                    lease=LEASE) == ids


async def test_a_pinned_clock_does_not_merge_two_cycles(db: Db) -> None:
    ids = await _accounts(db, 2)
    for _cycle in range(2):
        async with db.write() as session:
            run_id, cycle_id = await join_cycle(session, now=NOW, wall_now=NOW, lease=LEASE)
            assert await claim_accounts(session, run_id=run_id, cycle_id=cycle_id, wall_now=NOW, limit=10,
                                        lease=LEASE) == ids
            await finish_claims(session, run_id=run_id, wall_now=NOW)
            await session.execute(update(AgentRun).where(AgentRun.id == run_id).values(status="completed"))


async def test_a_worker_taken_for_dead_no_longer_holds_what_its_replacement_took(db: Db) -> None:
    ids = await _accounts(db, 3)
    stalled = await _worker_run(db, beat_ago=timedelta(seconds=0))
    async with db.write() as session:
        await claim_accounts(session, run_id=stalled, cycle_id=stalled, wall_now=NOW, limit=3, lease=LEASE)
        assert await still_held(session, run_id=stalled, account_ids=ids) == set(ids)
    later = NOW + LEASE + timedelta(seconds=1)  # it stalled past its lease
    async with db.write() as session:
        replacement, cycle_id = await join_cycle(session, now=later, wall_now=later, lease=LEASE)
        taken = await claim_accounts(session, run_id=replacement, cycle_id=cycle_id, wall_now=later, limit=2,
                                     lease=LEASE)
        assert not await beat(session, run_id=stalled, wall_now=later), "it learns it was taken for dead"
    async with db.write() as session:
        assert await still_held(session, run_id=stalled, account_ids=ids) == set(ids) - set(taken)
        assert await still_held(session, run_id=replacement, account_ids=ids) == set(taken)


async def test_recent_runs_show_newest_first_with_counts_and_which_running_ones_went_silent(db: Db) -> None:
    async with db.write() as session:
        finished = await open_run(session, kind="assessment", now=NOW - timedelta(hours=2),
                                  wall_now=NOW - timedelta(hours=2), lease=LEASE)
        await close_run(session, run_id=finished, status="completed", now=NOW - timedelta(hours=2),
                        counts={"accounts": 12, "assessed": 3, "failures": 0, "seconds": 1.25})
    silent = await _worker_run(db, beat_ago=LEASE + timedelta(seconds=1))
    working = await _worker_run(db, beat_ago=LEASE - timedelta(seconds=1))
    async with db.read() as session:
        lines = await recent_runs(session, wall_now=NOW, lease=LEASE)
        newest = await recent_runs(session, wall_now=NOW, lease=LEASE, limit=1)
        with pytest.raises(InvalidInput, match="between 1 and 200"):
            await recent_runs(session, wall_now=NOW, lease=LEASE, limit=0)
    assert [(line.id, line.status, line.silent) for line in lines] == [
        (working, "running", False), (silent, "running", True), (finished, "completed", False)]
    assert (lines[2].accounts, lines[2].assessed, lines[2].failures, lines[2].seconds) == (12, 3, 0, 1.25)
    assert [line.id for line in newest] == [working]


def _ended_process() -> int:
    """The id of a process of this machine that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_a_run_whose_process_on_this_machine_ended_is_interrupted_at_once(db: Db) -> None:
    """Its heartbeat is fresh, but its process is gone: the next run need not wait out the lease."""
    pid = _ended_process()
    ended = await _worker_run(db, beat_ago=timedelta(0), machine=this_machine(), pid=pid)
    alive_here = await _worker_run(db, beat_ago=timedelta(0), machine=this_machine(), pid=os.getpid())
    elsewhere = await _worker_run(db, beat_ago=timedelta(0), machine="another-host/boot", pid=pid)
    async with db.read() as session:
        lines = {line.id: line for line in await recent_runs(session, wall_now=NOW, lease=LEASE)}
    assert [(lines[run].ended, lines[run].silent) for run in (ended, alive_here, elsewhere)] == \
           [(True, False), (False, False), (False, False)]
    assert lines[ended].pid == pid

    async with db.write() as session:
        fresh = await open_run(session, kind="assessment", now=NOW, wall_now=NOW, lease=LEASE)
    assert (await _run(db, ended)).status == "interrupted"
    assert "its process ended" in ((await _run(db, ended)).error or "")
    assert [(await _run(db, run)).status for run in (alive_here, elsewhere)] == ["running", "running"]
    opened = await _run(db, fresh)
    assert (opened.machine, opened.pid) == (this_machine(), os.getpid())
    async with db.read() as session:
        assert not [line for line in await recent_runs(session, wall_now=NOW, lease=LEASE) if line.ended]
